// Softmax of rows of logits on the CPU (the classification loss's forward pass).
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/internal.h"

namespace orchard::kernels {
namespace {

constexpr int kLanes = 8;

// e^x for a finite x <= 0 in plain float arithmetic, which vectorizes (expf is a call per element):
// x = n ln 2 + r with |r| <= ln 2 / 2, e^r from its degree-7 Taylor polynomial, 2^n written into the
// exponent bits. Relative error within a few float ulps. Below -64, e^x (under 2e-28) is taken as 0:
// it adds nothing to a sum that holds a 1, and kept, such a probability times a batch's 1/B becomes a
// denormal gradient, which slows every product it meets many times over.
inline float ExpOfNonPositive(float x) {
  const bool negligible = x < -64.0f;
  x = negligible ? -64.0f : x;
  const float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;  // round to nearest (1.5 * 2^23)
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;     // ln 2 in two parts
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return negligible ? 0.0f : p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

// One row, in kLanes fixed lanes plus a tail: element c always takes the same path whatever the
// row's place in the batch, so equal rows give equal results. Returns the row's max; `log_sum` gets
// the log of its exponentials' sum after the max is taken off.
inline float SoftmaxRow(const float* __restrict z, int64_t classes, float* __restrict p, float* log_sum) {
  const int64_t blocked = classes / kLanes * kLanes;
  float lane_max[kLanes], lane_sum[kLanes] = {}, lane_check[kLanes] = {};
  for (int j = 0; j < kLanes; ++j) lane_max[j] = z[0];
  for (int64_t c = 0; c < blocked; c += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      lane_max[j] = lane_max[j] < z[c + j] ? z[c + j] : lane_max[j];
      lane_check[j] += z[c + j] * 0.0f;  // NaN once a logit is inf or NaN
    }
  }
  float max = z[0], check = 0;
  for (int j = 0; j < kLanes; ++j) max = max < lane_max[j] ? lane_max[j] : max, check += lane_check[j];
  for (int64_t c = blocked; c < classes; ++c) max = max < z[c] ? z[c] : max, check += z[c] * 0.0f;
  if (check != 0) {  // NaN: a logit is not finite
    for (int64_t c = 0; c < classes; ++c) p[c] = std::numeric_limits<float>::quiet_NaN();
    *log_sum = std::numeric_limits<float>::quiet_NaN();
    return std::numeric_limits<float>::quiet_NaN();
  }
  for (int64_t c = 0; c < blocked; c += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      p[c + j] = ExpOfNonPositive(z[c + j] - max);
      lane_sum[j] += p[c + j];
    }
  }
  float exp_sum = 0;
  for (int j = 0; j < kLanes; ++j) exp_sum += lane_sum[j];
  for (int64_t c = blocked; c < classes; ++c) exp_sum += p[c] = ExpOfNonPositive(z[c] - max);
  const float inverse = 1.0f / exp_sum;
  for (int64_t c = 0; c < classes; ++c) p[c] *= inverse;
  *log_sum = std::log(exp_sum);
  return max;
}

ORCHARD_CPU_CLONES void SoftmaxRows(const float* logits, int64_t rows, int64_t classes, float* probabilities,
                                    float* row_max, float* log_sum) {
  for (int64_t r = 0; r < rows; ++r)
    row_max[r] = SoftmaxRow(logits + r * classes, classes, probabilities + r * classes, log_sum + r);
}

}  // namespace

void SoftmaxRowsCpu(const float* logits, int64_t rows, int64_t classes, float* probabilities, float* row_max,
                    float* log_sum) {
  SoftmaxRows(logits, rows, classes, probabilities, row_max, log_sum);
}

}  // namespace orchard::kernels
