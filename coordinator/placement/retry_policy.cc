#include "coordinator/placement/retry_policy.h"

#include "core/trainer_exit_codes.h"

namespace orchard::coordinator {

TrialOutcome DecideTrialOutcome(const AttemptEnd& end, int64_t restarts_so_far, int64_t max_restarts) {
  TrialOutcome outcome;
  const std::string reason = end.reason.empty() ? (end.lost ? "worker lost" : "failed") : end.reason;
  // A trainer that finished before the stop reached it completed: its result is whole.
  if (!end.lost && end.exit_code == train::kExitCompleted) {
    outcome.state = "completed";
    return outcome;
  }
  if (end.stop_reason == "canceled" || end.stop_reason == "stopped" || end.stop_reason == "paused") {
    outcome.state = end.stop_reason;
    outcome.message = end.stop_reason;
    return outcome;
  }
  if (!end.lost && end.exit_code == train::kExitPreempted) {
    outcome.requeue = true;
    outcome.message = "queued again after preemption: " + reason;
    return outcome;
  }
  if (!end.lost && (end.exit_code == train::kExitBadInput || end.exit_code == train::kExitDiverged)) {
    outcome.state = "failed";
    outcome.message = reason;
    return outcome;
  }
  if (restarts_so_far < max_restarts) {
    outcome.requeue = true;
    outcome.counts_as_restart = true;
    outcome.message = "queued again (restart " + std::to_string(restarts_so_far + 1) + " of " +
                      std::to_string(max_restarts) + ") after: " + reason;
    return outcome;
  }
  outcome.state = "failed";
  outcome.message = max_restarts == 0 ? reason
                                      : "gave up after " + std::to_string(restarts_so_far) +
                                            " restarts (sweep.max_restarts); last: " + reason;
  return outcome;
}

}  // namespace orchard::coordinator
