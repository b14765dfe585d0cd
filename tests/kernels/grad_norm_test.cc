#include "kernels/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
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

StepVerdict JudgeCpu(const std::vector<FloatSpan>& spans, double max_norm, const float* loss = nullptr) {
  StepVerdict verdict{};
  Status judged = JudgeGradients({{spans, max_norm}}, loss, Device::kCpu, &verdict);
  EXPECT_TRUE(judged.ok()) << judged.message();
  return verdict;
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
    StepVerdict v = JudgeCpu(Spans(buffers), 0);
    EXPECT_EQ(v.skip, 0);
    EXPECT_NEAR(v.last_norm, expected, 1e-9 * expected);
    EXPECT_EQ(v.scale, 1.0f);
  }
}

TEST(GradNormCpuTest, ScaleClipsToMaxNormAndLeavesTheBuffers) {
  auto buffers = RandomBuffers({1000, 2000}, 3);
  auto before = buffers;
  StepVerdict v = JudgeCpu(Spans(buffers), 1.0);
  ASSERT_GT(v.last_norm, 1.0);
  EXPECT_EQ(v.scale, static_cast<float>(1.0 / (v.last_norm + 1e-6)));
  EXPECT_EQ(buffers, before);
}

TEST(GradNormCpuTest, NoClipBelowMaxNorm) {
  std::vector<std::vector<float>> buffers = {{0.3f, 0.4f}};
  StepVerdict v = JudgeCpu(Spans(buffers), 1.0);
  EXPECT_NEAR(v.last_norm, 0.5, 1e-7);
  EXPECT_EQ(v.scale, 1.0f);
}

TEST(GradNormCpuTest, NonFiniteGradientsSetSkip) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    auto buffers = RandomBuffers({100, 200000}, 5);
    buffers[1][123456] = bad;
    StepVerdict v = JudgeCpu(Spans(buffers), 1.0);
    EXPECT_EQ(v.skip, 1) << bad;
    EXPECT_EQ(v.first_nonfinite, 1) << bad;
    EXPECT_FALSE(std::isfinite(v.last_norm)) << bad;
    EXPECT_EQ(v.scale, 1.0f) << bad;
  }
}

TEST(GradNormCpuTest, LargeFiniteValuesAreNotMistakenForOverflow) {
  std::vector<std::vector<float>> buffers = {{1e30f, 1e30f}};  // squares overflow float, not double
  StepVerdict v = JudgeCpu(Spans(buffers), 0);
  EXPECT_EQ(v.skip, 0);
  const double x = 1e30f;
  EXPECT_NEAR(v.last_norm, std::sqrt(2.0) * x, 1e-12 * x);
}

// Steps are tallied until the host zeroes the verdict: the losses' sum, and the first step that was
// not finite, after which skip stays set even when later steps are finite.
TEST(GradNormCpuTest, TalliesStepsUntilZeroedAndSkipStaysSet) {
  std::vector<std::vector<float>> good = {{0.3f, 0.4f}};
  std::vector<std::vector<float>> bad = {{std::numeric_limits<float>::quiet_NaN()}};
  StepVerdict v{};
  const float losses[] = {2.0f, 1.5f, std::numeric_limits<float>::infinity(), 1.0f};
  for (int step = 0; step < 4; ++step) {
    // The third step's loss is infinite with finite gradients; that alone sets skip.
    ASSERT_TRUE(JudgeGradients({{Spans(good), 0}}, &losses[step], Device::kCpu, &v).ok());
    EXPECT_EQ(v.skip, step >= 2 ? 1 : 0) << step;
  }
  EXPECT_EQ(v.steps, 4);
  EXPECT_EQ(v.first_nonfinite, 3);
  EXPECT_FALSE(std::isfinite(v.loss_sum));
  EXPECT_EQ(v.nonfinite_loss, std::numeric_limits<double>::infinity()) << "the figures of the step that diverged";
  EXPECT_NEAR(v.nonfinite_norm, 0.5, 1e-7);
  v = StepVerdict{};
  const float loss = 0.5f;
  ASSERT_TRUE(JudgeGradients({{Spans(good), 0}}, &loss, Device::kCpu, &v).ok());
  ASSERT_TRUE(JudgeGradients({{Spans(bad), 0}}, &loss, Device::kCpu, &v).ok());
  EXPECT_EQ(v.steps, 2);
  EXPECT_EQ(v.first_nonfinite, 2);
  EXPECT_EQ(v.loss_sum, 1.0);
}

TEST(GradNormCpuTest, RejectsBadBuffers) {
  StepVerdict v{};
  float x = 1;
  Status null_data = JudgeGradients({{{{&x, 1}}, 1.0}, {{{nullptr, 3}}, 1.0}}, nullptr, Device::kCpu, &v);
  ASSERT_FALSE(null_data.ok());
  EXPECT_NE(null_data.message().find("group 1 buffer 0"), std::string::npos) << null_data.message();
  EXPECT_FALSE(JudgeGradients({{{{&x, -1}}, 1.0}}, nullptr, Device::kCpu, &v).ok());
  EXPECT_FALSE(JudgeGradients({{{{&x, 1}}, std::nan("")}}, nullptr, Device::kCpu, &v).ok());
  EXPECT_FALSE(JudgeGradients({{{{&x, 1}}, 1.0}}, nullptr, Device::kCpu, nullptr).ok());
  EXPECT_EQ(v.steps, 0);
}

// The members of a fused group are judged in one call, each group with its own buffers, clip norm,
// loss and verdict, exactly as if judged alone: a member that is not finite skips only itself.
TEST(GradNormCpuTest, EachGroupIsJudgedAsIfAlone) {
  auto first = RandomBuffers({1000, 70000}, 5);
  auto second = RandomBuffers({3, 0}, 6);
  auto third = RandomBuffers({200}, 7);
  std::vector<std::vector<float>> empty;
  third[0][17] = std::numeric_limits<float>::infinity();
  const float losses[] = {1.5f, 2.5f, 0.5f, 3.0f};
  const std::vector<GradientGroup> groups = {{Spans(first), 1.0}, {Spans(second), 0}, {Spans(third), 2.0}, {Spans(empty), 1.0}};
  StepVerdict together[4] = {};
  ASSERT_TRUE(JudgeGradients(groups, losses, Device::kCpu, together).ok());
  for (size_t g = 0; g < groups.size(); ++g) {
    StepVerdict alone{};
    ASSERT_TRUE(JudgeGradients({groups[g]}, &losses[g], Device::kCpu, &alone).ok());
    EXPECT_EQ(std::memcmp(&together[g], &alone, sizeof alone), 0) << "group " << g;
  }
  EXPECT_EQ(together[0].skip, 0);
  EXPECT_LT(together[0].scale, 1.0f) << "clipped to its own max_norm";
  EXPECT_EQ(together[1].scale, 1.0f);
  EXPECT_EQ(together[2].skip, 1);
  EXPECT_EQ(together[3].last_norm, 0.0) << "a group without buffers has norm 0";
  EXPECT_EQ(together[3].loss_sum, 3.0);
}

TEST(GradNormCpuTest, EmptyListHasZeroNorm) {
  StepVerdict v = JudgeCpu({}, 1.0);
  EXPECT_EQ(v.skip, 0);
  EXPECT_EQ(v.last_norm, 0.0);
  EXPECT_EQ(v.steps, 1);
}

}  // namespace
}  // namespace orchard::kernels
