// Which files a recipe's training reads, and their SHA-256 fingerprints, each remembered by
// (path, size, mtime, ctime, inode) so a large data set is hashed once, not on every attempt.
//
//   FingerprintCache cache(DefaultFingerprintCacheFile());
//   for (const std::string& path : InputFiles(recipe)) fingerprints.push_back(*cache.Fingerprint(path));
//   cache.Save();
//
// A file changed within a couple of seconds of being hashed could keep its size and timestamps
// (their granularity is coarser than a write), so such a fresh entry is never trusted: the file is
// hashed again next time. Thread-compatible; several processes may share one cache file (each save
// replaces it whole, so a lost update only costs a hash).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"

namespace orchard {

struct FileFingerprint {
  std::string path;
  int64_t bytes = 0;
  std::string sha256;  // hex
};

// Where digits.csv is looked for when data.path is empty (the copy scripts/setup extracts):
// $ORCHARD_DATA_DIR, else $ORCHARD_CACHE/data, else ~/.cache/orchard/data.
std::string DefaultDigitsPath();

// The files training `recipe` reads, absolute as the recipe resolves them: data.path (or the default
// digits copy), data.labels for idx, and a TorchScript model. None for synthetic data.
std::vector<std::string> InputFiles(const Recipe& recipe);

// $ORCHARD_CACHE/fingerprints.json, else ~/.cache/orchard/fingerprints.json.
std::string DefaultFingerprintCacheFile();

class FingerprintCache {
 public:
  // `cache_file` empty: nothing is remembered. An unreadable or corrupt cache file is ignored.
  explicit FingerprintCache(std::string cache_file);

  // NotFound when the file cannot be read.
  StatusOr<FileFingerprint> Fingerprint(const std::string& path);
  // Writes the cache file (atomically); a failure costs only hashes next time, so callers may ignore it.
  Status Save() const;
  int64_t files_hashed() const { return files_hashed_; }  // by this object, not answered from the cache

 private:
  struct Entry {
    int64_t bytes = 0, mtime_ns = 0, ctime_ns = 0, inode = 0, hashed_at_ns = 0;
    std::string sha256;
  };
  std::string cache_file_;
  std::map<std::string, Entry> entries_;
  int64_t files_hashed_ = 0;
};

}  // namespace orchard
