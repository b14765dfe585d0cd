#include "kernels/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace orchard::kernels {
namespace {

// The plain reference: sum of squares in long double, one element at a time.
double ReferenceNorm(const std::vector<std::vector<float>>& buffers) {
  long double sum = 0;
  for (const auto& b : buffers)
    for (float v : b) sum += static_cast<long double>(v) * v;
  return std::sqrt(static_cast<double>(sum));
}

std::vector<FloatSpan> Spans(std::vector<std::vector<float>>& buffers) {
  std::vector<FloatSpan> spans;
  for (auto& b : buffers) spans.push_back({b.data(), static_cast<int64_t>(b.size())});
  return spans;
}

GradNormResult ClipCpu(const std::vector<FloatSpan>& spans, double max_norm,
                       ClipAction action = ClipAction::kScaleGradients) {
  StatusOr<GradNormResult> r = ClipGradNorm(spans, max_norm, Device::kCpu, action);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : GradNormResult{};
}

std::vector<std::vector<float>> RandomBuffers(std::vector<size_t> sizes, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> out;
  for (size_t n : sizes) {
    out.emplace_back(n);
    for (float& v : out.back()) v = normal(rng);
  }
  return out;
}

TEST(GradNormCpuTest, MatchesReferenceAcrossShapes) {
  // Sizes straddle the 64k-element chunks and the threading threshold.
  for (auto sizes : std::vector<std::vector<size_t>>{{1}, {3, 0, 7}, {65535, 65537}, {1 << 20, 5, 300000}}) {
    auto buffers = RandomBuffers(sizes, 7);
    double expected = ReferenceNorm(buffers);
    auto spans = Spans(buffers);
    GradNormResult r = ClipCpu(spans, 0);
    EXPECT_TRUE(r.finite);
    EXPECT_NEAR(r.norm, expected, 1e-9 * expected);
    EXPECT_EQ(r.scale, 1.0);
  }
}

TEST(GradNormCpuTest, ClipsToMaxNorm) {
  auto buffers = RandomBuffers({1000, 2000}, 3);
  auto original = buffers;
  auto spans = Spans(buffers);
  GradNormResult r = ClipCpu(spans, 1.0);
  ASSERT_GT(r.norm, 1.0);
  EXPECT_NEAR(r.scale, 1.0 / (r.norm + 1e-6), 1e-12);
  EXPECT_NEAR(ReferenceNorm(buffers), 1.0, 1e-5);
  EXPECT_FLOAT_EQ(buffers[1][17], original[1][17] * static_cast<float>(r.scale));
}

TEST(GradNormCpuTest, NoClipBelowMaxNorm) {
  std::vector<std::vector<float>> buffers = {{0.3f, 0.4f}};
  auto spans = Spans(buffers);
  GradNormResult r = ClipCpu(spans, 1.0);
  EXPECT_NEAR(r.norm, 0.5, 1e-7);
  EXPECT_EQ(buffers[0][0], 0.3f);
}

TEST(GradNormCpuTest, FlagsNonFiniteAndScalesNothing) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    auto buffers = RandomBuffers({100, 200000}, 5);
    buffers[1][123456] = bad;
    auto before = buffers;
    auto spans = Spans(buffers);
    GradNormResult r = ClipCpu(spans, 1.0);
    EXPECT_FALSE(r.finite) << bad;
    EXPECT_EQ(buffers[0], before[0]);
  }
}

TEST(GradNormCpuTest, LargeFiniteValuesAreNotMistakenForOverflow) {
  std::vector<std::vector<float>> buffers = {{1e30f, 1e30f}};  // squares overflow float, not double
  auto spans = Spans(buffers);
  GradNormResult r = ClipCpu(spans, 0);
  EXPECT_TRUE(r.finite);
  const double v = 1e30f;
  EXPECT_NEAR(r.norm, std::sqrt(2.0) * v, 1e-12 * v);
}

TEST(GradNormCpuTest, ComputeScaleOnlyLeavesTheBuffers) {
  auto buffers = RandomBuffers({5000}, 9);
  auto before = buffers;
  auto spans = Spans(buffers);
  GradNormResult r = ClipCpu(spans, 1.0, ClipAction::kComputeScaleOnly);
  ASSERT_GT(r.norm, 1.0);
  EXPECT_NEAR(r.scale, 1.0 / (r.norm + 1e-6), 1e-12);
  EXPECT_EQ(buffers, before);
}

TEST(GradNormCpuTest, RejectsBadBuffers) {
  StatusOr<GradNormResult> null_data = ClipGradNorm({{nullptr, 3}}, 1.0, Device::kCpu, ClipAction::kScaleGradients);
  ASSERT_FALSE(null_data.ok());
  EXPECT_NE(null_data.status().message().find("buffer 0"), std::string::npos) << null_data.status().message();
  float x = 1;
  EXPECT_FALSE(ClipGradNorm({{&x, -1}}, 1.0, Device::kCpu, ClipAction::kScaleGradients).ok());
  EXPECT_FALSE(ClipGradNorm({{&x, 1}}, std::nan(""), Device::kCpu, ClipAction::kScaleGradients).ok());
}

TEST(GradNormCpuTest, EmptyListHasZeroNorm) {
  GradNormResult r = ClipCpu({}, 1.0);
  EXPECT_TRUE(r.finite);
  EXPECT_EQ(r.norm, 0.0);
}

}  // namespace
}  // namespace orchard::kernels
