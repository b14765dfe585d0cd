// PBT's exploit on disk: a trial takes over another trial's checkpoint.
//
//   ASSIGN_OR_RETURN(ClonedCheckpoint cloned,
//                    CloneCheckpoint(storage_root, "sweep-1/trial-3/checkpoints/step-400",
//                                    "sweep-1/trial-5/checkpoints", {canonical_storage_root}));
//
// The target's step-<n> checkpoints are replaced by one copy of the source, so the trial's next
// attempt resumes from it with the ordinary --resume. Plain files are hard-linked where the file
// system allows (checkpoint files are never modified once published; retention only unlinks them)
// and copied otherwise; links are not followed. The copy is published before the target's own
// checkpoints go, so a resume always finds a whole one. The target's EPOCH fencing file is its own
// and stays. Repeating a clone gives the same result, so a coordinator that dies half-way simply
// clones again when the event is replayed. Thread-compatible; the caller makes sure no trainer
// writes the target meanwhile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace orchard::coordinator {

struct ClonedCheckpoint {
  std::string path;  // the copy, relative to the storage root
  int64_t step = 0;
};

// `source` (a step-<n> directory, which must lie inside `source_trial_dir`) and `target_dir` are
// relative to `storage_root`; everything must stay inside `roots` (canonical, from CanonicalRoots):
// a reported checkpoint path is a trainer's word. PermissionDenied for a path that leads out,
// InvalidArgument for a source that is not a step directory, Internal for a file system error.
StatusOr<ClonedCheckpoint> CloneCheckpoint(const std::string& storage_root, const std::string& source,
                                           const std::string& source_trial_dir, const std::string& target_dir,
                                           const std::vector<std::string>& roots);

}  // namespace orchard::coordinator
