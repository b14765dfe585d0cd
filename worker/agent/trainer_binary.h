// Where orchard-train is: beside the running binary (build/bin/), as the build lays them out.
#pragma once

#include <filesystem>
#include <string>

namespace orchard::worker {

inline std::string DefaultTrainerBinary() {
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  return (error ? std::filesystem::path("orchard-train") : self.parent_path() / "orchard-train").string();
}

}  // namespace orchard::worker
