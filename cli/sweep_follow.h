// Following a submitted sweep to its end, for `orchard watch`, `submit --watch`, `submit --wait`
// and `orchard run`. Both print the sweep's end (PrintSweepEnd) and return kExitOk when it
// completed, kExitSweepFailed when it failed or was canceled, kExitInterrupted on Ctrl-C, or a
// failed call's exit code.
#pragma once

#include <cstdint>

#include "cli/coordinator_calls.h"

namespace orchard::cli {

// Follows the sweep live, redrawing the progress block on a terminal (or printing each event
// elsewhere). Ctrl-C cancels the sweep when `cancel_on_interrupt` (a second one leaves at once),
// else only stops watching.
int FollowSweep(const CoordinatorCalls& calls, int64_t sweep_id, bool cancel_on_interrupt);

// Polls quietly until the sweep has ended and its trials have stopped, waiting through a coordinator
// that is unreachable for up to 10 minutes (a restart).
int WaitForSweepEnd(const CoordinatorCalls& calls, int64_t sweep_id);

}  // namespace orchard::cli
