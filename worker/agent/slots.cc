#include "worker/agent/slots.h"

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

Slots DetectSlots(int64_t cpu_slots, bool force_cpu) {
  if (!force_cpu) {
    if (const int gpus = GpuCount(); gpus > 0) return {gpus, "gpu"};
  }
  if (cpu_slots <= 0) cpu_slots = std::max<int64_t>(1, std::thread::hardware_concurrency() / 2);
  return {cpu_slots, "cpu"};
}

}  // namespace orchard::worker
