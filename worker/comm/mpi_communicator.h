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

#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "worker/comm/communicator.h"

namespace orchard::comm {

// MPI_Init_thread asking for MPI_THREAD_MULTIPLE (the communication threads and the caller use MPI
// concurrently); an error when the library cannot provide it. A no-op when already initialised.
// FinalizeMpi(kExitFailed) is registered with atexit, for paths that leave without calling it.
Status InitMpi();

// Ends MPI on the way out of the process, so that it always exits: MPI_Finalize runs, and if it
// has not returned within `grace_seconds` (a collective that timed out is still stuck in MPI and
// cannot be cancelled, or a peer rank stopped, not dead, holds up the closing handshake) the
// process says so on stderr and exits with `exit_code` all the same. After a collective of this
// process failed it exits with `exit_code` even when MPI_Finalize returns (its thread may still
// run). A no-op when MPI was not initialised or is finalised already.
void FinalizeMpi(int exit_code, double grace_seconds = 10);

// Runs `call` (an MPI call that blocks until its peers join, such as MPI_Comm_dup) and waits at
// most `timeout_seconds` for it. On time-out it fails with DEADLINE_EXCEEDED naming `what`; the
// call goes on in a detached thread and the process counts as having a failed collective (see
// FinalizeMpi). `call` returns an MPI error code.
Status CallWithDeadline(const std::string& what, double timeout_seconds, std::function<int()> call);

// True when this process was started by mpirun (Open MPI's environment says so).
bool StartedByMpirun();

// Duplicates `comm` (so tags and ordering never mix with the caller's traffic) and owns the copy.
StatusOr<std::unique_ptr<Communicator>> MakeMpiCommunicator(MPI_Comm comm, double timeout_seconds);

// The text of an MPI error code.
std::string MpiErrorText(int code);

}  // namespace orchard::comm
