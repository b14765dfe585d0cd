// Optimizer step time: Orchard's fused kernels (through the training runtime's optimizer) against
// LibTorch's torch::optim (one parameter at a time) and PyTorch's own fused kernel at::_fused_adamw_,
// side by side in one run, for (a) a few large tensors and (b) many small ones.
//
//   build/bin/orchard-bench-optim [--device cpu|cuda] [--steps 20] [--large 100000000]
//
// Each comparison ends with a BENCH line (median step time, ratio = peer / ours, > 1: ours faster).
// On a GPU it also prints fused AdamW's achieved memory bandwidth against the device's peak (AdamW
// reads param, grad, exp_avg, exp_avg_sq and writes three of them back: 28 bytes per fp32 parameter).
#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#ifdef ORCHARD_HAVE_CUDA
#include <cuda_runtime.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

#include "kernels/kernels.h"
#include "worker/train/optimizers.h"

namespace {

using orchard::OptimizerSpec;

struct Shape {
  std::string name;
  int64_t tensors;
  int64_t elements;  // per tensor
};

void Sync(const torch::Device& device) {
#ifdef ORCHARD_HAVE_CUDA
  if (device.is_cuda()) cudaDeviceSynchronize();
#else
  (void)device;
#endif
}

// Median seconds of `steps` calls after two warm-up calls.
double MedianSeconds(int steps, const torch::Device& device, const std::function<void()>& step) {
  for (int i = 0; i < 2; ++i) step();
  Sync(device);
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    Sync(device);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Fresh parameters with gradients, the same for every implementation (same seed).
std::vector<torch::Tensor> Params(const Shape& shape, const torch::Device& device) {
  torch::manual_seed(1);
  std::vector<torch::Tensor> params;
  for (int64_t i = 0; i < shape.tensors; ++i) {
    torch::Tensor p = torch::randn({shape.elements}, torch::TensorOptions().device(device)).requires_grad_(true);
    p.mutable_grad() = torch::randn({shape.elements}, torch::TensorOptions().device(device)) * 0.01;
    params.push_back(p);
  }
  return params;
}

OptimizerSpec Spec(const std::string& type, const std::string& impl) {
  OptimizerSpec spec;
  spec.type = type;
  spec.impl = impl;
  spec.lr = 1e-3;
  spec.weight_decay = 0.01;
  if (type == "sgd") spec.momentum = 0.9;
  return spec;
}

double RuntimeOptimizer(const Shape& shape, const torch::Device& device, const std::string& type, const std::string& impl, int steps) {
  std::vector<torch::Tensor> params = Params(shape, device);
  auto opt = orchard::train::MakeOptimizer(Spec(type, impl), params);
  if (!opt.ok()) throw std::runtime_error(opt.status().message());
  return MedianSeconds(steps, device, [&] {
    orchard::Status s = (*opt)->Step(1e-3, nullptr);
    if (!s.ok()) throw std::runtime_error(s.message());
  });
}

// at::_fused_adamw_ as torch.optim.AdamW(fused=True) calls it: step counters bumped first, then one
// call over the lists.
double AtenFusedAdamW(const Shape& shape, const torch::Device& device, int steps) {
  std::vector<torch::Tensor> params = Params(shape, device);
  std::vector<torch::Tensor> grads, exp_avgs, exp_avg_sqs, state_steps;
  for (auto& p : params) {
    grads.push_back(p.grad());
    exp_avgs.push_back(torch::zeros_like(p));
    exp_avg_sqs.push_back(torch::zeros_like(p));
    state_steps.push_back(torch::zeros({}, torch::TensorOptions().device(device)));
  }
  std::vector<torch::Tensor> data;
  for (auto& p : params) data.push_back(p.detach());
  return MedianSeconds(steps, device, [&] {
    torch::NoGradGuard no_grad;
    at::_foreach_add_(state_steps, 1);
    at::_fused_adamw_(data, grads, exp_avgs, exp_avg_sqs, {}, state_steps, 1e-3, 0.9, 0.999, 0.01, 1e-8, false, false);
  });
}

void Bench(const std::string& name, double ours, double peer) {
  std::printf("BENCH %s ours=%.3f peer=%.3f unit=ms ratio=%.2f\n", name.c_str(), ours * 1e3, peer * 1e3, peer / ours);
  std::fflush(stdout);
}

double PeakBandwidthGBps() {
#ifdef ORCHARD_HAVE_CUDA
  int device = 0, clock_khz = 0, bus_bits = 0;
  cudaGetDevice(&device);
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device) != cudaSuccess) {
    return 0;
  }
  return 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;  // double data rate
#else
  return 0;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Optimizer step time: fused kernels against torch::optim and at::_fused_adamw_."};
  std::string device_name = "cpu";
  int steps = 20;
  int64_t large = 100'000'000;
  int threads = 0;
  app.add_option("--device", device_name, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--steps", steps, "timed steps per figure (the median is reported)")->check(CLI::Range(1, 10000));
  app.add_option("--large", large, "parameters in total of the few-large-tensors case (4 tensors)")->check(CLI::Range(int64_t{4}, int64_t{1} << 34));
  app.add_option("--threads", threads, "CPU threads for both sides (0: all cores)")->check(CLI::Range(0, 1024));
  CLI11_PARSE(app, argc, argv);
  if (device_name == "cuda" && !orchard::kernels::CudaKernelsAvailable()) {
    std::fprintf(stderr, "--device cuda: no CUDA GPU visible (or this build has no CUDA kernels)\n");
    return 2;
  }
  if (threads > 0) {
    at::set_num_threads(threads);
    orchard::kernels::SetCpuThreads(threads);
  }
  const torch::Device device = device_name == "cuda" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  std::printf("device %s, %d intra-op threads, median of %d steps\n", device_name.c_str(), at::get_num_threads(), steps);

  const std::vector<Shape> shapes = {{"large", 4, large / 4}, {"small", 1000, 10'000}};
  for (const Shape& shape : shapes) {
    const std::string tag = shape.name + "_" + device_name;
    std::printf("-- %s: %lld tensors x %lld elements\n", shape.name.c_str(), static_cast<long long>(shape.tensors),
                static_cast<long long>(shape.elements));
    const int n = shape.name == "large" && device_name == "cpu" ? std::min(steps, 5) : steps;
    const double fused = RuntimeOptimizer(shape, device, "adamw", "fused", n);
    const double per_param = RuntimeOptimizer(shape, device, "adamw", "torch", n);
    const double aten = AtenFusedAdamW(shape, device, n);
    Bench("adamw_" + tag + "_vs_torch_optim", fused, per_param);
    Bench("adamw_" + tag + "_vs_aten_fused_adamw", fused, aten);
    if (device.is_cuda()) {
      const double bytes = 28.0 * static_cast<double>(shape.tensors * shape.elements);
      const double peak = PeakBandwidthGBps();
      std::printf("adamw %s: fused %.0f GB/s, at::_fused_adamw_ %.0f GB/s, peak %.0f GB/s (fused %.0f%% of peak)\n", shape.name.c_str(),
                  bytes / fused / 1e9, bytes / aten / 1e9, peak, peak > 0 ? 100.0 * bytes / fused / 1e9 / peak : 0.0);
    }
    if (shape.name == "small") {
      for (const std::string type : {"adam", "sgd"}) {
        Bench(type + "_" + tag + "_vs_torch_optim", RuntimeOptimizer(shape, device, type, "fused", n),
              RuntimeOptimizer(shape, device, type, "torch", n));
      }
    }
  }
  return 0;
}
