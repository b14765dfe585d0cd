// Removing a directory tree. Orchard's own instead of std::filesystem::remove_all: the torch wheel
// exports a copy of std::filesystem, and where a binary's std::filesystem calls bind to that copy
// (the H200 machine's Ubuntu 24.04 build did, worker/CMakeLists.txt says why) remove_all jumps to a
// null address: checkpoint pruning, test and bench clean-up all crashed there.
#pragma once

#include <filesystem>
#include <system_error>

namespace orchard {

// Removes `root` and everything under it; symbolic links are removed, never followed. A root that
// does not exist is no error. The first failure stops the removal and is returned.
std::error_code RemoveTree(const std::filesystem::path& root);

}  // namespace orchard
