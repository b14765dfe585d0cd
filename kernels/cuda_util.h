// Internal to kernels/: helpers of the CUDA sources (device memory, error checks, the chunk tables).
#pragma once

#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "kernels/internal.h"

namespace orchard::kernels::detail {

constexpr int kBlockThreads = 256;

// Owns one device allocation of `count` T.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) : count_(count) {
    if (count > 0 && cudaMalloc(&ptr_, count * sizeof(T)) != cudaSuccess) ptr_ = nullptr, count_ = 0, failed_ = true;
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), count_(o.count_), failed_(o.failed_) { o.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_), std::swap(count_, o.count_), std::swap(failed_, o.failed_);
    return *this;
  }
  T* get() const { return ptr_; }
  bool ok() const { return !failed_; }

  // Copies host values in and waits until they are in device memory (a pageable copy may return
  // before then, and kernels on a non-blocking stream are not ordered after it). Tables are small
  // and copied once per plan.
  cudaError_t CopyFrom(const std::vector<T>& host) {
    if (host.empty()) return cudaSuccess;
    const cudaError_t copied = cudaMemcpy(ptr_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
    return copied != cudaSuccess ? copied : cudaStreamSynchronize(cudaStreamLegacy);
  }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
  bool failed_ = false;
};

inline Status CudaError(const std::string& what, cudaError_t e) {
  return Internal(what + ": " + cudaGetErrorString(e));
}

#define ORCHARD_CUDA_RETURN_IF_ERROR(what, expr)                          \
  do {                                                                    \
    cudaError_t orchard_cuda_error_ = (expr);                             \
    if (orchard_cuda_error_ != cudaSuccess) return ::orchard::kernels::detail::CudaError(what, orchard_cuda_error_); \
  } while (0)

inline cudaStream_t AsCuda(Stream stream) { return static_cast<cudaStream_t>(stream); }

// Blocks for `chunks` chunks: one per chunk up to a cap; blocks then stride over the chunks.
inline unsigned BlocksFor(size_t chunks) { return static_cast<unsigned>(std::min<size_t>(chunks, 65535)); }

}  // namespace orchard::kernels::detail
