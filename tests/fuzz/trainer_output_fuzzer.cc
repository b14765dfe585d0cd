// libFuzzer target for what a trainer leaves for the worker agent to read: its log (the reason an
// attempt ended) and its metrics file (the records relayed to the coordinator). The trainer is
// another process that may write anything or nothing, so the agent must never crash, throw, hang
// or send what the coordinator refuses.
//
// The input is split at its first 0x00 byte: the bytes before it are written to the log and, in
// three appends, to the metrics file (so partial lines meet later polls); the bytes after it are
// appended to the metrics file last. Checks beyond "no crash": every reason is printable UTF-8 of
// bounded size, and every relayed record is one the coordinator accepts.
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "core/names.h"
#include "core/trainer_exit_codes.h"
#include "worker/agent/exit_reason.h"
#include "worker/agent/metrics_tail.h"

namespace orchard::worker {
namespace {

void Require(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "broken promise: %s\n", what);
  std::abort();
}

void Append(const std::string& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary | std::ios::app).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void CheckRecords(MetricsTail& tail) {
  for (const MetricRecord& r : tail.Poll()) {
    Require(CheckMetricName(r.name, "name").ok(), "a relayed record has a name the coordinator refuses");
    Require(r.step >= 0 && std::isfinite(r.value) && std::isfinite(r.time), "a relayed record is out of range");
  }
}

}  // namespace
}  // namespace orchard::worker

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace orchard::worker;
  static const std::string dir = [] {
    char pattern[] = "/tmp/orchard-fuzz-trainer-output-XXXXXX";
    return std::string(mkdtemp(pattern));
  }();
  const std::string log = dir + "/attempt.log", metrics = dir + "/metrics.jsonl";
  std::remove(log.c_str());
  std::remove(metrics.c_str());
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view first = input.substr(0, input.find('\0'));
  const std::string_view rest = first.size() < input.size() ? input.substr(first.size() + 1) : std::string_view();

  Append(log, first);
  for (int code : {orchard::train::kExitFailed, orchard::train::kExitBadInput, orchard::train::kExitDiverged}) {
    const std::string reason = ExitReason({1, code, 0, ""}, log);
    Require(PrintableUtf8(reason) == reason, "a reason is not printable UTF-8");
    Require(reason.size() <= 4096 + log.size() + 64, "a reason is longer than the tail window");
  }

  MetricsTail tail(metrics);
  const size_t third = first.size() / 3;
  for (const std::string_view part : {first.substr(0, third), first.substr(third, third), first.substr(2 * third)}) {
    Append(metrics, part);
    CheckRecords(tail);
  }
  Append(metrics, rest);
  CheckRecords(tail);
  return 0;
}
