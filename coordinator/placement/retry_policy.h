// What an attempt's end means for its trial: completed, stopped, canceled, failed, or queued again
// (to resume from its latest checkpoint on any worker). Pure; the coordinator applies the answer.
//
//   TrialOutcome outcome = DecideTrialOutcome(end, trial_restarts, spec.max_restarts);
//   if (outcome.requeue) ... else SetTrialState(outcome.state, outcome.message)
//
// Policy: a trainer that exited 0 completed, even when a stop or pause was on its way; one asked to
// stop or pause ends so, however it exited (a paused trial resumes from its latest checkpoint, so a
// crash on the way out loses at most the steps since); a lost worker or a crash (non-zero exit,
// signal, out of memory) queues the trial again
// until it has been restarted `max_restarts` times; a preempted trainer (SIGTERM, checkpoint written)
// is queued again without counting; invalid input and divergence fail at once, since a retry would
// end the same way.
#pragma once

#include <cstdint>
#include <string>

namespace orchard::coordinator {

struct AttemptEnd {
  bool lost = false;          // the worker was declared lost (or forgot the attempt); no exit code
  int64_t exit_code = -1;     // orchard-train's exit code (trainer.h); -1 when killed by a signal
  int64_t signal = 0;
  std::string stop_reason;    // "canceled" | "stopped" | "paused" when the coordinator asked it to stop
  std::string reason;         // the worker's summary of the exit
};

struct TrialOutcome {
  bool requeue = false;          // back to pending; resumes from its latest checkpoint
  bool counts_as_restart = false;
  std::string state;             // when not requeued: completed | stopped | paused | canceled | failed
  std::string message;           // why, for `orchard trials` (empty when completed)
};

TrialOutcome DecideTrialOutcome(const AttemptEnd& end, int64_t restarts_so_far, int64_t max_restarts);

}  // namespace orchard::coordinator
