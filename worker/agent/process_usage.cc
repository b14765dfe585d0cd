#include "worker/agent/process_usage.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace orchard::worker {
namespace {

struct ProcessStat {
  int parent = 0;
  double cpu_seconds = 0;
  int64_t resident_bytes = 0;
};

// /proc/PID/stat: "pid (comm) state ppid ... utime stime cutime cstime ... rss ..."; comm may hold
// spaces and parentheses, so the fields are counted from its last ')'.
bool ReadStat(const std::filesystem::path& file, ProcessStat& stat) {
  std::ifstream in(file);
  std::string line;
  if (!std::getline(in, line)) return false;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(line.substr(close + 1));
  std::vector<std::string> values;  // values[0] is field 3 (state)
  for (std::string value; fields >> value;) values.push_back(value);
  if (values.size() < 22) return false;
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  static const int64_t page = sysconf(_SC_PAGESIZE);
  try {
    stat.parent = std::stoi(values[1]);
    double total = 0;
    for (int field = 14; field <= 17; ++field) total += std::stod(values[field - 3]);  // utime stime cutime cstime
    stat.cpu_seconds = total / ticks;
    stat.resident_bytes = std::stoll(values[24 - 3]) * page;
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

}  // namespace

std::map<int, ProcessUsage> SampleProcessTrees(const std::vector<int>& roots, const std::string& proc_root) {
  std::map<int, ProcessStat> processes;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(proc_root, error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    ProcessStat stat;
    if (ReadStat(entry.path() / "stat", stat)) processes[std::stoi(name)] = stat;
  }
  std::map<int, std::vector<int>> children;
  for (const auto& [pid, stat] : processes) children[stat.parent].push_back(pid);
  std::map<int, ProcessUsage> usage;
  for (int root : roots) {
    ProcessUsage& total = usage[root];
    std::vector<int> pending = {root};
    while (!pending.empty()) {
      const int pid = pending.back();
      pending.pop_back();
      const auto found = processes.find(pid);
      if (found == processes.end()) continue;
      total.cpu_seconds += found->second.cpu_seconds;
      total.resident_bytes += found->second.resident_bytes;
      for (int child : children[pid]) pending.push_back(child);
    }
  }
  return usage;
}

void UsagePeak::Add(const ProcessUsage& usage) {
  cpu_seconds = std::max(cpu_seconds, usage.cpu_seconds);
  peak_memory_bytes = std::max(peak_memory_bytes, usage.resident_bytes);
}

void UsagePeak::AddGpu(const GpuSample& sample) {
  gpu_peak_memory_bytes = std::max(gpu_peak_memory_bytes, sample.memory_used_bytes);
  if (!sample.has_utilization) return;
  gpu_utilization_sum += sample.utilization_percent;
  ++gpu_utilization_samples;
}

double UsagePeak::GpuUtilizationPercent() const {
  return gpu_utilization_samples > 0 ? gpu_utilization_sum / gpu_utilization_samples : 0;
}

int64_t AvailableMemoryBytes(const std::string& proc_root) {
  std::ifstream in(std::filesystem::path(proc_root) / "meminfo");
  for (std::string key; in >> key;) {
    int64_t kib = 0;
    if (key == "MemAvailable:") return in >> kib ? kib * 1024 : 0;
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

}  // namespace orchard::worker
