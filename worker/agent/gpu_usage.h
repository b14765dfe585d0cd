// What a trainer's GPUs are doing, read through NVML (the driver's management library), loaded at
// run time so the worker builds and runs where no driver exists.
//
//   auto sampler = GpuUsageSampler::Open();          // an error where there is no NVML
//   StatusOr<GpuSample> now = (*sampler)->Sample("4,5");  // the trainer's CUDA_VISIBLE_DEVICES
//
// NVML sees whole devices: a device's memory in use counts every process on it (and the driver's
// contexts), which is the trainer's own only while it has its GPUs to itself, as workers give them.
// Thread-compatible.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace orchard::worker {

struct GpuSample {
  int64_t memory_used_bytes = 0;     // summed over the devices
  bool has_utilization = false;      // false where no device reports it (MIG instances)
  double utilization_percent = 0;    // mean over the devices that report it
};

class GpuUsageSampler {
 public:
  // Loads `library` and initialises NVML; the error says why not (no driver on this machine).
  static StatusOr<std::unique_ptr<GpuUsageSampler>> Open(const std::string& library = "libnvidia-ml.so.1");
  ~GpuUsageSampler();
  GpuUsageSampler(const GpuUsageSampler&) = delete;
  GpuUsageSampler& operator=(const GpuUsageSampler&) = delete;

  // `visible_devices` lists devices as CUDA_VISIBLE_DEVICES does: "GPU-..." and "MIG-..." UUIDs
  // name a device exactly; an index is NVML's, which is CUDA's on a node of one GPU model or with
  // CUDA_DEVICE_ORDER=PCI_BUS_ID. An unknown device is an error naming it.
  StatusOr<GpuSample> Sample(const std::string& visible_devices);

  struct Api;  // NVML's entry points

 private:
  GpuUsageSampler(void* library, std::unique_ptr<Api> api);
  void* library_;
  std::unique_ptr<Api> api_;
};

}  // namespace orchard::worker
