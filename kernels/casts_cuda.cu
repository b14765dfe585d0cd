// CUDA twin of the 16-bit casts (casts.cc): grid-stride loops over the flat range.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda_util.h"

namespace orchard::kernels::detail {
namespace {

constexpr unsigned kMaxBlocks = 4096;

unsigned BlocksForElements(int64_t size) {
  return static_cast<unsigned>(std::min<int64_t>(kMaxBlocks, (size + kBlockThreads - 1) / kBlockThreads));
}

__global__ void ToHalfKernel(const float* src, uint16_t* dst, int64_t size, bool bf16) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < size; i += stride) {
    dst[i] = bf16 ? FloatToBf16(src[i]) : __half_as_ushort(__float2half_rn(src[i]));
  }
}

__global__ void FromHalfKernel(const uint16_t* src, float* dst, int64_t size, bool bf16, float scale) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < size; i += stride) {
    dst[i] = (bf16 ? Bf16ToFloat(src[i]) : __half2float(__ushort_as_half(src[i]))) * scale;
  }
}

}  // namespace

Status CastToHalfCuda(const float* src, uint16_t* dst, int64_t size, HalfType type, Stream stream) {
  if (size == 0) return OkStatus();
  ToHalfKernel<<<BlocksForElements(size), kBlockThreads, 0, AsCuda(stream)>>>(src, dst, size, type == HalfType::kBFloat16);
  ORCHARD_CUDA_RETURN_IF_ERROR("cast to 16-bit: launch", cudaGetLastError());
  return OkStatus();
}

Status CastFromHalfCuda(const uint16_t* src, float* dst, int64_t size, HalfType type, float scale, Stream stream) {
  if (size == 0) return OkStatus();
  FromHalfKernel<<<BlocksForElements(size), kBlockThreads, 0, AsCuda(stream)>>>(src, dst, size, type == HalfType::kBFloat16, scale);
  ORCHARD_CUDA_RETURN_IF_ERROR("cast from 16-bit: launch", cudaGetLastError());
  return OkStatus();
}

}  // namespace orchard::kernels::detail
