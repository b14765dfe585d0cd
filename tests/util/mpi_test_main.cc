// main() of the GoogleTest binaries that run under mpirun (orchard_mpi_test): MPI comes up before
// any test and goes down at exit (InitMpi registers MPI_Finalize).
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
  return RUN_ALL_TESTS();
}
