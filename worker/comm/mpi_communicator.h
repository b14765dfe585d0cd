// Collectives over an MPI communicator, for tensors in host memory.
//
//   RETURN_IF_ERROR(InitMpi());                      // once per process, before any MPI call
//   auto comm = MakeMpiCommunicator(MPI_COMM_WORLD, /*timeout_seconds=*/300);
//
// Operations run in order on one communication thread per communicator, so an asynchronous
// all-reduce proceeds while the caller keeps computing (the overlap of bucketed all-reduce). Errors
// come back as statuses (MPI_ERRORS_RETURN), and a collective that takes longer than the timeout
// fails the communicator instead of hanging the caller; the stuck MPI call cannot be cancelled, so
// the process should end soon after (its thread is detached on destruction).
#pragma once

#include <mpi.h>

#include <memory>

#include "core/status.h"
#include "worker/comm/communicator.h"

namespace orchard::comm {

// MPI_Init_thread asking for MPI_THREAD_MULTIPLE (the communication threads and the caller use MPI
// concurrently); an error when the library cannot provide it. A no-op when already initialised.
// Finalisation is registered with atexit.
Status InitMpi();

// True when this process was started by mpirun (Open MPI's environment says so).
bool StartedByMpirun();

// Duplicates `comm` (so tags and ordering never mix with the caller's traffic) and owns the copy.
StatusOr<std::unique_ptr<Communicator>> MakeMpiCommunicator(MPI_Comm comm, double timeout_seconds);

// The text of an MPI error code.
std::string MpiErrorText(int code);

}  // namespace orchard::comm
