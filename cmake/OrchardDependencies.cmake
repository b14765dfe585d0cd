# Finds every dependency and prints its version. scripts/setup installs them; LibTorch is found in the
# setup's virtual environment without any flag (override with -DORCHARD_PYTHON=/path/to/python).

# The pinned torch version lives in one place: scripts/setup.
file(STRINGS ${PROJECT_SOURCE_DIR}/scripts/setup torch_pin REGEX "^TORCH_VERSION=")
string(REGEX REPLACE "^TORCH_VERSION=" "" ORCHARD_TORCH_VERSION "${torch_pin}")

if(NOT ORCHARD_PYTHON)
  if(DEFINED ENV{ORCHARD_CACHE})
    set(cache_dir $ENV{ORCHARD_CACHE})
  else()
    set(cache_dir $ENV{HOME}/.cache/orchard)
  endif()
  set(venv_python ${cache_dir}/venv-torch-${ORCHARD_TORCH_VERSION}/bin/python)
  if(EXISTS ${venv_python})
    set(ORCHARD_PYTHON ${venv_python})
  else()
    find_program(ORCHARD_PYTHON NAMES python3 REQUIRED)
  endif()
endif()
set(ORCHARD_PYTHON ${ORCHARD_PYTHON} CACHE FILEPATH "Python with torch: LibTorch's CMake package and test helpers")

execute_process(
  COMMAND ${ORCHARD_PYTHON} -c "import torch, torch.utils; print(torch.utils.cmake_prefix_path); print(torch.__version__)"
  OUTPUT_VARIABLE torch_query OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE torch_query_failed)
if(torch_query_failed)
  message(FATAL_ERROR "LibTorch not found: ${ORCHARD_PYTHON} cannot import torch. Run scripts/setup "
                      "(installs torch ${ORCHARD_TORCH_VERSION} into ~/.cache/orchard), or pass "
                      "-DORCHARD_PYTHON=/path/to/python-with-torch.")
endif()
string(REPLACE "\n" ";" torch_query "${torch_query}")
list(GET torch_query 0 torch_prefix)
list(GET torch_query 1 torch_version)
list(APPEND CMAKE_PREFIX_PATH ${torch_prefix})

# CUDA: kernels are built whenever nvcc exists, for Ampere and Hopper.
include(CheckLanguage)
check_language(CUDA)
if(CMAKE_CUDA_COMPILER)
  # Set per target (LibTorch's package resets CMAKE_CUDA_ARCHITECTURES): Ampere and Hopper.
  set(ORCHARD_CUDA_ARCHITECTURES 80 90 CACHE STRING "CUDA architectures of Orchard's kernels")
  # One CUDA runtime per process, the shared one that LibTorch loads too: CMake's default would add
  # the static runtime behind the shared one on every link line (two runtimes with separate state).
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 knows no CUDA 20 dialect for nvcc 13
  # Skips LibTorch's try_run GPU detection, which cannot work on a machine without a GPU.
  set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
  find_package(CUDAToolkit REQUIRED)
  set(ORCHARD_HAVE_CUDA ON)
  set(CUDA_TOOLKIT_ROOT_DIR ${CUDAToolkit_LIBRARY_ROOT})  # LibTorch's CMake package reads it
  # NCCL: the torch wheel's own first (site-packages/nvidia/nccl, a libnccl.so.2 without the
  # unversioned link), so that the trainer and LibTorch load one and the same library; else the
  # toolkit's (/usr/local/cuda keeps it in lib/). Multi-rank GPU trials need it: without it the build
  # stops, unless -DORCHARD_WITH_NCCL=OFF says to build without.
  option(ORCHARD_WITH_NCCL "Build the NCCL communicator (multi-rank GPU trials)" ON)
  get_filename_component(torch_site_packages ${torch_prefix}/../../.. ABSOLUTE)
  set(wheel_nccl ${torch_site_packages}/nvidia/nccl)
  if(ORCHARD_WITH_NCCL)
    if(NOT NCCL_LIBRARY AND EXISTS ${wheel_nccl}/include/nccl.h AND EXISTS ${wheel_nccl}/lib/libnccl.so.2)
      set(NCCL_INCLUDE_DIR ${wheel_nccl}/include CACHE PATH "nccl.h's folder")
      set(NCCL_LIBRARY ${wheel_nccl}/lib/libnccl.so.2 CACHE FILEPATH "libnccl")
    else()
      find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
      find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS ${CUDAToolkit_LIBRARY_ROOT}/lib ${CUDAToolkit_LIBRARY_DIR})
    endif()
    if(NOT NCCL_INCLUDE_DIR OR NOT NCCL_LIBRARY)
      message(FATAL_ERROR "CUDA is here but NCCL is not: looked in ${wheel_nccl} (the torch wheel's) and near "
                          "the CUDA toolkit (${CUDAToolkit_LIBRARY_ROOT}). Install the pinned torch wheel "
                          "(scripts/setup) or NCCL, pass -DNCCL_INCLUDE_DIR=... -DNCCL_LIBRARY=..., or build "
                          "without multi-rank GPU trials: -DORCHARD_WITH_NCCL=OFF.")
    endif()
    set(ORCHARD_HAVE_NCCL ON)
  endif()
else()
  set(ORCHARD_HAVE_CUDA OFF)
endif()

