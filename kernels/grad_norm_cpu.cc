// The gradient judgement (norm, clip coefficient, divergence guard): the CPU twin, and the entry point
// that picks CPU or CUDA.
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

// Partials are summed in chunk order, so the result does not depend on the thread count.
double SumSquaresCpu(const std::vector<FloatSpan>& grads) {
  std::vector<int64_t> sizes;
  int64_t total = 0;
  for (const FloatSpan& g : grads) sizes.push_back(g.size), total += g.size;
  const std::vector<detail::Chunk> chunks = detail::PlanChunks(sizes, detail::kChunkElements);
  std::vector<double> partials(chunks.size());
  detail::ParallelFor(static_cast<int64_t>(chunks.size()), total, [&](int64_t c) {
    const detail::Chunk& chunk = chunks[c];
    partials[c] = SumSquares(grads[chunk.tensor].data + chunk.begin, chunk.end - chunk.begin);
  });
  double sum = 0;
  for (double p : partials) sum += p;
  return sum;
}

}  // namespace

Status JudgeGradients(const std::vector<FloatSpan>& grads, double max_norm, const float* loss, Device device,
                      StepVerdict* verdict, Stream stream) {
  for (size_t i = 0; i < grads.size(); ++i) {
    if (grads[i].size < 0 || (grads[i].size > 0 && !grads[i].data)) {
      return InvalidArgument("gradient norm: buffer " + std::to_string(i) + " has a null pointer or a negative size");
    }
  }
  if (!std::isfinite(max_norm)) return InvalidArgument("gradient norm: max_norm must be finite");
  if (verdict == nullptr) return InvalidArgument("gradient norm: no verdict to write to");
  if (device == Device::kCuda) return detail::JudgeGradientsCuda(grads, max_norm, loss, verdict, stream);
  detail::RecordJudgement(*verdict, SumSquaresCpu(grads), loss, max_norm);
  return OkStatus();
}

}  // namespace orchard::kernels
