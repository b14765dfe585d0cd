#include "worker/comm/watchdog.h"

#include <chrono>
#include <sstream>
#include <thread>

namespace orchard::comm {

Watchdog::Watchdog(Calls calls, double timeout_seconds) : calls_(std::move(calls)), timeout_seconds_(timeout_seconds) {}

Status Watchdog::Wait(const std::function<StatusOr<bool>()>& finished, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds_);
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!failure_.empty())
        return FailedPrecondition(what + ": the communicator failed earlier (" + failure_ + "); the attempt must end");
    }
    const StatusOr<bool> done = finished();
    if (!done.ok()) return Fail(what + ": " + done.status().message());
    if (*done) return OkStatus();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!failure_.empty()) continue;  // another thread aborted it meanwhile: said above
      if (Status error = calls_.async_error(); !error.ok()) return FailLocked(what + ": " + error.message(), false);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      std::ostringstream why;
      why << what << " did not finish within " << timeout_seconds_ << " s: a peer rank is gone or stuck";
      return Fail(why.str(), /*timed_out=*/true);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

Status Watchdog::Guarded(const std::function<Status()>& call) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!failure_.empty()) return FailedPrecondition("the communicator failed earlier (" + failure_ + ")");
  return call();
}

Status Watchdog::Fail(const std::string& why, bool timed_out) {
  std::lock_guard<std::mutex> lock(mu_);
  return FailLocked(why, timed_out);
}

Status Watchdog::FailLocked(const std::string& why, bool timed_out) {
  if (failure_.empty()) {
    failure_ = why;
    calls_.abort();
  }
  return timed_out ? DeadlineExceeded(why) : Internal(why);
}

std::string Watchdog::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

}  // namespace orchard::comm
