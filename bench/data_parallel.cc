// Data-parallel benchmarks, run under mpirun (e.g. `mpirun --oversubscribe -np 2 orchard-bench-dp`):
//  1. all-reduce bandwidth through Orchard's MPI communicator against raw MPI_Allreduce of the same
//     buffers (the communicator's thread and queue must add next to nothing);
//  2. the engine's step time with bucketed all-reduce overlapped with backward against all-reduce
//     after backward, on the same model and data (real Train() runs);
//  3. with a GPU: NCCL all-reduce bandwidth of a world of one, and the engine's step time there.
// Each comparison ends with a BENCH line (ratio > 1: ours is better). Rank 0 prints.
#include <CLI/CLI.hpp>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

#ifdef ORCHARD_HAVE_CUDA
#include <cuda_runtime.h>
#endif

#include "core/file_tree.h"
#include "core/recipe.h"
#include "worker/comm/mpi_communicator.h"
#include "worker/comm/nccl_communicator.h"
#include "worker/train/trainer.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace comm = orchard::comm;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// Median over `repeats` of the seconds one call of `run` takes, after a warm-up; ranks in step.
template <typename Run>
double MedianSeconds(int repeats, Run run) {
  run();
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto start = Clock::now();
    run();
    times.push_back(Seconds(start));
  }
  std::sort(times.begin(), times.end());
  double median = times[times.size() / 2];
  MPI_Allreduce(MPI_IN_PLACE, &median, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);  // the slowest rank's
  return median;
}

// Bus bandwidth of an all-reduce, as NCCL's tests define it: bytes x 2(n-1)/n per second.
double BusGBps(double bytes, int ranks, double seconds) { return bytes * 2.0 * (ranks - 1) / ranks / seconds / 1e9; }

void AllReduceBandwidth(int rank, int ranks, int repeats) {
  auto ours = comm::MakeMpiCommunicator(MPI_COMM_WORLD, 600);
  if (!ours.ok()) std::fprintf(stderr, "%s\n", ours.status().message().c_str()), std::exit(1);
  MPI_Comm raw;
  MPI_Comm_dup(MPI_COMM_WORLD, &raw);
  if (rank == 0) std::printf("\nall-reduce (sum, float32), %d ranks, median of %d\n%-10s %14s %14s\n", ranks, repeats, "size", "orchard GB/s", "raw MPI GB/s");
  for (int64_t mb : {1, 25, 100}) {
    const int64_t count = mb * 1024 * 1024 / 4;
    std::vector<float> buffer(count, 1.0f);
    const double t_ours = MedianSeconds(repeats, [&] {
      if (!(*ours)->AllReduce({buffer.data(), count, comm::DataType::kFloat32}, comm::ReduceOp::kSum).ok()) std::exit(1);
    });
    const double t_raw = MedianSeconds(repeats, [&] {
      MPI_Allreduce(MPI_IN_PLACE, buffer.data(), static_cast<int>(count), MPI_FLOAT, MPI_SUM, raw);
    });
    const double bytes = static_cast<double>(count) * 4;
    if (rank == 0) {
      const double o = BusGBps(bytes, ranks, t_ours), p = BusGBps(bytes, ranks, t_raw);
      std::printf("%-10s %14.2f %14.2f\n", (std::to_string(mb) + " MB").c_str(), o, p);
      std::printf("BENCH allreduce_%lldMB_%dranks ours=%.3f peer=%.3f unit=GB/s ratio=%.3f\n", static_cast<long long>(mb), ranks, o, p, o / p);
    }
  }
  MPI_Comm_free(&raw);
}

orchard::Recipe EngineRecipe(bool overlap, const std::string& device, int64_t steps) {
  auto recipe = orchard::ParseRecipe(
      "name: dp-bench\n"
      "model: {type: mlp, hidden: [1024, 1024, 1024, 1024]}\n"
      "data: {type: synthetic, samples: 8192, features: 512, classes: 10}\n"
      "train: {steps: " + std::to_string(steps) + ", batch_size: 64, threads: 1, device: " + device + "}\n"
      "distributed: {bucket_mb: 4, overlap: " + (overlap ? "true" : "false") + "}\n",
      "dp-bench.yaml", {});
  if (!recipe.ok()) std::fprintf(stderr, "%s\n", recipe.status().message().c_str()), std::exit(1);
  return *recipe;
}

