// The cnn's batch norm on the CPU: Orchard's kernel (BatchNorm in worker/train/models.h, which the
// lone and fused cnn use) against LibTorch's batch norm followed by the residual sum and ReLU, as the
// cnn's blocks computed them before, forward and backward through autograd, side by side.
//
//   build/bin/orchard-bench-batchnorm [--repeats 200] [--threads 1]
//
// Shapes: a lone digits cnn's activations [32, 16, 8, 8], a fused group of 16's [32, 256, 8, 8] and
// its second stage's [32, 512, 4, 4]. Each comparison ends with a BENCH line (median time of a
// forward and backward pass, ratio = LibTorch's / Orchard's, > 1: Orchard's faster).
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "worker/train/models.h"

namespace {

using orchard::train::BatchNormTensors;

BatchNormTensors Fresh(int64_t channels) {
  return {torch::ones({channels}).requires_grad_(true), torch::zeros({channels}).requires_grad_(true),
          torch::zeros({channels}), torch::ones({channels}), torch::zeros({}, torch::kInt64)};
}

torch::Tensor LibTorchs(const torch::Tensor& x, const BatchNormTensors& bn, const torch::Tensor& residual) {
  torch::Tensor y = torch::batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, /*training=*/true, 0.1,
                                      1e-5, /*cudnn_enabled=*/false);
  return torch::relu(y + residual);
}

torch::Tensor Orchards(const torch::Tensor& x, const BatchNormTensors& bn, const torch::Tensor& residual) {
  return orchard::train::BatchNorm(x, bn, /*training=*/true, residual, /*relu=*/true);
}

// Median milliseconds of one forward and backward pass.
double Time(const std::function<torch::Tensor(const torch::Tensor&, const BatchNormTensors&, const torch::Tensor&)>& norm,
            const std::vector<int64_t>& shape, at::MemoryFormat layout, int repeats) {
  torch::manual_seed(1);
  auto fresh = [&] { return torch::randn(shape).contiguous(layout); };
  const torch::Tensor input = fresh(), residual_input = fresh(), grad = fresh();
  BatchNormTensors bn = Fresh(shape[1]);
  std::vector<double> ms;
  for (int r = 0; r < repeats + repeats / 10; ++r) {
    torch::Tensor x = input.detach().requires_grad_(true), residual = residual_input.detach().requires_grad_(true);
    const auto start = std::chrono::steady_clock::now();
    norm(x, bn, residual).backward(grad);
    const double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (r >= repeats / 10) ms.push_back(elapsed);  // the first tenth warms up
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"orchard-bench-batchnorm: the cnn's batch norm, residual and ReLU on the CPU, Orchard's kernel against LibTorch's."};
  int repeats = 200, threads = 1;
  app.add_option("--repeats", repeats, "Forward and backward passes timed per shape (the median counts)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--threads", threads, "CPU threads for both")->check(CLI::Range(1, 1024));
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(threads);
  orchard::kernels::SetCpuThreads(threads);
  std::printf("== batch norm + residual + ReLU, forward and backward, %d thread(s), median of %d\n", threads, repeats);
  std::printf("%-34s %14s %14s %8s\n", "activations", "LibTorch ms", "Orchard ms", "ratio");
  struct Activations {
    std::string name;
    std::vector<int64_t> shape;
    at::MemoryFormat layout;
  };
  // The lone cnn's activations are contiguous, a fused group's channels last (fused_models.cc).
  const std::vector<Activations> shapes = {
      {"lone_32x16x8x8", {32, 16, 8, 8}, at::MemoryFormat::Contiguous},
      {"fused16_32x256x8x8", {32, 256, 8, 8}, at::MemoryFormat::Contiguous},
      {"fused16_32x512x4x4", {32, 512, 4, 4}, at::MemoryFormat::Contiguous},
      {"fused16_32x256x8x8_channels_last", {32, 256, 8, 8}, at::MemoryFormat::ChannelsLast},
      {"fused16_32x512x4x4_channels_last", {32, 512, 4, 4}, at::MemoryFormat::ChannelsLast}};
  for (const auto& [name, shape, layout] : shapes) {
    // In turns, so that a slow spell of a shared machine falls on both.
    const double theirs = Time(LibTorchs, shape, layout, repeats), ours = Time(Orchards, shape, layout, repeats);
    std::printf("%-34s %14.3f %14.3f %7.2fx\n", name.c_str(), theirs, ours, theirs / ours);
    std::printf("BENCH batchnorm_relu_%s ours=%.4f peer=%.4f unit=ms ratio=%.3f\n", name.c_str(), ours, theirs, theirs / ours);
  }
  return 0;
}
