// main() of the GoogleTest binaries that run under mpirun (orchard_mpi_test): MPI comes up before
// any test and goes down after the last (FinalizeMpi, which exits with the tests' code at once when
// a test left a collective timed out).
#include <gtest/gtest.h>

#include <cstdio>

#include "worker/comm/mpi_communicator.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const orchard::Status mpi = orchard::comm::InitMpi();
  if (!mpi.ok()) {
    std::fprintf(stderr, "%s\n", mpi.message().c_str());
    return 1;
  }
  const int code = RUN_ALL_TESTS();
  orchard::comm::FinalizeMpi(code);
  return code;
}
