#include "coordinator/checkpoint_clone.h"

#include <filesystem>

#include "coordinator/path_confinement.h"

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

}  // namespace

StatusOr<ClonedCheckpoint> CloneCheckpoint(const std::string& storage_root, const std::string& source,
                                           const std::string& target_dir, const std::vector<std::string>& roots) {
  const fs::path root(storage_root);
  const int64_t step = StepOf(fs::path(source).filename().string());
  if (step < 0) return InvalidArgument("the checkpoint " + source + " is not a step-<n> directory");
  ASSIGN_OR_RETURN(std::string from, ConfinePath("checkpoint", (root / source).string(), roots));
  fs::create_directories(root / target_dir);
  ASSIGN_OR_RETURN(std::string to, ConfinePath("checkpoints", (root / target_dir).string(), roots));
  const std::string name = kStepPrefix + std::to_string(step);
  const fs::path staging = fs::path(to) / (".clone-" + name);
  std::error_code error;
  try {
    fs::remove_all(staging);
    fs::create_directory(staging);
    for (const fs::directory_entry& file : fs::directory_iterator(from)) {
      if (!file.is_regular_file()) continue;
      const fs::path copy = staging / file.path().filename();
      fs::create_hard_link(file.path(), copy, error);
      if (error) fs::copy_file(file.path(), copy);
    }
    // Only the copy may remain: the trainer resumes from the newest step it finds.
    for (const fs::directory_entry& entry : fs::directory_iterator(to))
      if (StepOf(entry.path().filename().string()) >= 0) fs::remove_all(entry.path());
    fs::rename(staging, fs::path(to) / name);
  } catch (const fs::filesystem_error& e) {
    return Internal("cannot copy checkpoint " + source + " to " + target_dir + ": " + e.what());
  }
  return ClonedCheckpoint{target_dir + "/" + name, step};
}

}  // namespace orchard::coordinator
