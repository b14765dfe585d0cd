// The CUDA kernels against their CPU twins. Skipped, with a message, where no GPU is visible (failed
// instead where ORCHARD_REQUIRE_GPU=1, as in scripts/gpu-check).
#include <cuda_runtime.h>

#include <array>
#include <cstring>
#include <limits>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "kernels/kernels.h"
#include "tests/util/gpu_test.h"
#include "worker/train/optimizers.h"

namespace orchard::kernels {
namespace {

bool HaveGpu() { return CudaKernelsAvailable() && torch::cuda::is_available(); }
#define SKIP_WITHOUT_GPU() ORCHARD_NEEDS_GPU(HaveGpu(), "no CUDA GPU visible: the CUDA kernels are compiled but not run here")

std::vector<FloatSpan> Spans(std::vector<torch::Tensor>& tensors) {
  std::vector<FloatSpan> spans;
  for (auto& t : tensors) spans.push_back({t.data_ptr<float>(), t.numel()});
  return spans;
}

std::vector<torch::Tensor> ToCuda(const std::vector<torch::Tensor>& host) {
  std::vector<torch::Tensor> out;
  for (const auto& t : host) out.push_back(t.to(torch::kCUDA));
  return out;
}

// The judgement of two groups (a fused pair's members) on the GPU, on a stream of its own, against
// the CPU twin; the verdicts stay in device memory until read.
TEST(KernelsGpuTest, JudgementMatchesCpuTwin) {
  SKIP_WITHOUT_GPU();
  torch::manual_seed(11);
  std::vector<torch::Tensor> first = {torch::randn({3}), torch::randn({1 << 20})};
  std::vector<torch::Tensor> second = {torch::randn({777777}), torch::randn({0})};
  std::vector<torch::Tensor> first_gpu = ToCuda(first), second_gpu = ToCuda(second);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  const auto verdict_bytes = static_cast<int64_t>(sizeof(StepVerdict));
  torch::Tensor on_device = torch::zeros({2 * verdict_bytes}, torch::TensorOptions().dtype(torch::kUInt8).device(torch::kCUDA));
  auto* gpu_verdicts = reinterpret_cast<StepVerdict*>(on_device.data_ptr());
  const auto read = [&] {
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    std::array<StepVerdict, 2> v;
    torch::Tensor copy = on_device.cpu();
    std::memcpy(v.data(), copy.data_ptr(), sizeof v);
    return v;
  };
  const float host_losses[] = {2.5f, 0.5f};
  torch::Tensor losses = torch::tensor({2.5f, 0.5f}).to(torch::kCUDA);
  // The judgements run on their own stream: LibTorch's fills and copies (on its stream) are done first.
  torch::cuda::synchronize();
  StepVerdict cpu[2] = {};
  ASSERT_TRUE(JudgeGradients({{Spans(first), 10.0}, {Spans(second), 1e4}}, host_losses, Device::kCpu, cpu).ok());
  const std::vector<GradientGroup> on_gpu = {{Spans(first_gpu), 10.0}, {Spans(second_gpu), 1e4}};
  ASSERT_TRUE(JudgeGradients(on_gpu, losses.data_ptr<float>(), Device::kCuda, gpu_verdicts, stream).ok());
  std::array<StepVerdict, 2> gpu = read();
  for (int g = 0; g < 2; ++g) {
    EXPECT_EQ(gpu[g].skip, 0) << g;
    EXPECT_EQ(gpu[g].steps, 1) << g;
    EXPECT_EQ(gpu[g].loss_sum, host_losses[g]) << g;
    EXPECT_NEAR(gpu[g].last_norm, cpu[g].last_norm, 1e-9 * cpu[g].last_norm) << g;
    EXPECT_NEAR(gpu[g].scale, cpu[g].scale, 1e-6f * cpu[g].scale) << g;
  }
  EXPECT_LT(gpu[0].scale, 1.0f) << "a norm near 1024 clipped to 10";
  EXPECT_EQ(gpu[1].scale, 1.0f) << "a norm near 882 under 1e4";
  for (size_t i = 0; i < first.size(); ++i) EXPECT_TRUE(torch::equal(first_gpu[i].cpu(), first[i]));

  first_gpu[1][12345] = std::numeric_limits<float>::quiet_NaN();
  torch::cuda::synchronize();
  ASSERT_TRUE(JudgeGradients(on_gpu, losses.data_ptr<float>(), Device::kCuda, gpu_verdicts, stream).ok());
  std::array<StepVerdict, 2> bad = read();
  EXPECT_EQ(bad[0].skip, 1);
  EXPECT_EQ(bad[0].first_nonfinite, 2);
  EXPECT_EQ(bad[1].skip, 0) << "only the group that was not finite skips";
  cudaStreamDestroy(stream);
}

// 20 steps of each optimizer on the GPU (on a stream of its own) and on the CPU, fp32 and bf16
// parameters, two groups, each with a verdict that scales some steps and skips one.
TEST(KernelsGpuTest, OptimizersMatchCpuTwin) {
  SKIP_WITHOUT_GPU();
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  const auto verdict_bytes = static_cast<int64_t>(sizeof(StepVerdict));
  torch::Tensor gpu_verdicts = torch::zeros({2 * verdict_bytes}, torch::TensorOptions().dtype(torch::kUInt8).device(torch::kCUDA));
  const std::vector<int64_t> sizes = {5, 0, 65536, 65537, 1000003};
  for (OptimizerKind kind : {OptimizerKind::kSgd, OptimizerKind::kAdam, OptimizerKind::kAdamW}) {
    for (ParamType type : {ParamType::kFloat32, ParamType::kBFloat16}) {
      torch::manual_seed(7);
      struct Side {
        std::vector<torch::Tensor> params, master, grads, m, v;
        std::unique_ptr<MultiTensorOptimizer> opt;
      } cpu, gpu;
      for (int64_t n : sizes) {
        torch::Tensor p = torch::randn({n});
        cpu.master.push_back(p.clone());
        cpu.params.push_back(type == ParamType::kBFloat16 ? p.to(torch::kBFloat16) : p.clone());
        cpu.grads.push_back(torch::zeros({n}));
        cpu.m.push_back(torch::zeros({n}));
        cpu.v.push_back(torch::zeros({n}));
      }
      for (auto [from, to] : {std::pair{&cpu.params, &gpu.params}, {&cpu.master, &gpu.master}, {&cpu.grads, &gpu.grads},
                              {&cpu.m, &gpu.m}, {&cpu.v, &gpu.v}}) {
        *to = ToCuda(*from);
      }
      for (auto [side, device] : {std::pair{&cpu, Device::kCpu}, {&gpu, Device::kCuda}}) {
        std::vector<OptimizerTensor> tensors;
        for (size_t i = 0; i < sizes.size(); ++i) {
          tensors.push_back({side->params[i].data_ptr(), side->grads[i].data_ptr<float>(), side->m[i].data_ptr<float>(),
                             side->v[i].data_ptr<float>(), side->master[i].data_ptr<float>(), sizes[i],
                             static_cast<int32_t>(i % 2), type});
        }
        auto opt = MultiTensorOptimizer::Create(kind, tensors, 2, device);
        ASSERT_TRUE(opt.ok()) << opt.status().message();
        side->opt = std::move(*opt);
      }
      for (int64_t step = 1; step <= 20; ++step) {
        std::vector<OptimizerGroup> groups(2);
        groups[0].lr = 0.01, groups[0].momentum = 0.9, groups[0].weight_decay = 0.01, groups[0].step = step;
        groups[1].lr = 0.003, groups[1].beta1 = 0.8, groups[1].momentum = 0.5, groups[1].nesterov = true, groups[1].step = step;
        groups[1].grad_scale = 0.5;
        ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);  // the last step read the buffers refilled here
        for (size_t i = 0; i < sizes.size(); ++i) {
          cpu.grads[i].copy_(torch::randn({sizes[i]}));
          gpu.grads[i].copy_(cpu.grads[i]);
        }
        StepVerdict verdicts[2] = {};
        verdicts[0].scale = step % 2 == 0 ? 0.75f : 1.0f;
        verdicts[0].skip = step == 7 ? 1 : 0;
        verdicts[1].scale = step % 3 == 0 ? 0.5f : 1.0f;
        verdicts[1].skip = step == 12 ? 1 : 0;
        gpu_verdicts.copy_(torch::from_blob(verdicts, {2 * verdict_bytes}, torch::kUInt8));
        torch::cuda::synchronize();  // the copies above ran on LibTorch's stream, the step runs on its own
        ASSERT_TRUE(cpu.opt->Step(groups, verdicts).ok());
        ASSERT_TRUE(gpu.opt->Step(groups, reinterpret_cast<StepVerdict*>(gpu_verdicts.data_ptr()), stream).ok());
      }
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      for (size_t i = 0; i < sizes.size(); ++i) {
        // nvcc contracts multiply-adds into FMAs, so the two differ by rounding: fp32 values (master
        // weights for bf16) closely, their bf16 roundings by at most one bf16 step.
        const torch::Tensor& cpu_fp32 = type == ParamType::kBFloat16 ? cpu.master[i] : cpu.params[i];
        const torch::Tensor& gpu_fp32 = type == ParamType::kBFloat16 ? gpu.master[i] : gpu.params[i];
        EXPECT_TRUE(torch::allclose(gpu_fp32.cpu(), cpu_fp32, 1e-5, 1e-6)) << "kind " << static_cast<int>(kind) << " tensor " << i;
        if (type == ParamType::kBFloat16) {
          EXPECT_TRUE(torch::allclose(gpu.params[i].cpu().to(torch::kFloat32), cpu.params[i].to(torch::kFloat32), 1e-2, 1e-5));
        }
      }
    }
  }
  cudaStreamDestroy(stream);
}

TEST(KernelsGpuTest, CastsMatchCpuTwinBitForBit) {
  SKIP_WITHOUT_GPU();
  torch::manual_seed(2);
  torch::Tensor values = torch::randn({1 << 20}) * 1000;
  torch::Tensor values_gpu = values.to(torch::kCUDA);
  for (HalfType type : {HalfType::kBFloat16, HalfType::kFloat16}) {
    torch::Tensor cpu_half = torch::empty({values.numel()}, torch::kInt16);
    torch::Tensor gpu_half = torch::empty({values.numel()}, torch::TensorOptions().dtype(torch::kInt16).device(torch::kCUDA));
    ASSERT_TRUE(CastToHalf(values.data_ptr<float>(), reinterpret_cast<uint16_t*>(cpu_half.data_ptr()), values.numel(), type, Device::kCpu).ok());
    ASSERT_TRUE(CastToHalf(values_gpu.data_ptr<float>(), reinterpret_cast<uint16_t*>(gpu_half.data_ptr()), values.numel(), type, Device::kCuda).ok());
    EXPECT_TRUE(torch::equal(gpu_half.cpu(), cpu_half));
    torch::Tensor back = torch::empty_like(values_gpu);
    ASSERT_TRUE(CastFromHalf(reinterpret_cast<uint16_t*>(gpu_half.data_ptr()), back.data_ptr<float>(), values.numel(), type, 0.25f,
                             Device::kCuda).ok());
    torch::Tensor back_cpu = torch::empty_like(values);
    ASSERT_TRUE(CastFromHalf(reinterpret_cast<uint16_t*>(cpu_half.data_ptr()), back_cpu.data_ptr<float>(), values.numel(), type, 0.25f,
                             Device::kCpu).ok());
    EXPECT_TRUE(torch::equal(back.cpu(), back_cpu));
  }
}

// The runtime's fused optimizer on CUDA parameters against the same on CPU parameters.
TEST(KernelsGpuTest, RuntimeOptimizerOnCudaParameters) {
  SKIP_WITHOUT_GPU();
  OptimizerSpec spec;
  spec.type = "adamw";
  torch::manual_seed(8);
  std::vector<torch::Tensor> cpu = {torch::randn({100, 10}).requires_grad_(true), torch::randn({10}).requires_grad_(true)};
  std::vector<torch::Tensor> gpu = {cpu[0].detach().to(torch::kCUDA).requires_grad_(true), cpu[1].detach().to(torch::kCUDA).requires_grad_(true)};
  auto on_cpu = train::MakeOptimizer(spec, cpu);
  auto on_gpu = train::MakeOptimizer(spec, gpu);
  ASSERT_TRUE(on_cpu.ok() && on_gpu.ok()) << on_gpu.status().message();
  for (int step = 0; step < 10; ++step) {
    for (size_t i = 0; i < cpu.size(); ++i) {
      cpu[i].mutable_grad() = torch::randn(cpu[i].sizes());
      gpu[i].mutable_grad() = cpu[i].grad().to(torch::kCUDA);
    }
    ASSERT_TRUE((*on_cpu)->Step(1e-2, nullptr).ok());
    ASSERT_TRUE((*on_gpu)->Step(1e-2, nullptr).ok());
  }
  for (size_t i = 0; i < cpu.size(); ++i) EXPECT_TRUE(torch::allclose(gpu[i].detach().cpu(), cpu[i].detach(), 1e-5, 1e-6));
}

}  // namespace
}  // namespace orchard::kernels
