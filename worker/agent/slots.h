// What a worker offers: one slot per GPU the CUDA runtime sees, else a number of CPU slots.
#pragma once

#include <cstdint>
#include <string>

namespace orchard::worker {

struct Slots {
  int64_t count = 0;
  std::string kind;  // "gpu" | "cpu"
};

// GPUs through the CUDA runtime (any error there counts as none); with none, `cpu_slots` CPU slots
// (0: one per two cores, at least one). `force_cpu` ignores GPUs.
Slots DetectSlots(int64_t cpu_slots, bool force_cpu);

// Number of GPUs the CUDA runtime reports; 0 on any error or in a build without CUDA.
int GpuCount();

}  // namespace orchard::worker
