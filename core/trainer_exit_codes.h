// Process exit codes of orchard-train: a contract between the trainer, the worker that supervises
// it and the coordinator's retry policy.
#pragma once

namespace orchard::train {

inline constexpr int kExitCompleted = 0;
inline constexpr int kExitFailed = 1;      // runtime error (I/O, LibTorch)
inline constexpr int kExitBadInput = 2;    // invalid recipe, flags or data
inline constexpr int kExitDiverged = 3;    // non-finite loss or gradients; retrying will not help
inline constexpr int kExitPreempted = 4;   // SIGTERM: checkpoint written, resume later
inline constexpr int kExitFenced = 5;      // a newer attempt of the trial owns its output; this one must stop

}  // namespace orchard::train
