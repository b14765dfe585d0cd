// The JSON-lines metrics file of a run: one {"step", "name", "value", "time"} object per line.
//
//   ASSIGN_OR_RETURN(MetricsLog log, MetricsLog::Open("runs/x/metrics.jsonl", resumed_step));
//   log.Record(100, "train_loss", 0.42);
//   log.Flush();
//
// On resume, records after the checkpoint's step (written by the interrupted run) are dropped so the
// series has each (step, name) once. Not thread-safe.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"

namespace orchard::train {

class MetricsLog {
 public:
  // Starts a new file, or (with `resumed_step`) keeps the existing records up to that step.
  static StatusOr<MetricsLog> Open(const std::string& path, std::optional<int64_t> resumed_step);

  void Record(int64_t step, const std::string& name, double value);
  void Flush() { out_->flush(); }

 private:
  explicit MetricsLog(std::unique_ptr<std::ofstream> out) : out_(std::move(out)) {}
  std::unique_ptr<std::ofstream> out_;
};

}  // namespace orchard::train
