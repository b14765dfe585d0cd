#include "worker/train/metrics_log.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <vector>

namespace orchard::train {

StatusOr<MetricsLog> MetricsLog::Open(const std::string& path, std::optional<int64_t> resumed_step) {
  std::vector<std::string> kept;
  if (resumed_step) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      // A torn last line from a killed run is dropped along with later steps.
      if (record.is_object() && record.contains("step") && record["step"].is_number_integer() &&
          record["step"].get<int64_t>() <= *resumed_step) {
        kept.push_back(line);
      }
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  // A new file renamed into place, not the old one truncated: a reader (the worker's tail) or a
  // stale writer holding the old file keeps its own inode and cannot garble this one.
  const std::string temp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream kept_lines(temp, std::ios::trunc);
    for (const std::string& line : kept) kept_lines << line << '\n';
    if (!kept_lines) return Internal("cannot write the metrics file " + temp);
  }
  std::filesystem::rename(temp, path, ec);
  if (ec) return Internal("cannot replace the metrics file " + path + ": " + ec.message());
  auto out = std::make_unique<std::ofstream>(path, std::ios::app);
  if (!*out) return Internal("cannot write the metrics file " + path);
  return MetricsLog(std::move(out));
}

void MetricsLog::Record(int64_t step, const std::string& name, double value) {
  double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  nlohmann::json record = {{"step", step}, {"name", name}, {"time", now}};
  // JSON has no NaN or infinity; a diverged value is recorded as null.
  record["value"] = std::isfinite(value) ? nlohmann::json(value) : nlohmann::json();
  *out_ << record.dump() << '\n';
}

}  // namespace orchard::train
