// What a communicator whose operations finish asynchronously (NCCL) does while it waits: poll the
// operation, look for the library's asynchronous errors, give up past a deadline, and abort the
// communicator exactly once, never touching it after that. Plain logic over two calls, so tests drive
// every failure path without a GPU (tests/worker/comm/watchdog_test.cc).
//
//   Watchdog watchdog({.async_error = [&] { return NcclAsyncError(comm); }, .abort = [&] { ncclCommAbort(comm); }},
//                     /*timeout_seconds=*/300);
//   RETURN_IF_ERROR(watchdog.Wait([&]() -> StatusOr<bool> { return EventDone(done); }, "all-reduce"));
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "core/status.h"

namespace orchard::comm {

class Watchdog {
 public:
  struct Calls {
    std::function<Status()> async_error;  // not OK once the communicator reported an error
    std::function<void()> abort;          // ends the communicator; called at most once
  };
  Watchdog(Calls calls, double timeout_seconds);

  // Polls `finished` (true: done; an error: the operation failed) until the operation is done, fails,
  // the communicator reports an error or the timeout passes; the last three abort the communicator.
  // Once it failed, answers FAILED_PRECONDITION at once. May be called from several threads.
  Status Wait(const std::function<StatusOr<bool>()>& finished, const std::string& what);
  // Runs `call`, which uses the communicator, unless the communicator was aborted: then
  // FAILED_PRECONDITION, and `call` does not run. Every other use of the communicator goes through
  // here, so that none races the abort.
  Status Guarded(const std::function<Status()>& call);
  // Aborts the communicator (the first time) and keeps `why`: INTERNAL, or DEADLINE_EXCEEDED.
  Status Fail(const std::string& why, bool timed_out = false);
  // Why it failed first; empty while it has not.
  std::string failure() const;

 private:
  Status FailLocked(const std::string& why, bool timed_out);

  const Calls calls_;
  const double timeout_seconds_;
  mutable std::mutex mu_;  // the communicator is touched under it, and never after the abort
  std::string failure_;
};

}  // namespace orchard::comm
