// The classification loss both trainers use: LibTorch's cross-entropy in value and gradient, and each
// of a fused group's members exactly what it would be alone.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>

#include "worker/train/trainer_internal.h"

namespace orchard::train {
namespace {

namespace F = torch::nn::functional;

struct LossAndGradient {
  torch::Tensor loss, gradient;
};

LossAndGradient Ours(const torch::Tensor& logits, const torch::Tensor& targets, bool sum) {
  torch::Tensor z = logits.clone().requires_grad_(true);
  torch::Tensor loss = ClassificationLosses(z, targets, sum);
  loss.sum().backward();
  return {loss.detach(), z.grad()};
}

TEST(ClassificationLossesTest, AgreesWithLibTorchsCrossEntropyInValueAndGradient) {
  torch::manual_seed(3);
  const torch::Tensor logits = torch::randn({3, 37, 10}) * 4;
  const torch::Tensor targets = torch::randint(0, 10, {37}, torch::kInt64);
  for (bool sum : {false, true}) {
    SCOPED_TRACE(sum ? "sum" : "mean");
    const LossAndGradient ours = Ours(logits, targets, sum);
    for (int64_t g = 0; g < 3; ++g) {
      torch::Tensor z = logits[g].clone().requires_grad_(true);
      F::CrossEntropyFuncOptions options;
      if (sum) options.reduction(torch::kSum);
      torch::Tensor theirs = F::cross_entropy(z, targets, options);
      theirs.backward();
      EXPECT_NEAR(ours.loss[g].item<float>(), theirs.item<float>(), 1e-5 * std::abs(theirs.item<float>()));
      EXPECT_TRUE(torch::allclose(ours.gradient[g], z.grad(), /*rtol=*/1e-5, /*atol=*/1e-7));
    }
  }
}

TEST(ClassificationLossesTest, EachGroupIsExactlyWhatItIsAlone) {
  torch::manual_seed(4);
  for (int64_t classes : {2, 8, 17}) {
    for (int64_t batch : {1, 50, 64}) {
      SCOPED_TRACE(std::to_string(classes) + " classes, batch " + std::to_string(batch));
      const torch::Tensor logits = torch::randn({5, batch, classes}) * 3;
      const torch::Tensor targets = torch::randint(0, classes, {batch}, torch::kInt64);
      const LossAndGradient together = Ours(logits, targets, /*sum=*/false);
      for (int64_t g = 0; g < 5; ++g) {
        const LossAndGradient alone = Ours(logits.narrow(0, g, 1), targets, /*sum=*/false);
        EXPECT_TRUE(torch::equal(together.loss.narrow(0, g, 1), alone.loss));
        EXPECT_TRUE(torch::equal(together.gradient.narrow(0, g, 1), alone.gradient));
      }
    }
  }
}

// A confident, right prediction has a loss far below the logits' precision (8.3e-7 against logits of
// 30, whose float spacing is 1.9e-6): it must not round to 0. Its log of a sum near 1 is as precise
// as float allows there (to about 1e-7, as LibTorch's).
TEST(ClassificationLossesTest, AConfidentRowKeepsItsSmallLoss) {
  const torch::Tensor logits = torch::tensor({30.0f, 16.0f}).view({1, 1, 2});
  const float loss = ClassificationLosses(logits, torch::tensor({0}, torch::kInt64), false).item<float>();
  EXPECT_GT(loss, 0.0f);
  EXPECT_NEAR(loss, std::log1p(std::exp(-14.0)), 1e-7);
}

TEST(ClassificationLossesTest, ANonFiniteLogitMakesOnlyItsGroupsLossNonFinite) {
  torch::Tensor logits = torch::zeros({2, 4, 3});
  logits[1][2][0] = std::numeric_limits<float>::quiet_NaN();
  const torch::Tensor loss = ClassificationLosses(logits, torch::tensor({0, 1, 2, 0}, torch::kInt64), false);
  EXPECT_NEAR(loss[0].item<float>(), std::log(3.0f), 1e-6);
  EXPECT_TRUE(std::isnan(loss[1].item<float>()));
}

TEST(ClassificationLossesTest, ATargetOutsideTheClassesIsAnErrorThatSaysSo) {
  try {
    ClassificationLosses(torch::zeros({1, 2, 3}), torch::tensor({0, 3}, torch::kInt64), false);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("target 3 of sample 1 is not a class of this model (0 to 2)"),
              std::string::npos)
        << e.what_without_backtrace();
  }
}

}  // namespace
}  // namespace orchard::train
