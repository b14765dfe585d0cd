// The CPU's softmax rows (kernels::SoftmaxRowsCpu) against a double-precision reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/kernels.h"

namespace orchard::kernels {
namespace {

struct Rows {
  std::vector<float> probabilities, max, log_sum, logsumexp;
};

Rows Softmax(const std::vector<float>& logits, int64_t classes) {
  const auto rows = static_cast<size_t>(static_cast<int64_t>(logits.size()) / classes);
  Rows out{std::vector<float>(logits.size()), std::vector<float>(rows), std::vector<float>(rows), {}};
  SoftmaxRowsCpu(logits.data(), static_cast<int64_t>(rows), classes, out.probabilities.data(), out.max.data(),
                 out.log_sum.data());
  for (size_t r = 0; r < rows; ++r) out.logsumexp.push_back(out.max[r] + out.log_sum[r]);
  return out;
}

// Every row length around the 8-wide lanes, logits spread wide enough that some fall more than 64
// below their row's max, where e^x is taken as 0.
TEST(SoftmaxRowsCpuTest, MatchesADoublePrecisionReference) {
  std::mt19937 random(5);
  std::normal_distribution<float> normal(0.0f, 30.0f);
  for (int64_t classes = 1; classes <= 41; ++classes) {
    SCOPED_TRACE(std::to_string(classes) + " classes");
    std::vector<float> logits(3 * classes);
    for (float& z : logits) z = normal(random);
    const Rows got = Softmax(logits, classes);
    for (int64_t r = 0; r < 3; ++r) {
      const float* z = logits.data() + r * classes;
      const double max = *std::max_element(z, z + classes);
      double sum = 0;
      for (int64_t c = 0; c < classes; ++c) sum += std::exp(z[c] - max);
      EXPECT_EQ(got.max[r], static_cast<float>(max));
      EXPECT_NEAR(got.log_sum[r], std::log(sum), 1e-6 * std::max(1.0, std::log(sum)));
      for (int64_t c = 0; c < classes; ++c)
        EXPECT_NEAR(got.probabilities[r * classes + c], std::exp(z[c] - max) / sum, 1e-6) << "class " << c;
    }
  }
}

TEST(SoftmaxRowsCpuTest, EqualRowsGetEqualResultsWhereverTheySit) {
  const int64_t classes = 19;
  std::vector<float> row(classes);
  for (int64_t c = 0; c < classes; ++c) row[c] = 0.37f * static_cast<float>(c * c % 11) - 1.5f;
  std::vector<float> batch;
  for (int copy = 0; copy < 5; ++copy) batch.insert(batch.end(), row.begin(), row.end());
  const Rows alone = Softmax(row, classes), together = Softmax(batch, classes);
  for (int copy = 0; copy < 5; ++copy) {
    EXPECT_EQ(together.max[copy], alone.max[0]);
    EXPECT_EQ(together.log_sum[copy], alone.log_sum[0]);
    for (int64_t c = 0; c < classes; ++c) EXPECT_EQ(together.probabilities[copy * classes + c], alone.probabilities[c]);
  }
}

// A probability under e^-64 would become a denormal gradient once scaled by the batch: it is 0.
TEST(SoftmaxRowsCpuTest, AProbabilityFarBelowTheMaxIsZeroNotDenormal) {
  const Rows got = Softmax({0.0f, -70.0f, -63.0f}, 3);
  EXPECT_EQ(got.probabilities[1], 0.0f);
  EXPECT_GT(got.probabilities[2], 0.0f);
  EXPECT_NEAR(got.probabilities[2], std::exp(-63.0), 1e-6 * std::exp(-63.0));
}

TEST(SoftmaxRowsCpuTest, ARowWithANonFiniteLogitIsNaNAndItsNeighboursAreNot) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {0, 0, 0, 1, inf, 2, 0, 0, 0, std::nanf(""), 1, 1};
  const Rows got = Softmax(logits, 3);
  EXPECT_NEAR(got.logsumexp[0], std::log(3.0f), 1e-6);
  EXPECT_TRUE(std::isnan(got.logsumexp[1]));
  EXPECT_TRUE(std::isnan(got.probabilities[4]));
  EXPECT_NEAR(got.probabilities[6], 1.0f / 3, 1e-7);
  EXPECT_TRUE(std::isnan(got.logsumexp[3]));
}

}  // namespace
}  // namespace orchard::kernels
