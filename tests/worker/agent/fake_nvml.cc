// A stand-in for the NVIDIA driver's NVML library (libnvidia-ml.so.1), for machines without a GPU:
// three devices with fixed figures. Index 0 is GPU-0000 (1 GiB in use, 50% busy), index 1 is
// GPU-1111 (2 GiB, 100%), and MIG-2222 (512 MiB) reports no utilisation, as MIG instances do.
// FAKE_NVML_NO_DRIVER set in the environment makes nvmlInit_v2 fail as it does without a driver.
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int kSuccess = 0;
constexpr int kNotSupported = 3;
constexpr int kNotFound = 6;
constexpr int kDriverNotLoaded = 9;

struct Device {
  const char* uuid;
  unsigned long long used;
  int utilization;  // -1: not supported
};
const Device kDevices[] = {{"GPU-0000", 1ull << 30, 50}, {"GPU-1111", 2ull << 30, 100}, {"MIG-2222", 512ull << 20, -1}};
std::atomic<int> memory_reads{0};  // read by a test thread while the agent samples

}  // namespace

extern "C" {

struct NvmlMemory {
  unsigned long long total, free, used;
};
struct NvmlUtilization {
  unsigned int gpu, memory;
};

// How often a device's memory was read: tests wait on it instead of on time.
int fake_nvml_memory_reads() { return memory_reads; }

int nvmlInit_v2() { return std::getenv("FAKE_NVML_NO_DRIVER") ? kDriverNotLoaded : kSuccess; }
int nvmlShutdown() { return kSuccess; }
const char* nvmlErrorString(int code) {
  switch (code) {
    case kNotSupported: return "Not Supported";
    case kNotFound: return "Not Found";
    case kDriverNotLoaded: return "Driver Not Loaded";
    default: return "Unknown Error";
  }
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, const Device** device) {
  if (index >= 2) return kNotFound;  // the MIG instance has no index of its own
  *device = &kDevices[index];
  return kSuccess;
}
int nvmlDeviceGetHandleByUUID(const char* uuid, const Device** device) {
  for (const Device& d : kDevices) {
    if (std::strcmp(d.uuid, uuid) == 0) {
      *device = &d;
      return kSuccess;
    }
  }
  return kNotFound;
}
int nvmlDeviceGetMemoryInfo(const Device* device, NvmlMemory* memory) {
  ++memory_reads;
  *memory = {80ull << 30, (80ull << 30) - device->used, device->used};
  return kSuccess;
}
int nvmlDeviceGetUtilizationRates(const Device* device, NvmlUtilization* utilization) {
  if (device->utilization < 0) return kNotSupported;
  *utilization = {static_cast<unsigned int>(device->utilization), 0};
  return kSuccess;
}

}  // extern "C"
