// GPU figures through NVML (worker/agent/gpu_usage.cc), against a stand-in for the driver's
// library (fake_nvml.cc): which device each CUDA_VISIBLE_DEVICES entry names, sums and means, the
// errors, and the agent reporting them in a GPU trainer's exit.
#include "worker/agent/gpu_usage.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "tests/util/test_util.h"
#include "tests/worker/agent/agent_fixture.h"

namespace orchard::worker {
namespace {

// The stand-in, where CMake built it; the test binary's run path finds it as libnvidia-ml.so.1 too.
const std::string kFakeNvml = ORCHARD_FAKE_NVML;

TEST(GpuUsageTest, SumsMemoryAndAveragesUtilisationOverATrainersDevices) {
  auto sampler = GpuUsageSampler::Open(kFakeNvml);
  ASSERT_TRUE(sampler.ok()) << sampler.status().message();
  struct Case {
    std::string visible;
    int64_t memory;
    bool has_utilization;
    double utilization;
  };
  const Case cases[] = {
      {"0", int64_t{1} << 30, true, 50},
      {"0,1", int64_t{3} << 30, true, 75},
      {"GPU-1111", int64_t{2} << 30, true, 100},
      {"MIG-2222", int64_t{512} << 20, false, 0},      // MIG reports no utilisation
      {"GPU-0000,MIG-2222", (int64_t{1} << 30) + (int64_t{512} << 20), true, 50},  // the mean of those that do
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.visible);
    const StatusOr<GpuSample> sample = (*sampler)->Sample(c.visible);
    ASSERT_TRUE(sample.ok()) << sample.status().message();
    EXPECT_EQ(sample->memory_used_bytes, c.memory);
    EXPECT_EQ(sample->has_utilization, c.has_utilization);
    EXPECT_DOUBLE_EQ(sample->utilization_percent, c.utilization);
  }
}

TEST(GpuUsageTest, AnUnknownDeviceIsNamedInTheError) {
  auto sampler = GpuUsageSampler::Open(kFakeNvml);
  ASSERT_TRUE(sampler.ok()) << sampler.status().message();
  for (const std::string entry : {"7", "GPU-9999"}) {
    const StatusOr<GpuSample> sample = (*sampler)->Sample("0," + entry);
    ASSERT_FALSE(sample.ok());
    EXPECT_EQ(sample.status().code(), StatusCode::kNotFound);
    EXPECT_NE(sample.status().message().find("GPU '" + entry + "' is not known to NVML: Not Found"), std::string::npos)
        << sample.status().message();
  }
}

TEST(GpuUsageTest, NoLibraryOrNoDriverSaysSo) {
  const auto absent = GpuUsageSampler::Open("/nonexistent/libnvidia-ml.so.1");
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.status().message().find("cannot load NVML (/nonexistent/libnvidia-ml.so.1)"), std::string::npos);
  EXPECT_NE(absent.status().message().find("the NVIDIA driver is not installed here"), std::string::npos);

  setenv("FAKE_NVML_NO_DRIVER", "1", 1);
  const auto no_driver = GpuUsageSampler::Open(kFakeNvml);
  unsetenv("FAKE_NVML_NO_DRIVER");
  ASSERT_FALSE(no_driver.ok());
  EXPECT_EQ(no_driver.status().message(), "NVML did not start: Driver Not Loaded (NVML error 9)");
}

// A worker with GPU slots samples its trainer's GPU while it runs and reports the figures with the
// exit; the agent loads the driver's library by its usual name (found here through the run path).
TEST_F(AgentTest, AGpuTrainersExitCarriesItsGpusPeakMemoryAndMeanUtilisation) {
  unsetenv("CUDA_VISIBLE_DEVICES");
  void* nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW);  // the same library the agent loads: one copy
  ASSERT_NE(nvml, nullptr) << dlerror();
  const auto memory_reads = reinterpret_cast<int (*)()>(dlsym(nvml, "fake_nvml_memory_reads"));
  ASSERT_NE(memory_reads, nullptr) << "libnvidia-ml.so.1 found is not the stand-in";

  AgentOptions options = Options();
  options.slots = Slots{2, "gpu", {}};
  Start(std::move(options));
  const int before = memory_reads();
  const int pid = LaunchAttempt(7);
  EXPECT_EQ(launcher_->launches().at(0).env.at("CUDA_VISIBLE_DEVICES"), "0");
  ASSERT_TRUE(WaitFor([&] { return memory_reads() > before; }, 5));
  launcher_->End(pid, 0, 0);
  ASSERT_TRUE(WaitFor([&] { return !coordinator_.exits().empty(); }, 5));
  EXPECT_TRUE(Stop().ok());
  dlclose(nvml);

  const auto exits = coordinator_.exits();
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].gpu_peak_memory_bytes(), int64_t{1} << 30);
  EXPECT_DOUBLE_EQ(exits[0].gpu_utilization_percent(), 50);
}

}  // namespace
}  // namespace orchard::worker
