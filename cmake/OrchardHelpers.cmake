# One-line declarations for libraries, binaries and tests (in the style of abseil's helpers).

set(ORCHARD_WARNINGS -Wall -Wextra -Wno-unused-parameter)

# orchard_library(NAME SRCS ... DEPS ...)
function(orchard_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${ORCHARD_WARNINGS}>)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# orchard_binary(NAME SRCS ... DEPS ...): lands in build/bin/.
function(orchard_binary name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${ORCHARD_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# A test binary in build/tests/ with the project's warnings.
function(orchard_test_executable name)
  add_executable(${name} ${ARGN})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_compile_options(${name} PRIVATE ${ORCHARD_WARNINGS})
endfunction()

# orchard_test(NAME SRCS ... DEPS ... LABEL unit|integration|gpu|... [TIMEOUT s])
# Every GoogleTest case becomes its own ctest test carrying LABEL.
function(orchard_test name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SRCS;DEPS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  orchard_test_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  gtest_discover_tests(${name}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()

# orchard_mpi_test(NAME SRCS ... DEPS ... RANKS 2 3 [TIMEOUT s])
# One GoogleTest binary run under mpirun once per rank count (ctest label `mpi`); every rank runs
# every case, and the test fails when any rank fails. Ranks may outnumber cores (--oversubscribe).
function(orchard_mpi_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SRCS;DEPS;RANKS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  orchard_test_executable(${name} ${ARG_SRCS} ${PROJECT_SOURCE_DIR}/tests/util/mpi_test_main.cc)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} orchard_comm GTest::gtest)
  foreach(ranks IN LISTS ARG_RANKS)
    add_test(NAME ${name}.ranks${ranks}
      COMMAND ${MPIEXEC_EXECUTABLE} --oversubscribe -np ${ranks} $<TARGET_FILE:${name}>
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(${name}.ranks${ranks} PROPERTIES LABELS mpi TIMEOUT ${ARG_TIMEOUT}
      ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
  endforeach()
endfunction()

# orchard_fuzzer(NAME SRCS ... DEPS imported-target ...)
# A libFuzzer binary build/bin/NAME, compiled by ${ORCHARD_CLANGXX} with AddressSanitizer and
# UndefinedBehaviorSanitizer (any UB report aborts, so libFuzzer keeps the input). The main compiler
# cannot build it, so each source is a custom command (header dependencies from clang's depfiles) and
# the project's own sources are listed in SRCS; DEPS are imported targets whose include directories
# and library file are used. Part of `all`.
function(orchard_fuzzer name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  set(flags -std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
      -fno-sanitize-recover=undefined)
  set(includes -I${PROJECT_SOURCE_DIR})
  set(libraries)
  foreach(dep IN LISTS ARG_DEPS)
    get_target_property(dirs ${dep} INTERFACE_INCLUDE_DIRECTORIES)
    foreach(dir IN LISTS dirs)
      # -I of a system directory would reorder it before the C++ library's wrappers of C headers.
      if(dir AND NOT dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
        list(APPEND includes -I${dir})
      endif()
    endforeach()
    get_target_property(type ${dep} TYPE)
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      list(APPEND libraries $<TARGET_LINKER_FILE:${dep}>)
    endif()
  endforeach()
  set(launcher)
  if(CCACHE_PROGRAM)
    set(launcher ${CCACHE_PROGRAM})
  endif()

  set(object_dir ${CMAKE_BINARY_DIR}/fuzz/${name}.dir)
  set(objects)
  foreach(src IN LISTS ARG_SRCS)
    get_filename_component(src ${src} ABSOLUTE)
    file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${src})
    set(object ${object_dir}/${rel}.o)
    get_filename_component(dir ${object} DIRECTORY)
    file(MAKE_DIRECTORY ${dir})
    add_custom_command(OUTPUT ${object}
      COMMAND ${launcher} ${ORCHARD_CLANGXX} ${flags} ${includes} -MD -MF ${object}.d -c ${src} -o ${object}
      DEPENDS ${src}
      DEPFILE ${object}.d
      COMMENT "Building fuzz object ${rel}"
      VERBATIM)
    list(APPEND objects ${object})
  endforeach()
  set(binary ${CMAKE_BINARY_DIR}/bin/${name})
  add_custom_command(OUTPUT ${binary}
    COMMAND ${ORCHARD_CLANGXX} ${flags} ${objects} ${libraries} -o ${binary}
    DEPENDS ${objects} ${libraries}
    COMMENT "Linking fuzzer ${name}"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${binary})
endfunction()
