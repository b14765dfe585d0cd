// The fused optimizers' CPU twins against LibTorch's torch::optim, step for step, and their checks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "kernels/internal.h"
#include "kernels/kernels.h"

namespace orchard::kernels {
namespace {

// Sizes straddle the 64k-element chunks and the threading threshold, with an empty tensor among them.
const std::vector<int64_t> kSizes = {7, 0, 1000, 65536, 65537, 300001};

struct Case {
  OptimizerKind kind;
  std::vector<OptimizerGroup> groups;  // tensors alternate between the groups
};

std::unique_ptr<torch::optim::Optimizer> TorchOptimizer(const Case& c, const std::vector<std::vector<torch::Tensor>>& by_group) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (size_t g = 0; g < c.groups.size(); ++g) {
    const OptimizerGroup& h = c.groups[g];
    std::unique_ptr<torch::optim::OptimizerOptions> options;
    if (c.kind == OptimizerKind::kSgd) {
      options = std::make_unique<torch::optim::SGDOptions>(
          torch::optim::SGDOptions(h.lr).momentum(h.momentum).dampening(h.dampening).nesterov(h.nesterov).weight_decay(h.weight_decay));
    } else if (c.kind == OptimizerKind::kAdam) {
      options = std::make_unique<torch::optim::AdamOptions>(
          torch::optim::AdamOptions(h.lr).betas({h.beta1, h.beta2}).eps(h.eps).weight_decay(h.weight_decay));
    } else {
      options = std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(h.lr).betas({h.beta1, h.beta2}).eps(h.eps).weight_decay(h.weight_decay));
    }
    groups.emplace_back(by_group[g], std::move(options));
  }
  if (c.kind == OptimizerKind::kSgd) return std::make_unique<torch::optim::SGD>(groups, torch::optim::SGDOptions(0.1));
  if (c.kind == OptimizerKind::kAdam) return std::make_unique<torch::optim::Adam>(groups);
  return std::make_unique<torch::optim::AdamW>(groups);
}

// Largest |ours - theirs| / max(|theirs|, floor) over all elements.
double MaxRelativeError(const torch::Tensor& ours, const torch::Tensor& theirs, double floor) {
  return ((ours.to(torch::kDouble) - theirs.to(torch::kDouble)).abs() / theirs.to(torch::kDouble).abs().clamp_min(floor)).max().item<double>();
}

// 100 steps of both on the same random parameters and gradients, with a learning rate that changes
// every step and a clip-like gradient scale on some steps.
void ExpectMatchesTorch(const Case& c) {
  torch::manual_seed(3);
  std::vector<torch::Tensor> ours, theirs;
  std::vector<std::vector<torch::Tensor>> by_group(c.groups.size());
  std::vector<torch::Tensor> exp_avg, exp_avg_sq;
  std::vector<OptimizerTensor> tensors;
  for (size_t i = 0; i < kSizes.size(); ++i) {
    torch::Tensor p = torch::randn({kSizes[i]});
    ours.push_back(p.clone());
    theirs.push_back(p.clone().requires_grad_(true));
    by_group[i % c.groups.size()].push_back(theirs.back());
    exp_avg.push_back(torch::zeros({kSizes[i]}));
    exp_avg_sq.push_back(torch::zeros({kSizes[i]}));
  }
  std::vector<torch::Tensor> grads(kSizes.size());
  for (size_t i = 0; i < kSizes.size(); ++i) {
    grads[i] = torch::zeros({kSizes[i]});
    OptimizerTensor t;
    t.param = ours[i].data_ptr<float>();
    t.grad = grads[i].data_ptr<float>();
    t.exp_avg = exp_avg[i].data_ptr<float>();
    t.exp_avg_sq = c.kind == OptimizerKind::kSgd ? nullptr : exp_avg_sq[i].data_ptr<float>();
    t.size = kSizes[i];
    t.group = static_cast<int32_t>(i % c.groups.size());
    tensors.push_back(t);
  }
  auto fused = MultiTensorOptimizer::Create(c.kind, tensors, c.groups.size(), Device::kCpu);
  ASSERT_TRUE(fused.ok()) << fused.status().message();
  auto reference = TorchOptimizer(c, by_group);

  for (int64_t step = 1; step <= 100; ++step) {
    const double lr_factor = 0.5 + 0.5 * std::cos(static_cast<double>(step) / 30.0);
    const double grad_scale = step % 7 == 0 ? 0.25 : 1.0;
    std::vector<OptimizerGroup> groups = c.groups;
    for (size_t g = 0; g < groups.size(); ++g) {
      groups[g].lr = c.groups[g].lr * lr_factor;
      groups[g].step = step;
      groups[g].grad_scale = grad_scale;
      reference->param_groups()[g].options().set_lr(groups[g].lr);
    }
    for (size_t i = 0; i < kSizes.size(); ++i) {
      grads[i].copy_(torch::randn({kSizes[i]}) * 0.1 + 0.01 * ours[i]);
      theirs[i].mutable_grad() = grads[i] * grad_scale;
    }
    ASSERT_TRUE((*fused)->Step(groups).ok());
    reference->step();
  }
  for (size_t i = 0; i < kSizes.size(); ++i) {
    if (kSizes[i] == 0) continue;
    // Relative to each element, and absolute for elements under 1 in size (those that crossed zero).
    EXPECT_LT(MaxRelativeError(ours[i], theirs[i].detach(), 1.0), 1e-6) << "tensor " << i << " of " << kSizes[i];
  }
}

