// The cnn's batch norm (BatchNorm in models.h): on the CPU Orchard's one-pass kernel, which must
// agree with LibTorch's batch norm, residual sum and ReLU in value, gradients and running statistics,
// and give a fused group's member channels exactly what its lone model's get.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <vector>

#include "worker/train/models.h"

namespace orchard::train {
namespace {

BatchNormTensors Fresh(int64_t channels) {
  torch::manual_seed(11);
  return {(torch::rand({channels}) + 0.5).requires_grad_(true), torch::randn({channels}).requires_grad_(true),
          torch::randn({channels}) * 0.1, torch::rand({channels}) + 0.5, torch::zeros({}, torch::kInt64)};
}

struct Outcome {
  torch::Tensor y, grad_x, grad_weight, grad_bias, grad_residual, running_mean, running_var, batches;
};

// LibTorch's batch norm, then the residual and ReLU, as the cnn's blocks computed them before.
torch::Tensor Reference(const torch::Tensor& x, const BatchNormTensors& bn, bool training, const torch::Tensor& residual,
                        bool relu) {
  if (training) bn.batches.add_(1);
  torch::Tensor y = torch::batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, training, 0.1, 1e-5, false);
  if (residual.defined()) y = y + residual;
  return relu ? torch::relu(y) : y;
}

template <typename Norm>
Outcome Normalise(Norm norm, const torch::Tensor& input, const torch::Tensor& residual_input, const torch::Tensor& grad,
            bool training, bool relu) {
  BatchNormTensors bn = Fresh(input.size(1));
  torch::Tensor x = input.clone().requires_grad_(true);
  torch::Tensor residual = residual_input.defined() ? residual_input.clone().requires_grad_(true) : torch::Tensor();
  torch::Tensor y = norm(x, bn, training, residual, relu);
  y.backward(grad);
  return {y.detach(),        x.grad(),           bn.weight.grad(), bn.bias.grad(),
          residual.defined() ? residual.grad() : torch::Tensor(), bn.running_mean, bn.running_var, bn.batches};
}

void ExpectClose(const torch::Tensor& ours, const torch::Tensor& theirs, double tolerance, const char* what) {
  ASSERT_EQ(ours.sizes(), theirs.sizes()) << what;
  EXPECT_LE((ours - theirs).abs().max().item<double>(), tolerance) << what;
}

TEST(BatchNormTest, AgreesWithLibTorchsInValueGradientsAndRunningStatistics) {
  // Planes of 16, 15 (a tail past the 8 lanes) and 1 pixel; channels first and channels last (a fused
  // cnn's layout: 5 and 3 channels leave the vectorised rows a tail, 1x1 planes are either layout).
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{6, 5, 4, 4}, {7, 3, 3, 5}, {9, 4, 1, 1}}) {
    for (at::MemoryFormat layout : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
      for (bool training : {true, false}) {
        for (bool with_residual : {false, true}) {
          for (bool relu : {false, true}) {
            SCOPED_TRACE(testing::Message() << c10::IntArrayRef(shape) << " " << layout
                                            << (training ? " training" : " evaluation")
                                            << (with_residual ? " residual" : "") << (relu ? " relu" : ""));
            torch::manual_seed(5);
            const torch::Tensor x = (torch::randn(shape) * 3 + 1).contiguous(layout);
            const torch::Tensor residual = with_residual ? torch::randn(shape).contiguous(layout) : torch::Tensor();
            const torch::Tensor grad = torch::randn(shape).contiguous(layout);
            const Outcome ours = Normalise(BatchNorm, x, residual, grad, training, relu);
            const Outcome theirs = Normalise(Reference, x, residual, grad, training, relu);
            EXPECT_TRUE(ours.y.is_contiguous(layout)) << "the output keeps the input's layout";
            ExpectClose(ours.y, theirs.y, 1e-5, "output");
            ExpectClose(ours.grad_x, theirs.grad_x, 1e-4, "input gradient");
            ExpectClose(ours.grad_weight, theirs.grad_weight, 1e-4, "weight gradient");
            ExpectClose(ours.grad_bias, theirs.grad_bias, 1e-4, "bias gradient");
            if (with_residual) ExpectClose(ours.grad_residual, theirs.grad_residual, 0, "residual gradient");
            ExpectClose(ours.running_mean, theirs.running_mean, 1e-6, "running mean");
            ExpectClose(ours.running_var, theirs.running_var, 1e-5, "running variance");
            EXPECT_EQ(ours.batches.item<int64_t>(), theirs.batches.item<int64_t>());
          }
        }
      }
    }
  }
}