double EngineStepMs(comm::Communicator* communicator, bool overlap, const std::string& device, int cuda_device,
                    const std::string& out, int64_t steps) {
  orchard::train::TrainOptions options;
  options.output_dir = out;
  options.communicator = communicator;
  options.cuda_device = cuda_device;
  auto result = orchard::train::Train(EngineRecipe(overlap, device, steps), options);
  if (!result.ok()) std::fprintf(stderr, "%s\n", result.status().message().c_str()), std::exit(1);
  return result->step_time_ms;
}

std::string SharedTempDir(int rank) {
  char path[256] = {};
  if (rank == 0) {
    std::snprintf(path, sizeof path, "%s", (std::filesystem::temp_directory_path() / "orchard-bench-dp-XXXXXX").c_str());
    if (!mkdtemp(path)) std::perror("mkdtemp"), std::exit(1);
  }
  MPI_Bcast(path, sizeof path, MPI_CHAR, 0, MPI_COMM_WORLD);
  return path;
}

void Overlap(int rank, int ranks, int64_t steps, int repeats) {
  auto world = comm::MakeMpiCommunicator(MPI_COMM_WORLD, 600);
  if (!world.ok()) std::exit(1);
  const std::string dir = SharedTempDir(rank);
  std::vector<double> on, off;
  for (int i = 0; i < repeats; ++i) {
    on.push_back(EngineStepMs(world->get(), true, "cpu", 0, dir + "/on-" + std::to_string(i), steps));
    off.push_back(EngineStepMs(world->get(), false, "cpu", 0, dir + "/off-" + std::to_string(i), steps));
  }
  std::sort(on.begin(), on.end());
  std::sort(off.begin(), off.end());
  if (rank == 0) {
    const double o = on[on.size() / 2], p = off[off.size() / 2];
    std::printf("\nengine step time, MLP 512-1024x4-10 (3.7M parameters, 4 MB buckets), batch 64 per rank, %d ranks on CPU\n", ranks);
    std::printf("  overlapped (buckets during backward): %8.2f ms/step\n", o);
    std::printf("  all-reduce after backward:            %8.2f ms/step\n", p);
    std::printf("BENCH dp_overlap_cpu_%dranks ours=%.2f peer=%.2f unit=ms/step ratio=%.3f\n", ranks, o, p, p / o);
    orchard::RemoveTree(dir);
  }
}

void Gpu(int rank, int64_t steps) {
  if (comm::VisibleGpuCount() == 0 || !comm::NcclAvailable()) {
    if (rank == 0) std::printf("\nGPU: skipped (no CUDA GPU visible or no NCCL in this build)\n");
    return;
  }
  auto single = comm::MakeWorldOfOne();
  auto nccl = comm::MakeNcclCommunicator(*single, 0, 600);
  if (!nccl.ok()) std::fprintf(stderr, "%s\n", nccl.status().message().c_str()), std::exit(1);
#ifdef ORCHARD_HAVE_CUDA
  for (int64_t mb : {25, 256}) {
    const int64_t count = mb * 1024 * 1024 / 4;
    void* device = nullptr;
    if (cudaMalloc(&device, count * 4) != cudaSuccess) std::exit(1);
    cudaMemset(device, 0, count * 4);
    const double t = MedianSeconds(20, [&] {
      if (!(*nccl)->AllReduce({device, count, comm::DataType::kFloat32}, comm::ReduceOp::kSum).ok()) std::exit(1);
    });
    cudaFree(device);
    std::printf("\nNCCL all-reduce, world of one, %lld MB: %.3f ms, %.1f GB/s algorithm bandwidth\n",
                static_cast<long long>(mb), t * 1e3, count * 4.0 / t / 1e9);
  }
#endif
  const std::string dir = SharedTempDir(rank);
  const double ms = EngineStepMs(nccl->get(), true, "cuda", 0, dir + "/gpu", steps);
  std::printf("  engine step time on GPU with NCCL (world of one): %.2f ms/step\n", ms);
  orchard::RemoveTree(dir);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"orchard-bench-dp: communicator bandwidth against raw MPI, and the overlap gain of bucketed all-reduce."};
  int repeats = 10, engine_repeats = 3;
  int64_t steps = 40;
  app.add_option("--repeats", repeats, "Timed all-reduces per size")->capture_default_str();
  app.add_option("--engine-repeats", engine_repeats, "Training runs per engine variant")->capture_default_str();
  app.add_option("--steps", steps, "Steps per training run")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!comm::InitMpi().ok()) return 1;
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  if (ranks < 2 && rank == 0) std::printf("note: run under mpirun with 2 or more ranks for meaningful figures\n");
  AllReduceBandwidth(rank, ranks, repeats);
  Overlap(rank, ranks, steps, engine_repeats);
  if (ranks == 1) Gpu(rank, steps);
  return 0;
}
