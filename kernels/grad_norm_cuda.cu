// CUDA twin of grad_norm_cpu.cc. One launch reduces every buffer (a table of spans in device memory,
// blocks striding over a flattened 64-bit index space); a second launch scales when clipping.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "kernels/grad_norm.h"

namespace orchard::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 1024;

struct DeviceSpan {
  float* data;
  int64_t size;
  int64_t offset;  // first flattened index of this span
};

// Finds the span holding flattened index i (spans sorted by offset).
__device__ int FindSpan(const DeviceSpan* spans, int count, int64_t i) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (spans[mid].offset <= i) lo = mid; else hi = mid - 1;
  }
  return lo;
}

__global__ void SumSquaresKernel(const DeviceSpan* spans, int count, int64_t total,
                                 double* block_sums) {
  __shared__ double shared[kThreads];
  double acc = 0;
  int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int span = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    if (i < spans[span].offset || i >= spans[span].offset + spans[span].size) span = FindSpan(spans, count, i);
    float v = spans[span].data[i - spans[span].offset];
    acc += static_cast<double>(v) * v;
  }
  shared[threadIdx.x] = acc;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) block_sums[blockIdx.x] = shared[0];
}

__global__ void ScaleKernel(const DeviceSpan* spans, int count, int64_t total, float scale) {
  int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int span = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    if (i < spans[span].offset || i >= spans[span].offset + spans[span].size) span = FindSpan(spans, count, i);
    spans[span].data[i - spans[span].offset] *= scale;
  }
}

// RAII for one device allocation.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t count) { ok_ = cudaMalloc(&ptr_, count * sizeof(T)) == cudaSuccess; }
  ~DeviceBuffer() { if (ok_) cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }
  bool ok() const { return ok_; }

 private:
  T* ptr_ = nullptr;
  bool ok_ = false;
};

GradNormResult Failed() { return {std::nan(""), false, 1.0}; }

}  // namespace

bool CudaKernelsAvailable() {
  int count = 0;
  // No driver or no device reads as "none", not as an error.
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

GradNormResult ClipGradNormCuda(const std::vector<FloatSpan>& grads, double max_norm) {
  std::vector<DeviceSpan> host;
  int64_t total = 0;
  for (const FloatSpan& g : grads) {
    if (g.size == 0) continue;
    host.push_back({g.data, g.size, total});
    total += g.size;
  }
  GradNormResult result;
  if (total == 0) return result;
  DeviceBuffer<DeviceSpan> spans(host.size());
  int blocks = static_cast<int>(std::min<int64_t>(kMaxBlocks, (total + kThreads - 1) / kThreads));
  DeviceBuffer<double> sums(blocks);
  if (!spans.ok() || !sums.ok()) return Failed();
  if (cudaMemcpy(spans.get(), host.data(), host.size() * sizeof(DeviceSpan), cudaMemcpyHostToDevice) != cudaSuccess) return Failed();
  SumSquaresKernel<<<blocks, kThreads>>>(spans.get(), static_cast<int>(host.size()), total, sums.get());
  std::vector<double> block_sums(blocks);
  if (cudaMemcpy(block_sums.data(), sums.get(), blocks * sizeof(double), cudaMemcpyDeviceToHost) != cudaSuccess) return Failed();
  double sum = 0;
  for (double s : block_sums) sum += s;
  result.norm = std::sqrt(sum);
  result.finite = std::isfinite(result.norm);
  if (!result.finite || max_norm <= 0 || result.norm <= max_norm) return result;
  result.scale = max_norm / (result.norm + 1e-6);
  ScaleKernel<<<blocks, kThreads>>>(spans.get(), static_cast<int>(host.size()), total, static_cast<float>(result.scale));
  if (cudaDeviceSynchronize() != cudaSuccess) return Failed();
  return result;
}

}  // namespace orchard::kernels
