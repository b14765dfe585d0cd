// Follows a trainer's metrics.jsonl as it grows and returns the complete new records.
//
//   MetricsTail tail("runs/x/metrics.jsonl");
//   for (const MetricRecord& r : tail.Poll()) Report(r);
//
// A partial last line is left for the next poll; lines that are not metric records are skipped,
// and so are records the coordinator would refuse (a bad name, a negative step, a value that is
// not a finite number). The file is the trainer's and untrusted: a poll reads at most 4 MiB (a
// larger backlog comes over several polls), a line longer than 64 KiB is skipped whole, and
// nothing in the file makes Poll throw. A file that shrinks (a resumed run truncates it) is read
// again from the start. Not thread-safe.
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
  static constexpr int64_t kMaxPollBytes = 4 << 20;
  static constexpr size_t kMaxLineBytes = 64 << 10;

  std::string path_;
  int64_t offset_ = 0;
  bool skipping_ = false;  // inside a line longer than kMaxLineBytes, until its newline
};

}  // namespace orchard::worker
