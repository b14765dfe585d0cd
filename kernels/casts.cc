// Casts of gradient buckets to 16-bit floats and back: the CPU twin, and the entry points that pick
// CPU or CUDA.
#include <string>

#include "kernels/internal.h"

namespace orchard::kernels {
namespace {

ORCHARD_CPU_CLONES void FloatToBf16Range(const float* __restrict src, uint16_t* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = detail::FloatToBf16(src[i]);
}
ORCHARD_CPU_CLONES void Bf16ToFloatRange(const uint16_t* __restrict src, float* __restrict dst, int64_t n, float scale) {
  for (int64_t i = 0; i < n; ++i) dst[i] = detail::Bf16ToFloat(src[i]) * scale;
}
// _Float16 conversions round to nearest even, as CUDA's __float2half_rn does.
ORCHARD_CPU_CLONES void FloatToFp16Range(const float* __restrict src, uint16_t* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const _Float16 h = static_cast<_Float16>(src[i]);
    std::memcpy(&dst[i], &h, sizeof h);
  }
}
ORCHARD_CPU_CLONES void Fp16ToFloatRange(const uint16_t* __restrict src, float* __restrict dst, int64_t n, float scale) {
  for (int64_t i = 0; i < n; ++i) {
    _Float16 h;
    std::memcpy(&h, &src[i], sizeof h);
    dst[i] = static_cast<float>(h) * scale;
  }
}

Status CheckBuffers(const char* what, const void* src, const void* dst, int64_t size) {
  if (size < 0) return InvalidArgument(std::string(what) + ": size must be >= 0, found " + std::to_string(size));
  if (size > 0 && (!src || !dst)) return InvalidArgument(std::string(what) + ": source and destination must not be null");
  return OkStatus();
}

// Chunks of the flat range [0, size), spread over the CPU threads.
template <typename Fn>
void ForRange(int64_t size, Fn fn) {
  const int64_t chunks = (size + detail::kChunkElements - 1) / detail::kChunkElements;
  detail::ParallelFor(chunks, size, [&](int64_t c) {
    const int64_t begin = c * detail::kChunkElements;
    fn(begin, std::min(size, begin + detail::kChunkElements) - begin);
  });
}

}  // namespace

Status CastToHalf(const float* src, uint16_t* dst, int64_t size, HalfType type, Device device, Stream stream) {
  RETURN_IF_ERROR(CheckBuffers("cast to 16-bit", src, dst, size));
  if (device == Device::kCuda) return detail::CastToHalfCuda(src, dst, size, type, stream);
  ForRange(size, [&](int64_t begin, int64_t n) {
    if (type == HalfType::kBFloat16) FloatToBf16Range(src + begin, dst + begin, n); else FloatToFp16Range(src + begin, dst + begin, n);
  });
  return OkStatus();
}

Status CastFromHalf(const uint16_t* src, float* dst, int64_t size, HalfType type, float scale, Device device,
                    Stream stream) {
  RETURN_IF_ERROR(CheckBuffers("cast from 16-bit", src, dst, size));
  if (device == Device::kCuda) return detail::CastFromHalfCuda(src, dst, size, type, scale, stream);
  ForRange(size, [&](int64_t begin, int64_t n) {
    if (type == HalfType::kBFloat16) Bf16ToFloatRange(src + begin, dst + begin, n, scale);
    else Fp16ToFloatRange(src + begin, dst + begin, n, scale);
  });
  return OkStatus();
}

}  // namespace orchard::kernels
