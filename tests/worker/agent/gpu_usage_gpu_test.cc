// GPU figures from the real driver's NVML: memory this test holds on the first GPU is seen in use.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <iostream>

#include "tests/util/gpu_test.h"
#include "worker/agent/gpu_usage.h"

namespace orchard::worker {
namespace {

TEST(GpuUsageGpuTest, TheDriversNvmlSeesMemoryHeldOnTheFirstGpu) {
  int gpus = 0;
  ORCHARD_NEEDS_GPU(cudaGetDeviceCount(&gpus) == cudaSuccess && gpus > 0, "no CUDA GPU visible: NVML is tested on a GPU machine");
  auto sampler = GpuUsageSampler::Open();
  ASSERT_TRUE(sampler.ok()) << sampler.status().message();
  constexpr int64_t kHeld = int64_t{1} << 30;
  void* held = nullptr;
  ASSERT_EQ(cudaMalloc(&held, kHeld), cudaSuccess);
  ASSERT_EQ(cudaMemset(held, 0, kHeld), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  // CUDA's device 0 is NVML's index 0 on a node of one GPU model (gpu_usage.h).
  const StatusOr<GpuSample> sample = (*sampler)->Sample("0");
  cudaFree(held);
  ASSERT_TRUE(sample.ok()) << sample.status().message();
  EXPECT_GE(sample->memory_used_bytes, kHeld);
  ASSERT_TRUE(sample->has_utilization);
  EXPECT_GE(sample->utilization_percent, 0);
  EXPECT_LE(sample->utilization_percent, 100);
  std::cout << "GPU 0 while this test holds 1 GiB: " << (sample->memory_used_bytes >> 20) << " MiB in use, "
            << sample->utilization_percent << "% busy\n";
}

}  // namespace
}  // namespace orchard::worker
