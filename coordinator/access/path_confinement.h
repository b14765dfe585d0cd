// Keeps every file a request names inside the directories the coordinator allows (the storage
// root and the operator's --allow-path roots), so a recipe or a report cannot make a trial read or
// write elsewhere: no `..` escape, no absolute path outside, no symbolic link out of a root.
//
//   ASSIGN_OR_RETURN(std::vector<std::string> roots, CanonicalRoots({storage_root, "/data"}));
//   ASSIGN_OR_RETURN(std::string path, ConfinePath("data.path", "/data/../etc/passwd", roots));  // refused
//
// Paths are resolved on the coordinator's file system, following symbolic links where they exist;
// a file made or replaced after the check is not covered (workers see shared storage at the same
// paths, and only trials of the sweep's owner write there). Thread-safe (reads the file system only).
#pragma once

#include <string>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"

namespace orchard::coordinator {

// The roots with every symbolic link resolved; InvalidArgument names a root that is not a directory.
StatusOr<std::vector<std::string>> CanonicalRoots(const std::vector<std::string>& roots);

// `path` (absolute) resolved through its symbolic links, if it lies in one of `roots` (from
// CanonicalRoots); PermissionDenied naming `field` and the allowed roots otherwise, or for a
// dangling symbolic link, whose target could be created outside later.
StatusOr<std::string> ConfinePath(const std::string& field, const std::string& path, const std::vector<std::string>& roots);

// Checks every file the trials of a submitted recipe would read or write: the recipe's own paths
// (relative ones already resolved against the recipe file's directory by ParseRecipe), each value a
// sweep parameter gives such a field, and metrics.file, which must stay inside the trial's output
// directory. `recipe` is ParseRecipe(recipe_yaml, recipe_file, overrides). The error lists every
// path refused.
Status ConfineRecipePaths(const Recipe& recipe, const std::string& recipe_yaml, const std::string& recipe_file,
                          const std::vector<std::string>& overrides, const std::vector<std::string>& roots);

}  // namespace orchard::coordinator
