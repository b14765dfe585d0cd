#include "worker/agent/metrics_tail.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <optional>

#include "core/names.h"

namespace orchard::worker {
namespace {

// One line as a record the coordinator will take, or nothing.
std::optional<MetricRecord> ParseRecord(std::string_view text) {
  const auto line = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!line.is_object()) return std::nullopt;
  const auto step = line.find("step"), name = line.find("name"), value = line.find("value"), time = line.find("time");
  if (step == line.end() || !step->is_number_integer() || name == line.end() || !name->is_string() ||
      value == line.end() || !value->is_number())
    return std::nullopt;
  MetricRecord record{step->get<int64_t>(), name->get<std::string>(), value->get<double>(), 0};
  if (record.step < 0 || !std::isfinite(record.value) || !CheckMetricName(record.name, "name").ok()) return std::nullopt;
  if (time != line.end() && time->is_number() && std::isfinite(time->get<double>())) record.time = time->get<double>();
  return record;
}

}  // namespace

std::vector<MetricRecord> MetricsTail::Poll() {
  std::vector<MetricRecord> records;
  std::ifstream in(path_, std::ios::binary | std::ios::ate);
  if (!in) return records;
  const int64_t size = in.tellg();
  if (size < 0) return records;  // not a regular file
  if (size < offset_) offset_ = 0, skipping_ = false;
  if (size == offset_) return records;
  in.seekg(offset_);
  std::string chunk(static_cast<size_t>(std::min(size - offset_, kMaxPollBytes)), '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  chunk.resize(static_cast<size_t>(std::max<std::streamsize>(0, in.gcount())));
  size_t start = 0;
  while (start < chunk.size()) {
    const size_t newline = chunk.find('\n', start);
    if (newline == std::string::npos) {
      // A partial line waits for its end, unless it is already too long to be a record.
      if (skipping_ || chunk.size() - start > kMaxLineBytes) skipping_ = true, start = chunk.size();
      break;
    }
    if (!skipping_ && newline - start <= kMaxLineBytes)
      if (auto record = ParseRecord(std::string_view(chunk).substr(start, newline - start)))
        records.push_back(*std::move(record));
    skipping_ = false;
    start = newline + 1;
  }
  offset_ += static_cast<int64_t>(start);
  return records;
}

}  // namespace orchard::worker