TEST(FusedOptimizerCpuTest, AdamWMatchesTorchOptim) {
  OptimizerGroup a, b;
  a.lr = 1e-2, a.weight_decay = 0.01;
  b.lr = 3e-3, b.beta1 = 0.8, b.beta2 = 0.99, b.eps = 1e-6, b.weight_decay = 0.1;
  ExpectMatchesTorch({OptimizerKind::kAdamW, {a, b}});
}

TEST(FusedOptimizerCpuTest, AdamMatchesTorchOptim) {
  OptimizerGroup a, b;
  a.lr = 1e-2;
  b.lr = 2e-3, b.beta1 = 0.5, b.weight_decay = 0.05;
  ExpectMatchesTorch({OptimizerKind::kAdam, {a, b}});
}

TEST(FusedOptimizerCpuTest, SgdWithMomentumMatchesTorchOptim) {
  OptimizerGroup a, b, c;
  a.lr = 0.05, a.momentum = 0.9;
  b.lr = 0.02, b.momentum = 0.9, b.nesterov = true, b.weight_decay = 1e-3;
  c.lr = 0.01, c.momentum = 0.5, c.dampening = 0.1;
  ExpectMatchesTorch({OptimizerKind::kSgd, {a, b, c}});
}

TEST(FusedOptimizerCpuTest, PlainSgdNeedsNoBuffers) {
  std::vector<float> p = {1, 2}, g = {0.5f, -1};
  auto sgd = MultiTensorOptimizer::Create(OptimizerKind::kSgd, {{p.data(), g.data(), nullptr, nullptr, nullptr, 2}}, 1, Device::kCpu);
  ASSERT_TRUE(sgd.ok()) << sgd.status().message();
  OptimizerGroup group;
  group.lr = 0.5;
  ASSERT_TRUE((*sgd)->Step({group}).ok());
  EXPECT_FLOAT_EQ(p[0], 0.75f);
  EXPECT_FLOAT_EQ(p[1], 2.5f);
}

// A verdict's scale multiplies every gradient (as grad_scale does); its skip leaves everything as is.
TEST(FusedOptimizerCpuTest, FollowsTheVerdict) {
  std::vector<float> p = {1, 2}, g = {0.5f, -1}, buf = {0, 0};
  auto sgd = MultiTensorOptimizer::Create(OptimizerKind::kSgd, {{p.data(), g.data(), buf.data(), nullptr, nullptr, 2}}, 1,
                                          Device::kCpu);
  ASSERT_TRUE(sgd.ok()) << sgd.status().message();
  OptimizerGroup group;
  group.lr = 0.5, group.momentum = 0.9;
  StepVerdict verdict{};
  verdict.scale = 0.5f;
  ASSERT_TRUE((*sgd)->Step({group}, &verdict).ok());
  EXPECT_FLOAT_EQ(p[0], 0.875f);
  EXPECT_FLOAT_EQ(p[1], 2.25f);
  verdict.skip = 1;
  group.step = 2;
  ASSERT_TRUE((*sgd)->Step({group}, &verdict).ok());
  EXPECT_FLOAT_EQ(p[0], 0.875f);
  EXPECT_FLOAT_EQ(buf[1], -0.5f);
}

