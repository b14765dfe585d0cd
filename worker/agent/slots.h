// What a worker offers: one slot per GPU the CUDA runtime sees, else a number of CPU slots.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace orchard::worker {

struct Slots {
  int64_t count = 0;
  std::string kind;                       // "gpu" | "cpu"
  std::vector<int64_t> gpu_memory_bytes = {};  // gpu: each GPU's memory by ordinal; empty when unknown
};

// GPUs through the CUDA runtime (any error there counts as none); with none, `cpu_slots` CPU slots
// (0: one per two cores, at least one). `force_cpu` ignores GPUs. The environment variable
// ORCHARD_GPU_INVENTORY ("80,80": each GPU's memory in GiB) stands in for the CUDA runtime, for tests
// and dry runs of GPU packing on machines without GPUs.
StatusOr<Slots> DetectSlots(int64_t cpu_slots, bool force_cpu);

// ORCHARD_GPU_INVENTORY's value as GPU slots. Errors name the entry and the expected form.
StatusOr<Slots> ParseGpuInventory(const std::string& text);

// Number of GPUs the CUDA runtime reports; 0 on any error or in a build without CUDA.
int GpuCount();

// What each trainer process's CUDA context holds on its GPU outside LibTorch's allocator (code,
// cuBLAS workspaces): a share of a GPU pays for it first, so trials packed to a GPU's memory fit.
inline constexpr int64_t kCudaContextBytes = int64_t{512} << 20;

// The allocator cap (a fraction of the GPU's memory) for a trial that shares a GPU of `gpu_bytes`
// with `share_bytes` of its memory: the share less kCudaContextBytes. Errors when nothing is left.
StatusOr<double> AllocatorFraction(int64_t share_bytes, int64_t gpu_bytes);

// Intra-op CPU threads for one rank of a trial on a worker with `gpus` GPUs and `cores` cores: the
// cores divided evenly between the GPUs, and for a trial that shares a GPU (gpu_fraction > 0) that
// fraction of its GPU's cores; at least 1.
int64_t GpuTrialThreads(int64_t cores, int64_t gpus, double gpu_fraction);

}  // namespace orchard::worker
