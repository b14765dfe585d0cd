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