// With a group per fused member, each group follows its own verdict: one member's skip or clip
// leaves the others' steps as they would be alone.
TEST(FusedOptimizerCpuTest, EachGroupFollowsItsOwnVerdict) {
  std::vector<float> p = {1, 2, 1, 2, 1, 2}, g = {0.5f, -1, 0.5f, -1, 0.5f, -1};
  std::vector<OptimizerTensor> tensors;
  for (int32_t k = 0; k < 3; ++k) tensors.push_back({p.data() + 2 * k, g.data() + 2 * k, nullptr, nullptr, nullptr, 2, k});
  auto sgd = MultiTensorOptimizer::Create(OptimizerKind::kSgd, tensors, 3, Device::kCpu);
  ASSERT_TRUE(sgd.ok()) << sgd.status().message();
  std::vector<OptimizerGroup> groups(3);
  for (OptimizerGroup& group : groups) group.lr = 0.5;
  StepVerdict verdicts[3] = {};
  verdicts[0].scale = 1.0f;
  verdicts[1].scale = 0.5f;
  verdicts[2].scale = 1.0f, verdicts[2].skip = 1;
  ASSERT_TRUE((*sgd)->Step(groups, verdicts).ok());
  EXPECT_EQ(p, (std::vector<float>{0.75f, 2.5f, 0.875f, 2.25f, 1, 2}));
}

// bf16 parameters step their fp32 master weights exactly as fp32 parameters step, and hold the
// master rounded to bf16.
TEST(FusedOptimizerCpuTest, Bf16ParamsFollowTheirMasterWeights) {
  const int64_t n = 200000;
  torch::manual_seed(5);
  torch::Tensor start = torch::randn({n});
  torch::Tensor fp32 = start.clone(), master = start.clone(), bf16 = start.to(torch::kBFloat16);
  torch::Tensor grad = torch::randn({n});
  std::vector<torch::Tensor> state;
  for (int i = 0; i < 4; ++i) state.push_back(torch::zeros({n}));
  OptimizerTensor a{fp32.data_ptr(), grad.data_ptr<float>(), state[0].data_ptr<float>(), state[1].data_ptr<float>(), nullptr, n};
  OptimizerTensor b{bf16.data_ptr(), grad.data_ptr<float>(), state[2].data_ptr<float>(), state[3].data_ptr<float>(),
                    master.data_ptr<float>(), n, 0, ParamType::kBFloat16};
  auto opt = MultiTensorOptimizer::Create(OptimizerKind::kAdamW, {a, b}, 1, Device::kCpu);
  ASSERT_TRUE(opt.ok()) << opt.status().message();
  for (int64_t step = 1; step <= 5; ++step) {
    OptimizerGroup group;
    group.lr = 0.01, group.step = step;
    ASSERT_TRUE((*opt)->Step({group}).ok());
  }
  EXPECT_TRUE(torch::equal(master, fp32));
  EXPECT_TRUE(torch::equal(bf16, fp32.to(torch::kBFloat16)));  // torch's own rounding, to nearest even
}

TEST(FusedOptimizerCpuTest, EmptyListAndZeroSizeTensorsStepNothing) {
  auto empty = MultiTensorOptimizer::Create(OptimizerKind::kAdamW, {}, 1, Device::kCpu);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE((*empty)->Step({OptimizerGroup{}}).ok());
  auto zero = MultiTensorOptimizer::Create(OptimizerKind::kAdam, {OptimizerTensor{}}, 1, Device::kCpu);
  ASSERT_TRUE(zero.ok()) << zero.status().message();
  EXPECT_TRUE((*zero)->Step({OptimizerGroup{}}).ok());
}

