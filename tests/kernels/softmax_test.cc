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
  std::vector<float> probabilities, logsumexp;
};

Rows Softmax(const std::vector<float>& logits, int64_t classes) {
  const int64_t rows = static_cast<int64_t>(logits.size()) / classes;
  Rows out{std::vector<float>(logits.size()), std::vector<float>(rows)};
  SoftmaxRowsCpu(logits.data(), rows, classes, out.probabilities.data(), out.logsumexp.data());
  return out;
}

// Every row length around the 8-wide lanes, logits spread wide enough that some exponents reach the
// polynomial's clamp at -87.
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
      EXPECT_NEAR(got.logsumexp[r], max + std::log(sum), 2e-6 * std::max(1.0, std::abs(max)));
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
    EXPECT_EQ(together.logsumexp[copy], alone.logsumexp[0]);
    for (int64_t c = 0; c < classes; ++c) EXPECT_EQ(together.probabilities[copy * classes + c], alone.probabilities[c]);
  }
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