# Before LibTorch: its package would otherwise define an empty protobuf::libprotobuf of its own.
if(NOT ORCHARD_TRAINER_ONLY)
  find_package(Protobuf REQUIRED)
  find_package(gRPC CONFIG REQUIRED)
  find_package(absl CONFIG REQUIRED)  # comes with gRPC; the coordinator sets its mutexes' mode
  find_package(MPI REQUIRED COMPONENTS CXX)
  find_package(SQLite3 REQUIRED)
  find_package(OpenSSL REQUIRED COMPONENTS Crypto)  # token hashing and randomness (gRPC brings its own TLS)
  # The dashboard's HTTP listener (Debian's build: with OpenSSL, zlib and brotli) and its clients in tests.
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET GLOBAL cpp-httplib)
  find_package(ZLIB REQUIRED)
else()
  find_package(MPI QUIET COMPONENTS CXX)  # optional here: multi-rank CPU training needs it
endif()

# LibTorch's package sets CMAKE_CUDA_ARCHITECTURES to OFF and warns when it finds it set on a re-run.
unset(CMAKE_CUDA_ARCHITECTURES)
unset(CMAKE_CUDA_ARCHITECTURES CACHE)
find_package(Torch REQUIRED)
# LibTorch without its CUDA half (libtorch_cuda.so, and cuBLAS, cuDNN and the rest behind it), which
# the trainer loads only when a run may use a GPU (LoadLibTorchCuda, worker/train/trainer.cc):
# linked, its loading took about 0.1 s of every trainer's start, the warm trainer's too. Programs that
# call LibTorch's CUDA side themselves (tests, benchmarks) link TORCH_LIBRARIES, the whole of it.
add_library(orchard_torch_cpu INTERFACE)
target_link_libraries(orchard_torch_cpu INTERFACE torch_cpu_library ${CMAKE_DL_LIBS})
target_include_directories(orchard_torch_cpu INTERFACE ${TORCH_INCLUDE_DIRS})
separate_arguments(torch_cxx_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(orchard_torch_cpu INTERFACE ${torch_cxx_flags})
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Threads REQUIRED)
if(ORCHARD_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()

# libFuzzer: the fuzz tests are compiled by clang++ with its sanitizers, beside the main build (a
# CMake project has one C++ compiler). Probed once by building an empty fuzzer, since clang++ can be
# installed without the libFuzzer runtime (Debian's libclang-rt-N-dev). Only success is cached, so
# installing the runtime later needs no fresh build directory.
if(ORCHARD_BUILD_TESTS)
  find_program(ORCHARD_CLANGXX NAMES clang++ DOC "clang++ with libFuzzer, for the fuzz tests")
  if(ORCHARD_CLANGXX AND NOT ORCHARD_HAVE_LIBFUZZER)
    set(probe_dir ${CMAKE_BINARY_DIR}/CMakeFiles/libfuzzer-probe)
    file(WRITE ${probe_dir}/probe.cc
      "#include <cstddef>\n#include <cstdint>\n"
      "extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
    execute_process(
      COMMAND ${ORCHARD_CLANGXX} -fsanitize=fuzzer,address,undefined ${probe_dir}/probe.cc -o ${probe_dir}/probe
      RESULT_VARIABLE probe_failed OUTPUT_QUIET ERROR_QUIET)
    if(NOT probe_failed)
      set(ORCHARD_HAVE_LIBFUZZER ON CACHE INTERNAL "clang++ builds and links a libFuzzer target")
    endif()
  endif()
endif()

message(STATUS "Orchard dependencies:")
message(STATUS "  LibTorch       ${torch_version} (pinned ${ORCHARD_TORCH_VERSION}) via ${ORCHARD_PYTHON}")
if(ORCHARD_HAVE_CUDA)
  message(STATUS "  CUDA           ${CUDAToolkit_VERSION}, kernels for sm_${ORCHARD_CUDA_ARCHITECTURES}")
else()
  message(STATUS "  CUDA           not found: GPU kernels are not built")
endif()
if(ORCHARD_HAVE_NCCL)
  message(STATUS "  NCCL           ${NCCL_LIBRARY}")
else()
  message(STATUS "  NCCL           off: GPU trials run on one rank only")
endif()
message(STATUS "  yaml-cpp       ${yaml-cpp_VERSION}")
message(STATUS "  nlohmann_json  ${nlohmann_json_VERSION}")
message(STATUS "  CLI11          ${CLI11_VERSION}")
if(ORCHARD_BUILD_TESTS)
  message(STATUS "  GoogleTest     ${GTest_VERSION}")
  if(ORCHARD_HAVE_LIBFUZZER)
    message(STATUS "  libFuzzer      ${ORCHARD_CLANGXX}")
  elseif(ORCHARD_CLANGXX)
    message(STATUS "  libFuzzer      not found beside ${ORCHARD_CLANGXX}: fuzz tests skipped (scripts/setup installs libclang-rt-14-dev)")
  else()
    message(STATUS "  libFuzzer      clang++ not found: fuzz tests skipped (scripts/setup installs clang)")
  endif()
endif()
if(NOT ORCHARD_TRAINER_ONLY)
  message(STATUS "  gRPC           ${gRPC_VERSION}")
  message(STATUS "  Protobuf       ${Protobuf_VERSION}")
  message(STATUS "  MPI            standard ${MPI_CXX_VERSION} (${MPIEXEC_EXECUTABLE})")
  message(STATUS "  SQLite         ${SQLite3_VERSION}")
  message(STATUS "  OpenSSL        ${OPENSSL_VERSION}")
  message(STATUS "  cpp-httplib    ${HTTPLIB_VERSION}")
else()
  message(STATUS "  trainer-only build: gRPC, Protobuf and SQLite skipped; MPI ${MPI_CXX_FOUND}")
endif()