// Within a layout: the fused cnn's activations are channels last and a lone cnn's contiguous, whose
// sums run in another order (the fused trainer's test allows for it).
class BatchNormLayoutTest : public testing::TestWithParam<at::MemoryFormat> {};

TEST_P(BatchNormLayoutTest, AFusedMembersChannelsGetExactlyWhatItsLoneModelsGet) {
  constexpr int64_t kMembers = 3, kChannels = 5;
  const at::MemoryFormat layout = GetParam();
  torch::manual_seed(8);
  const torch::Tensor x = torch::randn({4, kMembers * kChannels, 6, 6}).contiguous(layout);
  const torch::Tensor residual = torch::randn_like(x), grad = torch::randn_like(x);
  const Outcome fused = Normalise(BatchNorm, x, residual, grad, /*training=*/true, /*relu=*/true);
  for (int64_t k = 0; k < kMembers; ++k) {
    SCOPED_TRACE(k);
    auto block = [&](const torch::Tensor& t) { return t.narrow(t.dim() == 1 ? 0 : 1, k * kChannels, kChannels); };
    // A lone model's batch norm over member k's channels, with member k's parameters.
    BatchNormTensors lone = Fresh(kMembers * kChannels);
    BatchNormTensors own{block(lone.weight).detach().requires_grad_(true), block(lone.bias).detach().requires_grad_(true),
                         block(lone.running_mean).clone(), block(lone.running_var).clone(), lone.batches};
    torch::Tensor xk = block(x).contiguous(layout).requires_grad_(true);
    torch::Tensor rk = block(residual).contiguous(layout).requires_grad_(true);
    torch::Tensor y = BatchNorm(xk, own, true, rk, true);
    y.backward(block(grad).contiguous(layout));
    EXPECT_TRUE(torch::equal(y, block(fused.y)));
    EXPECT_TRUE(torch::equal(xk.grad(), block(fused.grad_x)));
    EXPECT_TRUE(torch::equal(rk.grad(), block(fused.grad_residual)));
    EXPECT_TRUE(torch::equal(own.weight.grad(), block(fused.grad_weight)));
    EXPECT_TRUE(torch::equal(own.bias.grad(), block(fused.grad_bias)));
    EXPECT_TRUE(torch::equal(own.running_mean, block(fused.running_mean)));
    EXPECT_TRUE(torch::equal(own.running_var, block(fused.running_var)));
  }
}

TEST_P(BatchNormLayoutTest, ANonFiniteValueReachesTheOutputThroughTheReLU) {
  torch::Tensor x = torch::randn({4, 2, 3, 3});
  x[1][0][2][2] = std::numeric_limits<float>::quiet_NaN();
  BatchNormTensors bn = Fresh(2);
  const torch::Tensor y = BatchNorm(x.contiguous(GetParam()), bn, /*training=*/true, {}, /*relu=*/true);
  // The NaN spoils its channel's statistics, so the whole channel is NaN, and the other is not.
  EXPECT_TRUE(torch::isnan(y.select(1, 0)).all().item<bool>());
  EXPECT_FALSE(torch::isnan(y.select(1, 1)).any().item<bool>());
}

INSTANTIATE_TEST_SUITE_P(Layouts, BatchNormLayoutTest,
                         testing::Values(at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast),
                         [](const testing::TestParamInfo<at::MemoryFormat>& info) {
                           return info.param == at::MemoryFormat::ChannelsLast ? "ChannelsLast" : "Contiguous";
                         });

TEST(BatchNormTest, TrainingWithOneValuePerChannelIsRefused) {
  BatchNormTensors bn = Fresh(3);
  EXPECT_THROW(BatchNorm(torch::randn({1, 3, 1, 1}), bn, /*training=*/true), c10::Error);
}

}  // namespace
}  // namespace orchard::train
