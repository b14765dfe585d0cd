// The CUDA kernel against its CPU twin. Skipped, with a message, where no GPU is visible.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <random>

#include "kernels/grad_norm.h"

namespace orchard::kernels {
namespace {

TEST(GradNormGpuTest, MatchesCpuTwin) {
  if (!CudaKernelsAvailable()) GTEST_SKIP() << "no CUDA GPU visible: the CUDA kernel is compiled but not run here";
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> host = {std::vector<float>(3), std::vector<float>(1 << 20), std::vector<float>(777777)};
  for (auto& b : host)
    for (float& v : b) v = normal(rng);
  std::vector<FloatSpan> cpu_spans, gpu_spans;
  std::vector<float*> device;
  for (auto& b : host) {
    float* d = nullptr;
    ASSERT_EQ(cudaMalloc(&d, b.size() * sizeof(float)), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(d, b.data(), b.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    device.push_back(d);
    cpu_spans.push_back({b.data(), static_cast<int64_t>(b.size())});
    gpu_spans.push_back({d, static_cast<int64_t>(b.size())});
  }
  GradNormResult cpu = ClipGradNormCpu(cpu_spans, 10.0);
  GradNormResult gpu = ClipGradNormCuda(gpu_spans, 10.0);
  EXPECT_TRUE(gpu.finite);
  EXPECT_NEAR(gpu.norm, cpu.norm, 1e-9 * cpu.norm);
  for (size_t i = 0; i < host.size(); ++i) {
    std::vector<float> back(host[i].size());
    ASSERT_EQ(cudaMemcpy(back.data(), device[i], back.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
    for (size_t j = 0; j < back.size(); j += 997) EXPECT_NEAR(back[j], host[i][j], 1e-6f);
    cudaFree(device[i]);
  }
}

}  // namespace
}  // namespace orchard::kernels
