// Follows a trainer's metrics.jsonl as it grows and returns the complete new records.
//
//   MetricsTail tail("runs/x/metrics.jsonl");
//   for (const MetricRecord& r : tail.Poll()) Report(r);
//
// A partial last line is left for the next poll; lines that are not metric records are skipped.
// A file that shrinks (a resumed run truncates it) is read again from the start. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace orchard::worker {

struct MetricRecord {
  int64_t step = 0;
  std::string name;
  double value = 0;
  double time = 0;
};

class MetricsTail {
 public:
  explicit MetricsTail(std::string path) : path_(std::move(path)) {}
  std::vector<MetricRecord> Poll();

 private:
  std::string path_;
  int64_t offset_ = 0;
};

}  // namespace orchard::worker
