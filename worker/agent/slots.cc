#include "worker/agent/slots.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <thread>

#ifdef ORCHARD_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace orchard::worker {

int GpuCount() {
#ifdef ORCHARD_HAVE_CUDA
  int count = 0;
  // Without a driver this fails ("driver version is insufficient"): that means no GPU here.
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
#else
  return 0;
#endif
}

namespace {

// Each GPU's memory by ordinal; empty when a GPU cannot be queried.
std::vector<int64_t> GpuMemory(int gpus) {
  std::vector<int64_t> bytes;
#ifdef ORCHARD_HAVE_CUDA
  for (int g = 0; g < gpus; ++g) {
    cudaDeviceProp properties;
    if (cudaGetDeviceProperties(&properties, g) != cudaSuccess) return {};
    bytes.push_back(static_cast<int64_t>(properties.totalGlobalMem));
  }
#else
  (void)gpus;
#endif
  return bytes;
}

}  // namespace

StatusOr<Slots> ParseGpuInventory(const std::string& text) {
  Slots slots{0, "gpu", {}};
  std::stringstream entries(text);
  for (std::string entry; std::getline(entries, entry, ',');) {
    char* end = nullptr;
    const double gib = std::strtod(entry.c_str(), &end);
    const char* rest = end;
    while (*rest == ' ') ++rest;
    const bool whole_entry = end != entry.c_str() && *rest == '\0';
    if (!whole_entry || !std::isfinite(gib) || gib <= 0 || gib > 1024 * 1024)
      return InvalidArgument("ORCHARD_GPU_INVENTORY: entry " + std::to_string(slots.count + 1) + " (\"" + entry +
                             "\") is not a GPU's memory in GiB; write one positive number per GPU, e.g. \"80,80\"");
    slots.gpu_memory_bytes.push_back(static_cast<int64_t>(gib * 1024 * 1024 * 1024));
    ++slots.count;
  }
  if (slots.count == 0) return InvalidArgument("ORCHARD_GPU_INVENTORY is empty; write each GPU's memory in GiB, e.g. \"80,80\"");
  return slots;
}

StatusOr<Slots> DetectSlots(int64_t cpu_slots, bool force_cpu) {
  if (!force_cpu) {
    if (const char* inventory = std::getenv("ORCHARD_GPU_INVENTORY"); inventory != nullptr && *inventory != '\0')
      return ParseGpuInventory(inventory);
    if (const int gpus = GpuCount(); gpus > 0) return Slots{gpus, "gpu", GpuMemory(gpus)};
  }
  if (cpu_slots <= 0) cpu_slots = std::max<int64_t>(1, std::thread::hardware_concurrency() / 2);
  return Slots{cpu_slots, "cpu", {}};
}

StatusOr<double> AllocatorFraction(int64_t share_bytes, int64_t gpu_bytes) {
  const int64_t tensors = share_bytes - kCudaContextBytes;
  if (tensors <= 0 || gpu_bytes <= 0) {
    std::ostringstream message;
    message << "a share of " << static_cast<double>(share_bytes) / (1 << 20) << " MiB of the GPU leaves nothing for "
            << "tensors after the " << (kCudaContextBytes >> 20)
            << " MiB its CUDA context takes; raise sweep.gpu_memory_gib or sweep.gpu_fraction";
    return InvalidArgument(message.str());
  }
  return static_cast<double>(tensors) / static_cast<double>(gpu_bytes);
}

int64_t GpuTrialThreads(int64_t cores, int64_t gpus, double gpu_fraction) {
  const double per_gpu = static_cast<double>(cores) / static_cast<double>(std::max<int64_t>(1, gpus));
  const double threads = gpu_fraction > 0 ? per_gpu * gpu_fraction : per_gpu;
  return std::max<int64_t>(1, static_cast<int64_t>(std::floor(threads)));
}

}  // namespace orchard::worker
