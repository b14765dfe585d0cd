// The global gradient norm and clip: the CPU twin, and the entry point that picks CPU or CUDA.
#include <cmath>

#include "kernels/internal.h"

namespace orchard::kernels {
namespace {

// Sum of squares accumulated in double (the wider type: squares of large finite values must not
// overflow into a false "non-finite").
ORCHARD_CPU_CLONES double SumSquares(const float* __restrict p, int64_t n) {
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(p[i]) * p[i];
  return acc;
}

ORCHARD_CPU_CLONES void Scale(float* __restrict p, int64_t n, float scale) {
  for (int64_t i = 0; i < n; ++i) p[i] *= scale;
}

StatusOr<GradNormResult> ClipGradNormCpu(const std::vector<FloatSpan>& grads, double max_norm, ClipAction action) {
  std::vector<int64_t> sizes;
  int64_t total = 0;
  for (const FloatSpan& g : grads) sizes.push_back(g.size), total += g.size;
  const std::vector<detail::Chunk> chunks = detail::PlanChunks(sizes, detail::kChunkElements);
  std::vector<double> partials(chunks.size());
  detail::ParallelFor(static_cast<int64_t>(chunks.size()), total, [&](int64_t c) {
    const detail::Chunk& chunk = chunks[c];
    partials[c] = SumSquares(grads[chunk.tensor].data + chunk.begin, chunk.end - chunk.begin);
  });
  // Partials are summed in chunk order, so the result does not depend on the thread count.
  double sum = 0;
  for (double p : partials) sum += p;
  GradNormResult result;
  result.norm = std::sqrt(sum);
  result.finite = std::isfinite(result.norm);
  result.scale = detail::ClipCoefficient(result.norm, max_norm);
  if (action == ClipAction::kScaleGradients && result.scale != 1.0) {
    const float scale = static_cast<float>(result.scale);
    detail::ParallelFor(static_cast<int64_t>(chunks.size()), total, [&](int64_t c) {
      const detail::Chunk& chunk = chunks[c];
      Scale(grads[chunk.tensor].data + chunk.begin, chunk.end - chunk.begin, scale);
    });
  }
  return result;
}

}  // namespace

namespace detail {

double ClipCoefficient(double norm, double max_norm) {
  if (!std::isfinite(norm) || max_norm <= 0 || norm <= max_norm) return 1.0;
  return max_norm / (norm + 1e-6);  // the coefficient of torch.nn.utils.clip_grad_norm_
}

}  // namespace detail

StatusOr<GradNormResult> ClipGradNorm(const std::vector<FloatSpan>& grads, double max_norm, Device device, ClipAction action) {
  for (size_t i = 0; i < grads.size(); ++i) {
    if (grads[i].size < 0 || (grads[i].size > 0 && !grads[i].data)) {
      return InvalidArgument("gradient norm: buffer " + std::to_string(i) + " has a null pointer or a negative size");
    }
  }
  if (!std::isfinite(max_norm)) return InvalidArgument("gradient norm: max_norm must be finite");
  if (device == Device::kCuda) return detail::ClipGradNormCuda(grads, max_norm, action);
  return ClipGradNormCpu(grads, max_norm, action);
}

}  // namespace orchard::kernels
