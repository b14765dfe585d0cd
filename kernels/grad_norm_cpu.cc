// The gradient judgement (norm, clip coefficient, divergence guard): the CPU twin, and the entry point
// that picks CPU or CUDA.
#include <cmath>
#include <string>

#include "kernels/internal.h"

namespace orchard::kernels {
namespace {

// Sum of squares accumulated in double (the wider type: squares of large finite values must not
// overflow into a false "non-finite"), in kLanes running sums added at the end: one running sum is
// a chain of dependent additions the compiler may not reorder, several are vector lanes.
constexpr int kLanes = 16;
ORCHARD_CPU_CLONES double SumSquares(const float* __restrict p, int64_t n) {
  double lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lanes[j] += static_cast<double>(p[i + j]) * p[i + j];
  }
  for (; i < n; ++i) lanes[i % kLanes] += static_cast<double>(p[i]) * p[i];
  double acc = 0;
  for (double lane : lanes) acc += lane;
  return acc;
}

}  // namespace

Status JudgeGradients(const std::vector<GradientGroup>& groups, const float* losses, Device device, StepVerdict* verdicts,
                      Stream stream) {
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string where = "gradient norm: group " + std::to_string(g) + " ";
    for (size_t i = 0; i < groups[g].grads.size(); ++i) {
      const FloatSpan& span = groups[g].grads[i];
      if (span.size < 0 || (span.size > 0 && !span.data)) {
        return InvalidArgument(where + "buffer " + std::to_string(i) + " has a null pointer or a negative size");
      }
    }
    if (!std::isfinite(groups[g].max_norm)) return InvalidArgument(where + "max_norm must be finite");
  }
  if (verdicts == nullptr) return InvalidArgument("gradient norm: no verdicts to write to");
  if (device == Device::kCuda) return detail::JudgeGradientsCuda(groups, losses, verdicts, stream);
  const detail::GroupChunks plan = detail::PlanGroupChunks(groups);
  int64_t total = 0;
  for (const FloatSpan& span : plan.spans) total += span.size;
  std::vector<double> partials(plan.chunks.size());
  detail::ParallelFor(static_cast<int64_t>(plan.chunks.size()), total, [&](int64_t c) {
    const detail::Chunk& chunk = plan.chunks[c];
    partials[c] = SumSquares(plan.spans[chunk.tensor].data + chunk.begin, chunk.end - chunk.begin);
  });
  // Each group's partials in chunk order, so its norm does not depend on the thread count.
  for (size_t g = 0; g < groups.size(); ++g) {
    double sum = 0;
    for (int64_t c = plan.group_begin[g]; c < plan.group_begin[g + 1]; ++c) sum += partials[c];
    detail::RecordJudgement(verdicts[g], sum, losses != nullptr ? losses + g : nullptr, groups[g].max_norm);
  }
  return OkStatus();
}

}  // namespace orchard::kernels
