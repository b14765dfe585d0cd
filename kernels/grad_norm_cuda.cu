// CUDA twin of the gradient norm (grad_norm_cpu.cc): one launch reduces every chunk of every buffer
// to a per-chunk partial sum, the host adds them in chunk order (deterministic, like the CPU twin),
// and a second launch scales when clipping.
#include <cmath>

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

}  // namespace

StatusOr<GradNormResult> ClipGradNormCuda(const std::vector<FloatSpan>& grads, double max_norm, ClipAction action) {
  std::vector<int64_t> sizes;
  for (const FloatSpan& g : grads) sizes.push_back(g.size);
  const std::vector<Chunk> chunks = PlanChunks(sizes, kChunkElements);
  GradNormResult result;
  if (chunks.empty()) return result;
  DeviceBuffer<FloatSpan> spans(grads.size());
  DeviceBuffer<Chunk> chunk_table(chunks.size());
  DeviceBuffer<double> partials(chunks.size());
  if (!spans.ok() || !chunk_table.ok() || !partials.ok()) return Internal("gradient norm: out of device memory for its tables");
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: copying tables", spans.CopyFrom(grads));
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: copying tables", chunk_table.CopyFrom(chunks));
  const auto count = static_cast<int64_t>(chunks.size());
  cudaGetLastError();  // a launch error must be this launch's, not one left by other CUDA work
  SumSquaresKernel<<<BlocksFor(chunks.size()), kBlockThreads>>>(spans.get(), chunk_table.get(), count, partials.get());
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: launch", cudaGetLastError());
  std::vector<double> host(chunks.size());
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: reading partial sums",
                               cudaMemcpy(host.data(), partials.get(), host.size() * sizeof(double), cudaMemcpyDeviceToHost));
  double sum = 0;
  for (double s : host) sum += s;
  result.norm = std::sqrt(sum);
  result.finite = std::isfinite(result.norm);
  result.scale = ClipCoefficient(result.norm, max_norm);
  if (action == ClipAction::kScaleGradients && result.scale != 1.0) {
    ScaleKernel<<<BlocksFor(chunks.size()), kBlockThreads>>>(spans.get(), chunk_table.get(), count, static_cast<float>(result.scale));
    ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: scaling", cudaGetLastError());
    // The tables are freed on return; the launch must be done with them.
    ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: scaling", cudaDeviceSynchronize());
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
