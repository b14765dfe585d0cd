#include "core/atomic_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace orchard {

Status WriteFileAtomically(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, error);
  // The process id keeps concurrent writers (trainers sharing a cache file) off each other's staging file.
  const std::string staging = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(staging, std::ios::trunc | std::ios::binary);
    out << text;
    if (!out.flush()) {
      out.close();
      fs::remove(staging, error);
      return Internal("cannot write " + staging);
    }
  }
  fs::rename(staging, path, error);
  if (error) {
    const std::string why = error.message();
    fs::remove(staging, error);
    return Internal("cannot rename " + staging + " to " + path + ": " + why);
  }
  return OkStatus();
}

std::optional<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return text.str();
}

}  // namespace orchard
