#include "worker/agent/metrics_tail.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

namespace orchard::worker {

std::vector<MetricRecord> MetricsTail::Poll() {
  std::vector<MetricRecord> records;
  std::ifstream in(path_, std::ios::binary | std::ios::ate);
  if (!in) return records;
  const int64_t size = in.tellg();
  if (size < offset_) offset_ = 0;
  if (size == offset_) return records;
  in.seekg(offset_);
  std::string chunk(size - offset_, '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  const size_t end = chunk.rfind('\n');
  if (end == std::string::npos) return records;
  offset_ += static_cast<int64_t>(end + 1);
  size_t start = 0;
  while (start <= end) {
    const size_t newline = chunk.find('\n', start);
    const auto line = nlohmann::json::parse(chunk.substr(start, newline - start), nullptr, false);
    start = newline + 1;
    if (!line.is_object() || !line.contains("step") || !line.contains("name") || !line.contains("value")) continue;
    if (!line["value"].is_number() || !line["step"].is_number_integer() || !line["name"].is_string()) continue;
    const double value = line["value"].get<double>();
    if (!std::isfinite(value)) continue;
    records.push_back({line["step"].get<int64_t>(), line["name"].get<std::string>(), value, line.value("time", 0.0)});
  }
  return records;
}

}  // namespace orchard::worker
