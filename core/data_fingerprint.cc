#include "core/data_fingerprint.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/atomic_file.h"
#include "core/sha256.h"

namespace orchard {
namespace {

namespace fs = std::filesystem;

// Timestamps within this of the hash may hide a later write of the same size (see the header).
constexpr int64_t kRacyWindowNs = 2'000'000'000;
constexpr size_t kMaxEntries = 4096;

int64_t Nanoseconds(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; }

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string DefaultDigitsPath() {
  if (const char* dir = std::getenv("ORCHARD_DATA_DIR")) return std::string(dir) + "/digits.csv";
  if (const char* cache = std::getenv("ORCHARD_CACHE")) return std::string(cache) + "/data/digits.csv";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.cache/orchard/data/digits.csv";
}

std::vector<std::string> InputFiles(const Recipe& recipe) {
  std::vector<std::string> files;
  const DataSpec& data = recipe.data;
  if (data.type == "digits") files.push_back(data.path.empty() ? DefaultDigitsPath() : data.path);
  if (data.type == "csv" || data.type == "idx" || data.type == "text") files.push_back(data.path);
  if (data.type == "idx") files.push_back(data.labels_path);
  if (recipe.model.type == "torchscript") files.push_back(recipe.model.torchscript.path);
  std::error_code error;
  for (std::string& file : files) {
    const fs::path absolute = fs::absolute(file, error);
    if (!error) file = absolute.lexically_normal().string();
  }
  return files;
}

std::string DefaultFingerprintCacheFile() {
  if (const char* cache = std::getenv("ORCHARD_CACHE")) return std::string(cache) + "/fingerprints.json";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.cache/orchard/fingerprints.json";
}

FingerprintCache::FingerprintCache(std::string cache_file) : cache_file_(std::move(cache_file)) {
  if (cache_file_.empty()) return;
  std::ifstream in(cache_file_);
  if (!in) return;
  const nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return;
  for (const auto& [path, e] : json.items()) {
    Entry entry;
    try {
      entry.bytes = e.at("bytes").get<int64_t>();
      entry.mtime_ns = e.at("mtime_ns").get<int64_t>();
      entry.ctime_ns = e.at("ctime_ns").get<int64_t>();
      entry.inode = e.at("inode").get<int64_t>();
      entry.hashed_at_ns = e.at("hashed_at_ns").get<int64_t>();
      entry.sha256 = e.at("sha256").get<std::string>();
    } catch (const nlohmann::json::exception&) {
      continue;  // an entry this build did not write: hash that file again
    }
    if (entry.bytes >= 0 && entry.sha256.size() == 64) entries_[path] = entry;
  }
}

StatusOr<FileFingerprint> FingerprintCache::Fingerprint(const std::string& path) {
  struct stat before {};
  if (::stat(path.c_str(), &before) != 0 || !S_ISREG(before.st_mode))
    return NotFound(path + ": cannot read the file to fingerprint it (does it exist?)");
  Entry now;
  now.bytes = before.st_size;
  now.mtime_ns = Nanoseconds(before.st_mtim);
  now.ctime_ns = Nanoseconds(before.st_ctim);
  now.inode = static_cast<int64_t>(before.st_ino);
  const auto known = entries_.find(path);
  if (known != entries_.end()) {
    const Entry& e = known->second;
    const bool same_file = e.bytes == now.bytes && e.mtime_ns == now.mtime_ns && e.ctime_ns == now.ctime_ns &&
                           e.inode == now.inode;
    // A write changes the mtime, so a file whose mtime was well before the hash held still then.
    const bool settled_when_hashed = e.mtime_ns + kRacyWindowNs < e.hashed_at_ns;
    if (same_file && settled_when_hashed) return FileFingerprint{path, e.bytes, e.sha256};
  }
  now.hashed_at_ns = NowNs();
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot read the file to fingerprint it (permissions?)");
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  int64_t read = 0;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash.Update(buffer.data(), static_cast<size_t>(in.gcount()));
    read += in.gcount();
  }
  if (in.bad()) return NotFound(path + ": reading the file to fingerprint it failed");
  now.bytes = read;
  now.sha256 = hash.HexDigest();
  ++files_hashed_;
  entries_[path] = now;
  return FileFingerprint{path, now.bytes, now.sha256};
}

Status FingerprintCache::Save() const {
  if (cache_file_.empty()) return OkStatus();
  // The most recently hashed entries are kept when there are too many.
  std::vector<std::pair<std::string, Entry>> kept(entries_.begin(), entries_.end());
  if (kept.size() > kMaxEntries) {
    std::nth_element(kept.begin(), kept.begin() + kMaxEntries, kept.end(),
                     [](const auto& a, const auto& b) { return a.second.hashed_at_ns > b.second.hashed_at_ns; });
    kept.resize(kMaxEntries);
  }
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [path, e] : kept)
    json[path] = {{"bytes", e.bytes}, {"mtime_ns", e.mtime_ns}, {"ctime_ns", e.ctime_ns},
                  {"inode", e.inode}, {"hashed_at_ns", e.hashed_at_ns}, {"sha256", e.sha256}};
  return WriteFileAtomically(cache_file_, json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

}  // namespace orchard
