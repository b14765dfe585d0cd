// CUDA twin of the gradient norm (grad_norm_cpu.cc): one launch reduces every chunk of every buffer
// to a per-chunk partial sum, the host adds them in chunk order (deterministic, like the CPU twin),
// and a second launch scales when clipping. The tables are planned once for a set of gradient
// buffers and kept while the same buffers come back (every step of a run), so a step allocates
// nothing and copies no table; the partial sums come back through pinned memory.
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

__global__ void ScaleKernel(const FloatSpan* spans, const Chunk* chunks, int64_t chunk_count, float scale) {
  for (int64_t c = blockIdx.x; c < chunk_count; c += gridDim.x) {
    const Chunk chunk = chunks[c];
    float* data = spans[chunk.tensor].data;
    for (int64_t i = chunk.begin + threadIdx.x; i < chunk.end; i += blockDim.x) data[i] *= scale;
  }
}

// The device tables for one set of gradient buffers.
struct GradNormPlan {
  std::vector<FloatSpan> grads;  // what it was planned for
  int64_t chunk_count = 0;
  DeviceBuffer<FloatSpan> spans;
  DeviceBuffer<Chunk> chunks;
  DeviceBuffer<double> partials;
  double* pinned = nullptr;  // chunk_count partial sums, read back here

  ~GradNormPlan() {
    if (pinned) cudaFreeHost(pinned);
  }
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
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: pinned memory for its partial sums",
                               cudaMallocHost(reinterpret_cast<void**>(&fresh->pinned), chunks.size() * sizeof(double)));
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: copying tables", fresh->spans.CopyFrom(grads));
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: copying tables", fresh->chunks.CopyFrom(chunks));
  return (plan = std::move(fresh)).get();
}

}  // namespace

StatusOr<GradNormResult> ClipGradNormCuda(const std::vector<FloatSpan>& grads, double max_norm, ClipAction action) {
  ASSIGN_OR_RETURN(GradNormPlan* plan, PlanFor(grads));
  GradNormResult result;
  if (plan->chunk_count == 0) return result;
  const auto count = plan->chunk_count;
  const unsigned blocks = BlocksFor(static_cast<size_t>(count));
  cudaGetLastError();  // a launch error must be this launch's, not one left by other CUDA work
  SumSquaresKernel<<<blocks, kBlockThreads>>>(plan->spans.get(), plan->chunks.get(), count, plan->partials.get());
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: launch", cudaGetLastError());
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: reading partial sums",
                               cudaMemcpyAsync(plan->pinned, plan->partials.get(), count * sizeof(double),
                                               cudaMemcpyDeviceToHost, 0));
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: reading partial sums", cudaStreamSynchronize(0));
  double sum = 0;
  for (int64_t c = 0; c < count; ++c) sum += plan->pinned[c];
  result.norm = std::sqrt(sum);
  result.finite = std::isfinite(result.norm);
  result.scale = ClipCoefficient(result.norm, max_norm);
  if (action == ClipAction::kScaleGradients && result.scale != 1.0) {
    ScaleKernel<<<blocks, kBlockThreads>>>(plan->spans.get(), plan->chunks.get(), count, static_cast<float>(result.scale));
    ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: scaling", cudaGetLastError());
  }
  return result;
}

}  // namespace detail

bool CudaKernelsAvailable() {
  int count = 0;
  // No driver or no device reads as "none", not as an error.
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

}  // namespace orchard::kernels
