#include "coordinator/access/path_confinement.h"

#include <algorithm>
#include <filesystem>

namespace orchard::coordinator {
namespace {

namespace fs = std::filesystem;

bool IsInside(const fs::path& path, const fs::path& root) {
  auto [root_end, path_it] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  // "/a/b/" iterates as "/", "a", "b", "": a trailing empty element of the root matches anything.
  return root_end == root.end() || (std::next(root_end) == root.end() && root_end->empty());
}

std::string RootList(const std::vector<std::string>& roots) {
  std::string list;
  for (const std::string& root : roots) list += (list.empty() ? "" : ", ") + root;
  return list;
}

// The recipe fields (as YAML paths) that name files, for sweep parameters that set them.
bool IsPathField(const std::string& field) {
  return field == "data.path" || field == "data.images" || field == "data.labels" || field == "model.path" ||
         field == "metrics.file";
}

// The files of one resolved recipe, each checked; problems are appended to `errors`.
void CheckRecipe(const Recipe& recipe, const std::string& origin, const std::vector<std::string>& roots,
                 std::vector<std::string>& errors) {
  const std::pair<const char*, const std::string*> files[] = {
      {"data.path", &recipe.data.path}, {"data.labels", &recipe.data.labels_path}, {"model.path", &recipe.model.torchscript.path}};
  for (const auto& [field, path] : files) {
    if (path->empty()) continue;  // the trainer's default (e.g. the digits copy scripts/setup made)
    auto confined = ConfinePath(recipe.file + ": " + field + origin, *path, roots);
    if (!confined.ok()) errors.push_back(confined.status().message());
  }
  const fs::path metrics(recipe.metrics.file);
  const bool climbs = std::any_of(metrics.begin(), metrics.end(), [](const fs::path& part) { return part == ".."; });
  if (metrics.is_absolute() || climbs)
    errors.push_back(recipe.file + ": metrics.file" + origin + ": '" + recipe.metrics.file +
                     "' must be a relative path inside the trial's output directory, without '..'");
}

}  // namespace

StatusOr<std::vector<std::string>> CanonicalRoots(const std::vector<std::string>& roots) {
  std::vector<std::string> canonical;
  for (const std::string& root : roots) {
    std::error_code error;
    const fs::path resolved = fs::canonical(root, error);
    if (error || !fs::is_directory(resolved))
      return InvalidArgument("allowed path root " + root + " is not a directory" +
                             (error ? " (" + error.message() + ")" : "") + "; create it or fix --allow-path");
    canonical.push_back(resolved.string());
  }
  return canonical;
}

StatusOr<std::string> ConfinePath(const std::string& field, const std::string& path, const std::vector<std::string>& roots) {
  std::error_code error;
  const fs::path resolved = fs::weakly_canonical(fs::absolute(path), error);
  if (error) return PermissionDenied(field + ": cannot resolve '" + path + "': " + error.message());
  // weakly_canonical resolves the part that exists; a dangling link is left unresolved in the rest.
  for (fs::path prefix = resolved; prefix.has_relative_path(); prefix = prefix.parent_path())
    if (fs::is_symlink(prefix, error))
      return PermissionDenied(field + ": '" + path + "' goes through the dangling symbolic link " + prefix.string() +
                              "; point it at an existing file inside an allowed root");
  for (const std::string& root : roots)
    if (IsInside(resolved, root)) return resolved.string();
  const std::string shown = resolved.string() == path ? "'" + path + "'" : "'" + path + "' (" + resolved.string() + ")";
  return PermissionDenied(field + ": " + shown + " is outside the allowed roots (" + RootList(roots) +
                          "); move the file under one of them, or have the operator add its directory with "
                          "orchard-coordinator --allow-path DIR");
}

Status ConfineRecipePaths(const Recipe& recipe, const std::string& recipe_yaml, const std::string& recipe_file,
                          const std::vector<std::string>& overrides, const std::vector<std::string>& roots) {
  std::vector<std::string> errors;
  CheckRecipe(recipe, "", roots, errors);
  // A sweep parameter may set a path; each value is resolved as the trial that gets it will resolve it,
  // in each trial the sweep can make of it (under the values that make a conditional one apply).
  const std::vector<ParameterSpace>& parameters = recipe.sweep.parameters;
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (!IsPathField(parameters[i].path)) continue;
    for (const auto& enabling : EnablingAssignments(parameters[i], parameters)) {
      for (const std::string& value : parameters[i].values) {
        std::vector<std::string> trial_overrides = overrides;
        for (const auto& [field, text] : CandidateTrialFields(parameters, i, value, enabling))
          trial_overrides.push_back(field + "=" + text);
        auto trial = ParseRecipe(recipe_yaml, recipe_file, trial_overrides);
        // The sweep was validated with these trials; one that does not parse cannot be confined.
        if (!trial.ok()) {
          errors.push_back(parameters[i].path + ": cannot check the path of sweep value " + value + ": " +
                           trial.status().message());
          continue;
        }
        CheckRecipe(*trial, " (sweep value " + value + ")", roots, errors);
      }
    }
  }
  if (errors.empty()) return OkStatus();
  std::string message;
  for (const std::string& e : errors) message += (message.empty() ? "" : "\n") + e;
  return PermissionDenied(message);
}

}  // namespace orchard::coordinator
