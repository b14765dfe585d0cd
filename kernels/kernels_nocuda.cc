// Stand-ins for builds without a CUDA toolkit: no device kernels exist, and callers are told so.
#include <string>

#include "kernels/internal.h"

namespace orchard::kernels {
namespace {

Status NoCuda(const char* what) {
  return FailedPrecondition(std::string(what) + ": this build has no CUDA kernels (rebuild where nvcc is available)");
}

}  // namespace

bool CudaKernelsAvailable() { return false; }

namespace detail {

Status JudgeGradientsCuda(const std::vector<GradientGroup>&, const float*, StepVerdict*, Stream) {
  return NoCuda("gradient norm");
}
StatusOr<std::unique_ptr<MultiTensorOptimizer>> CreateCudaOptimizer(OptimizerKind, std::vector<OptimizerTensor>, size_t) {
  return NoCuda("fused optimizer");
}
Status CastToHalfCuda(const float*, uint16_t*, int64_t, HalfType, Stream) { return NoCuda("cast to 16-bit"); }
Status CastFromHalfCuda(const uint16_t*, float*, int64_t, HalfType, float, Stream) { return NoCuda("cast from 16-bit"); }

}  // namespace detail
}  // namespace orchard::kernels
