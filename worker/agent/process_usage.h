// What trainer processes use, read from /proc: CPU time and resident memory of a process and all
// its descendants (mpirun's ranks, a warm trainer's helpers), so a trial's cost covers every
// process it started; and the memory the host has left.
//
//   std::map<int, ProcessUsage> now = SampleProcessTrees({pid_a, pid_b});
//   peaks[pid_a].Add(now[pid_a]);
//
// Linux only; a process that is gone counts as nothing. Thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "worker/agent/gpu_usage.h"

namespace orchard::worker {

struct ProcessUsage {
  double cpu_seconds = 0;      // user + system, with waited-for children's
  int64_t resident_bytes = 0;  // resident set now
};

// For each root pid: its usage summed with its descendants' (all read in one pass over `proc_root`).
std::map<int, ProcessUsage> SampleProcessTrees(const std::vector<int>& roots, const std::string& proc_root = "/proc");

// The memory the host can give new work now (/proc/meminfo's MemAvailable); 0 when it cannot be read.
int64_t AvailableMemoryBytes(const std::string& proc_root = "/proc");

// The largest figures seen over a trainer's life: CPU time only grows while its processes live, so
// the last sample before it ended is its total (missing at most one sampling interval). Its GPUs'
// utilisation is the mean of the samples.
struct UsagePeak {
  double cpu_seconds = 0;
  int64_t peak_memory_bytes = 0;
  int64_t gpu_peak_memory_bytes = 0;
  double gpu_utilization_sum = 0;
  int gpu_utilization_samples = 0;
  void Add(const ProcessUsage& usage);
  void AddGpu(const GpuSample& sample);
  double GpuUtilizationPercent() const;  // 0 without samples
};

}  // namespace orchard::worker
