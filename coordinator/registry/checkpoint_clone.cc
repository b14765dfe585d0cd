#include "coordinator/registry/checkpoint_clone.h"

#include <filesystem>

#include "coordinator/access/path_confinement.h"
#include "core/file_tree.h"

namespace orchard::coordinator {
namespace {

namespace fs = std::filesystem;

constexpr char kStepPrefix[] = "step-";

// The step of a "step-<n>" directory name; -1 for any other name.
int64_t StepOf(const std::string& name) {
  if (name.rfind(kStepPrefix, 0) != 0 || name.size() == sizeof kStepPrefix - 1) return -1;
  int64_t step = 0;
  for (size_t i = sizeof kStepPrefix - 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || step > (INT64_MAX - 9) / 10) return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

Status Failed(const std::string& what, const std::error_code& error) {
  return Internal(what + ": " + error.message());
}

}  // namespace

StatusOr<ClonedCheckpoint> CloneCheckpoint(const std::string& storage_root, const std::string& source,
                                           const std::string& source_trial_dir, const std::string& target_dir,
                                           const std::vector<std::string>& roots) {
  const fs::path root(storage_root);
  const int64_t step = StepOf(fs::path(source).filename().string());
  if (step < 0) return InvalidArgument("the checkpoint " + source + " is not a step-<n> directory");
  // Reported paths are a trainer's word: the source must lie in its own trial's folder, and nothing
  // may lead out of the storage root through a link.
  ASSIGN_OR_RETURN(std::string trial_root, ConfinePath("trial folder", (root / source_trial_dir).string(), roots));
  ASSIGN_OR_RETURN(std::string from, ConfinePath("checkpoint", (root / source).string(), {trial_root}));
  ASSIGN_OR_RETURN(std::string to, ConfinePath("checkpoints", (root / target_dir).string(), roots));
  std::error_code error;
  fs::create_directories(to, error);
  if (error) return Failed("cannot create " + to, error);
  const std::string name = kStepPrefix + std::to_string(step);
  const fs::path staging = fs::path(to) / (".clone-" + name);
  error = RemoveTree(staging);
  fs::create_directory(staging, error);
  if (error) return Failed("cannot create " + staging.string(), error);
  for (fs::directory_iterator it(from, error), end; !error && it != end; it.increment(error)) {
    // Only plain files: a link planted in a checkpoint would copy whatever it points at.
    if (it->symlink_status(error).type() != fs::file_type::regular) continue;
    const fs::path copy = staging / it->path().filename();
    std::error_code link_error;
    fs::create_hard_link(it->path(), copy, link_error);
    if (link_error) fs::copy_file(it->path(), copy, error);
    if (error) return Failed("cannot copy " + it->path().string(), error);
  }
  if (error) return Failed("cannot read " + from, error);
  // Publish the copy first, then drop the trial's own checkpoints: at every moment a resume finds a
  // whole checkpoint, and only the copy is left in the end (the trainer resumes from the newest).
  const fs::path published = fs::path(to) / name;
  const fs::path displaced = fs::path(to) / (".replaced-" + name);
  error = RemoveTree(displaced);
  if (fs::exists(published, error)) fs::rename(published, displaced, error);
  if (error) return Failed("cannot move " + published.string() + " aside", error);
  fs::rename(staging, published, error);
  if (error) return Failed("cannot publish " + published.string(), error);
  error = RemoveTree(displaced);
  for (fs::directory_iterator it(to, error), end; !error && it != end; it.increment(error)) {
    const std::string entry = it->path().filename().string();
    if (StepOf(entry) >= 0 && entry != name) {
      std::error_code remove_error;
      remove_error = RemoveTree(it->path());
      if (remove_error) return Failed("cannot remove " + it->path().string(), remove_error);
    }
  }
  if (error) return Failed("cannot read " + to, error);
  return ClonedCheckpoint{target_dir + "/" + name, step};
}

}  // namespace orchard::coordinator
