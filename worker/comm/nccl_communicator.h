// Collectives over NCCL for tensors in the memory of one CUDA device, on a stream of their own.
//
//   auto comm = MakeNcclCommunicator(*mpi_comm, /*device=*/local_rank, /*timeout_seconds=*/300);
//
// The bootstrap communicator (MPI, or any other) carries rank 0's NCCL unique id to the others; the
// NCCL communicator has the same ranks. Each operation first waits for the work already queued on
// the CUDA legacy default stream (where LibTorch computes unless told otherwise), then runs on the
// communicator's stream. Wait() polls for completion and for NCCL's asynchronous errors; past the
// timeout it aborts the NCCL communicator (ncclCommAbort) so that no rank hangs, and nothing touches
// it after that (watchdog.h). Joining is bounded by the same timeout: the communicator is created
// nonblocking, so a peer that dies after the id was sent cannot hold the others for good.
// Built only where NCCL exists (ORCHARD_HAVE_NCCL); elsewhere MakeNcclCommunicator fails cleanly.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "worker/comm/communicator.h"

namespace orchard::comm {

StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(Communicator& bootstrap, int device,
                                                              double timeout_seconds);

// True when this build includes NCCL.
bool NcclAvailable();

// The loaded NCCL's version, "2.27.3"; empty without NCCL in this build.
std::string NcclVersion();

// CUDA devices this process can see; 0 without a GPU, a driver, or a build with NCCL.
int VisibleGpuCount();

// GpuOfLocalRank (gpu_devices.h) for this process under mpirun: Open MPI's
// OMPI_COMM_WORLD_LOCAL_RANK and OMPI_COMM_WORLD_LOCAL_SIZE, and the GPUs this process sees.
StatusOr<int> GpuOfThisMpiRank(const std::string& device);

}  // namespace orchard::comm