void ExpectError(const Status& s, const std::string& fragment) {
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(fragment), std::string::npos) << "message: " << s.message();
}

TEST(FusedOptimizerCpuTest, RejectsBadTensors) {
  std::vector<float> p(4), g(4), m(4), v(4);
  auto create = [](OptimizerKind kind, OptimizerTensor t, size_t groups = 1) {
    return MultiTensorOptimizer::Create(kind, {t}, groups, Device::kCpu).status();
  };
  ExpectError(create(OptimizerKind::kAdamW, {p.data(), nullptr, m.data(), v.data(), nullptr, 4}), "tensor 0: param and grad must not be null");
  ExpectError(create(OptimizerKind::kAdam, {p.data(), g.data(), m.data(), nullptr, nullptr, 4}), "exp_avg and exp_avg_sq");
  ExpectError(create(OptimizerKind::kAdamW, {p.data(), g.data(), m.data(), v.data(), nullptr, 4, 2}, 2), "group 2 is out of range (2 groups)");
  ExpectError(create(OptimizerKind::kSgd, {p.data(), g.data(), nullptr, nullptr, nullptr, -1}), "size must be >= 0");
  ExpectError(create(OptimizerKind::kAdamW, {p.data(), g.data(), m.data(), v.data(), nullptr, 4, 0, ParamType::kBFloat16}),
              "bf16 param needs fp32 master weights");
}

TEST(FusedOptimizerCpuTest, RejectsBadHyperparameters) {
  std::vector<float> p(4), g(4), m(4), v(4);
  auto adamw_or = MultiTensorOptimizer::Create(OptimizerKind::kAdamW, {{p.data(), g.data(), m.data(), v.data(), nullptr, 4}}, 1, Device::kCpu);
  auto sgd_or = MultiTensorOptimizer::Create(OptimizerKind::kSgd, {{p.data(), g.data(), nullptr, nullptr, nullptr, 4}}, 1, Device::kCpu);
  ASSERT_TRUE(adamw_or.ok() && sgd_or.ok());
  MultiTensorOptimizer* adamw = adamw_or->get();
  MultiTensorOptimizer* sgd = sgd_or->get();
  OptimizerGroup good;
  ExpectError(adamw->Step({good, good}), "2 groups given, the optimizer has 1");
  OptimizerGroup bad = good;
  bad.lr = std::nan("");
  ExpectError(adamw->Step({bad}), "adamw group 0: lr must be finite");
  bad = good, bad.beta2 = 1.0;
  ExpectError(adamw->Step({bad}), "betas must be in [0, 1)");
  bad = good, bad.eps = 0;
  ExpectError(adamw->Step({bad}), "eps must be > 0");
  bad = good, bad.step = 0;
  ExpectError(adamw->Step({bad}), "step counts steps including this one");
  bad = good, bad.momentum = 0.9;
  ExpectError(sgd->Step({bad}), "sgd tensor 0: momentum needs a momentum buffer");
  bad = good, bad.momentum = 0.9, bad.nesterov = true, bad.dampening = 0.1;
  ExpectError(sgd->Step({bad}), "nesterov needs momentum > 0 and dampening 0");
  EXPECT_EQ(p, std::vector<float>(4));  // nothing was stepped by a rejected call
}

// Chunks of a tensor larger than 2^31 elements, planned without allocating it: 64-bit offsets that
// cover it exactly, in order.
TEST(FusedOptimizerCpuTest, ChunksAddressTensorsOver2To31Elements) {
  const int64_t huge = (int64_t{1} << 32) + 12345;
  std::vector<detail::Chunk> chunks = detail::PlanChunks({5, huge, 0, 3}, detail::kChunkElements);
  ASSERT_EQ(chunks.size(), 1 + static_cast<size_t>((huge + detail::kChunkElements - 1) / detail::kChunkElements) + 1);
  int64_t covered = 0;
  for (const detail::Chunk& c : chunks) {
    if (c.tensor != 1) continue;
    EXPECT_EQ(c.begin, covered);
    covered = c.end;
  }
  EXPECT_EQ(covered, huge);
  EXPECT_EQ(chunks.back().tensor, 3);
}

}  // namespace
}  // namespace orchard::kernels
