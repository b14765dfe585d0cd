#include "core/file_tree.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace orchard {
namespace {

std::error_code LastError() { return {errno, std::generic_category()}; }

std::error_code RemoveEntry(const std::string& path) {
  struct stat info;
  if (lstat(path.c_str(), &info) != 0) return errno == ENOENT ? std::error_code() : LastError();
  if (!S_ISDIR(info.st_mode)) return unlink(path.c_str()) == 0 || errno == ENOENT ? std::error_code() : LastError();
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return LastError();
  std::error_code error;
  while (!error) {
    errno = 0;
    const dirent* entry = readdir(dir);
    if (entry == nullptr) {
      if (errno != 0) error = LastError();
      break;
    }
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    error = RemoveEntry(path + "/" + entry->d_name);
  }
  closedir(dir);
  if (error) return error;
  return rmdir(path.c_str()) == 0 || errno == ENOENT ? std::error_code() : LastError();
}

}  // namespace

std::error_code RemoveTree(const std::filesystem::path& root) { return RemoveEntry(root.string()); }

}  // namespace orchard
