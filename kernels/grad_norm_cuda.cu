// CUDA twin of the gradient judgement (grad_norm_cpu.cc): one launch reduces every chunk of every
// buffer to a per-chunk partial sum, a second (one thread) adds them in chunk order, as the CPU twin
// does, and writes the verdict. Nothing comes back to the host. The tables are planned once for a set
// of gradient buffers and kept while the same buffers come back (every step of a run), so a step
// allocates nothing and copies no table.
#include <cmath>
#include <memory>

#include "kernels/cuda_util.h"

namespace orchard::kernels {
namespace detail {
namespace {

__global__ void SumSquaresKernel(const FloatSpan* spans, const Chunk* chunks, int64_t chunk_count, double* partials) {
  __shared__ double shared[kBlockThreads];
  for (int64_t c = blockIdx.x; c < chunk_count; c += gridDim.x) {
    const Chunk chunk = chunks[c];
    const float* data = spans[chunk.tensor].data;
    double acc = 0;
    for (int64_t i = chunk.begin + threadIdx.x; i < chunk.end; i += blockDim.x) {
      const double v = data[i];
      acc += v * v;
    }
    shared[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
      __syncthreads();
    }
    if (threadIdx.x == 0) partials[c] = shared[0];
    __syncthreads();
  }
}

// One thread: the partial sums in chunk order (so the norm does not depend on the launch shape).
__global__ void VerdictKernel(const double* partials, int64_t chunk_count, const float* loss, double max_norm,
                              StepVerdict* verdict) {
  double sum = 0;
  for (int64_t c = 0; c < chunk_count; ++c) sum += partials[c];
  RecordJudgement(*verdict, sum, loss, max_norm);
}

// The device tables for one set of gradient buffers.
struct GradNormPlan {
  std::vector<FloatSpan> grads;  // what it was planned for
  int64_t chunk_count = 0;
  DeviceBuffer<FloatSpan> spans;
  DeviceBuffer<Chunk> chunks;
  DeviceBuffer<double> partials;

  bool Fits(const std::vector<FloatSpan>& other) const {
    if (other.size() != grads.size()) return false;
    for (size_t i = 0; i < other.size(); ++i)
      if (other[i].data != grads[i].data || other[i].size != grads[i].size) return false;
    return true;
  }
};

// One per thread that trains (a trainer has one); replanned when its gradient buffers change.
StatusOr<GradNormPlan*> PlanFor(const std::vector<FloatSpan>& grads) {
  thread_local std::unique_ptr<GradNormPlan> plan;
  if (plan && plan->Fits(grads)) return plan.get();
  plan.reset();  // frees the old tables first (cudaFree waits for the kernels that read them)
  auto fresh = std::make_unique<GradNormPlan>();
  fresh->grads = grads;
  std::vector<int64_t> sizes;
  for (const FloatSpan& g : grads) sizes.push_back(g.size);
  const std::vector<Chunk> chunks = PlanChunks(sizes, kChunkElements);
  fresh->chunk_count = static_cast<int64_t>(chunks.size());
  if (chunks.empty()) return (plan = std::move(fresh)).get();
  fresh->spans = DeviceBuffer<FloatSpan>(grads.size());
  fresh->chunks = DeviceBuffer<Chunk>(chunks.size());
  fresh->partials = DeviceBuffer<double>(chunks.size());
  if (!fresh->spans.ok() || !fresh->chunks.ok() || !fresh->partials.ok())
    return Internal("gradient norm: out of device memory for its tables");
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: copying tables", fresh->spans.CopyFrom(grads));
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: copying tables", fresh->chunks.CopyFrom(chunks));
  return (plan = std::move(fresh)).get();
}

}  // namespace

Status JudgeGradientsCuda(const std::vector<FloatSpan>& grads, double max_norm, const float* loss, StepVerdict* verdict,
                          Stream stream) {
  ASSIGN_OR_RETURN(GradNormPlan* plan, PlanFor(grads));
  const auto count = plan->chunk_count;
  cudaGetLastError();  // a launch error must be this launch's, not one left by other CUDA work
  if (count > 0) {
    SumSquaresKernel<<<BlocksFor(static_cast<size_t>(count)), kBlockThreads, 0, AsCuda(stream)>>>(
        plan->spans.get(), plan->chunks.get(), count, plan->partials.get());
    ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: launch", cudaGetLastError());
  }
  VerdictKernel<<<1, 1, 0, AsCuda(stream)>>>(plan->partials.get(), count, loss, max_norm, verdict);
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: verdict launch", cudaGetLastError());
  return OkStatus();
}

}  // namespace detail

bool CudaKernelsAvailable() {
  int count = 0;
  // No driver or no device reads as "none", not as an error.
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

}  // namespace orchard::kernels
