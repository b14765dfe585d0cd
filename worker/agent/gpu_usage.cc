#include "worker/agent/gpu_usage.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <vector>

namespace orchard::worker {
namespace {

// NVML's C interface, as its header declares it (stable across driver versions); declared here
// because the CUDA toolkit does not always ship nvml.h.
using NvmlReturn = int;
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr NvmlReturn kNvmlNotSupported = 3;
using NvmlDevice = struct NvmlDeviceOpaque*;
struct NvmlMemory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
struct NvmlUtilization {
  unsigned int gpu;
  unsigned int memory;
};

}  // namespace

struct GpuUsageSampler::Api {
  NvmlReturn (*init)();
  NvmlReturn (*shutdown)();
  const char* (*error_string)(NvmlReturn);
  NvmlReturn (*handle_by_index)(unsigned int, NvmlDevice*);
  NvmlReturn (*handle_by_uuid)(const char*, NvmlDevice*);
  NvmlReturn (*memory_info)(NvmlDevice, NvmlMemory*);
  NvmlReturn (*utilization_rates)(NvmlDevice, NvmlUtilization*);

  std::string Error(NvmlReturn code) const { return error_string(code) + (" (NVML error " + std::to_string(code) + ")"); }
};

namespace {

template <typename Function>
bool Find(void* library, const char* name, Function& function) {
  function = reinterpret_cast<Function>(dlsym(library, name));
  return function != nullptr;
}

}  // namespace

StatusOr<std::unique_ptr<GpuUsageSampler>> GpuUsageSampler::Open(const std::string& library) {
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr)
    return Unavailable("cannot load NVML (" + library + "): " + dlerror() + "; the NVIDIA driver is not installed here");
  auto api = std::make_unique<Api>();
  const char* missing = nullptr;
  if (!Find(handle, "nvmlInit_v2", api->init)) missing = "nvmlInit_v2";
  else if (!Find(handle, "nvmlShutdown", api->shutdown)) missing = "nvmlShutdown";
  else if (!Find(handle, "nvmlErrorString", api->error_string)) missing = "nvmlErrorString";
  else if (!Find(handle, "nvmlDeviceGetHandleByIndex_v2", api->handle_by_index)) missing = "nvmlDeviceGetHandleByIndex_v2";
  else if (!Find(handle, "nvmlDeviceGetHandleByUUID", api->handle_by_uuid)) missing = "nvmlDeviceGetHandleByUUID";
  else if (!Find(handle, "nvmlDeviceGetMemoryInfo", api->memory_info)) missing = "nvmlDeviceGetMemoryInfo";
  else if (!Find(handle, "nvmlDeviceGetUtilizationRates", api->utilization_rates)) missing = "nvmlDeviceGetUtilizationRates";
  if (missing != nullptr) {
    dlclose(handle);
    return Unavailable(library + " has no " + missing + ": the NVIDIA driver is older than NVML's version 2 interface");
  }
  if (const NvmlReturn code = api->init(); code != kNvmlSuccess) {
    const std::string why = api->Error(code);
    dlclose(handle);
    return Unavailable("NVML did not start: " + why);
  }
  return std::unique_ptr<GpuUsageSampler>(new GpuUsageSampler(handle, std::move(api)));
}

GpuUsageSampler::GpuUsageSampler(void* library, std::unique_ptr<Api> api) : library_(library), api_(std::move(api)) {}

GpuUsageSampler::~GpuUsageSampler() {
  api_->shutdown();
  dlclose(library_);
}

StatusOr<GpuSample> GpuUsageSampler::Sample(const std::string& visible_devices) {
  GpuSample sample;
  double utilization_sum = 0;
  int utilization_devices = 0;
  std::istringstream entries(visible_devices);
  for (std::string entry; std::getline(entries, entry, ',');) {
    if (entry.empty()) continue;
    NvmlDevice device = nullptr;
    NvmlReturn code;
    if (std::all_of(entry.begin(), entry.end(), [](unsigned char c) { return std::isdigit(c); })) {
      code = api_->handle_by_index(static_cast<unsigned int>(std::stoul(entry)), &device);
    } else {
      code = api_->handle_by_uuid(entry.c_str(), &device);
    }
    if (code != kNvmlSuccess) return NotFound("GPU '" + entry + "' is not known to NVML: " + api_->Error(code));
    NvmlMemory memory{};
    if (code = api_->memory_info(device, &memory); code != kNvmlSuccess)
      return Unavailable("GPU '" + entry + "': cannot read its memory: " + api_->Error(code));
    sample.memory_used_bytes += static_cast<int64_t>(memory.used);
    NvmlUtilization utilization{};
    code = api_->utilization_rates(device, &utilization);
    if (code == kNvmlSuccess) {
      utilization_sum += utilization.gpu;
      ++utilization_devices;
    } else if (code != kNvmlNotSupported) {
      return Unavailable("GPU '" + entry + "': cannot read its utilisation: " + api_->Error(code));
    }
  }
  if (utilization_devices > 0) {
    sample.has_utilization = true;
    sample.utilization_percent = utilization_sum / utilization_devices;
  }
  return sample;
}

}  // namespace orchard::worker
