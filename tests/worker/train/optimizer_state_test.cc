// The training runtime's optimizers (fused kernels and torch::optim) behind one interface: a checkpoint
// written by either resumes with either, and bad parameters or state are refused with a clear error.
#include "worker/train/optimizers.h"

#include <gtest/gtest.h>

#include <sstream>

namespace orchard::train {
namespace {

std::vector<torch::Tensor> StartingParams() {
  torch::manual_seed(21);
  return {torch::randn({64, 33}), torch::randn({33}), torch::randn({70000})};
}

std::vector<torch::Tensor> Clone(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone().requires_grad_(true));
  return out;
}

// Deterministic gradients that depend on the parameters, so a wrong state shows in later steps.
void SetGrads(std::vector<torch::Tensor>& params, int64_t step) {
  torch::NoGradGuard no_grad;
  for (auto& p : params) p.mutable_grad() = torch::sin(p * static_cast<double>(step)) + 0.1 * p;
}

void RunSteps(Optimizer& opt, std::vector<torch::Tensor>& params, int64_t first_step, int64_t steps) {
  for (int64_t s = first_step; s < first_step + steps; ++s) {
    SetGrads(params, s);
    kernels::StepVerdict verdict{};
    verdict.scale = s % 4 == 0 ? 0.5f : 1.0f;
    Status status = opt.Step(0.01 * (1.0 + 0.1 * static_cast<double>(s % 3)), &verdict);
    ASSERT_TRUE(status.ok()) << status.message();
  }
}

std::string SaveToBytes(Optimizer& opt) {
  torch::serialize::OutputArchive archive;
  opt.Save(archive);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

Status LoadFromBytes(Optimizer& opt, const std::string& bytes) {
  torch::serialize::InputArchive archive;
  std::istringstream in(bytes);
  archive.load_from(in);
  return opt.Load(archive);
}

OptimizerSpec Spec(const std::string& type, const std::string& impl) {
  OptimizerSpec spec;
  spec.type = type;
  spec.impl = impl;
  spec.lr = 0.01;
  spec.weight_decay = 0.01;
  if (type == "sgd") spec.momentum = 0.9, spec.nesterov = true;
  return spec;
}

double MaxRelativeError(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    torch::Tensor x = a[i].detach().to(torch::kDouble), y = b[i].detach().to(torch::kDouble);
    worst = std::max(worst, ((x - y).abs() / y.abs().clamp_min(1.0)).max().item<double>());  // absolute below 1
  }
  return worst;
}

class CrossResumeTest : public ::testing::TestWithParam<std::tuple<std::string, std::string, std::string>> {};

// 10 steps with one implementation, a checkpoint, 10 more with the other: the same parameters as 20
// uninterrupted steps of LibTorch's optimizer.
TEST_P(CrossResumeTest, ResumesWithTheOtherImplementation) {
  const auto& [type, first_impl, second_impl] = GetParam();
  const std::vector<torch::Tensor> start = StartingParams();

  std::vector<torch::Tensor> reference = Clone(start);
  auto uninterrupted = MakeOptimizer(Spec(type, "torch"), reference);
  ASSERT_TRUE(uninterrupted.ok());
  RunSteps(**uninterrupted, reference, 1, 20);

  std::vector<torch::Tensor> params = Clone(start);
  auto first = MakeOptimizer(Spec(type, first_impl), params);
  ASSERT_TRUE(first.ok()) << first.status().message();
  RunSteps(**first, params, 1, 10);
  const std::string bytes = SaveToBytes(**first);

  std::vector<torch::Tensor> resumed = Clone(params);
  auto second = MakeOptimizer(Spec(type, second_impl), resumed);
  ASSERT_TRUE(second.ok()) << second.status().message();
  Status loaded = LoadFromBytes(**second, bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_EQ((*second)->steps(), 10);
  RunSteps(**second, resumed, 11, 10);
  EXPECT_LT(MaxRelativeError(resumed, reference), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, CrossResumeTest,
                         ::testing::Combine(::testing::Values("sgd", "adam", "adamw"), ::testing::Values("fused", "torch"),
                                            ::testing::Values("fused", "torch")));

void ExpectError(const Status& s, const std::string& fragment) {
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(fragment), std::string::npos) << "message: " << s.message();
}

TEST(FusedOptimizerAdapterTest, RejectsParametersTheKernelsCannotStep) {
  ExpectError(MakeOptimizer(Spec("adamw", "fused"), {torch::zeros({3}), torch::zeros({4}, torch::kDouble)}).status(),
              "parameter 1 has dtype Double; the fused kernels step float32 and bfloat16 parameters (use optimizer.impl: torch");
  ExpectError(MakeOptimizer(Spec("adamw", "fused"), {torch::zeros({4, 3}).t()}).status(), "parameter 0 is not contiguous");
  EXPECT_TRUE(MakeOptimizer(Spec("adamw", "torch"), {torch::zeros({4}, torch::kDouble)}).ok());
}

// A verdict that says skip leaves the parameters as they are, in both implementations (RunSteps
// covers its scale), and both count the step.
TEST(OptimizerVerdictTest, BothImplementationsSkipAStepTheVerdictRefuses) {
  for (const std::string type : {"sgd", "adam", "adamw"}) {
    std::vector<torch::Tensor> fused_params = Clone(StartingParams()), torch_params = Clone(StartingParams());
    auto fused = MakeOptimizer(Spec(type, "fused"), fused_params);
    auto reference = MakeOptimizer(Spec(type, "torch"), torch_params);
    ASSERT_TRUE(fused.ok() && reference.ok());
    RunSteps(**fused, fused_params, 1, 3);
    RunSteps(**reference, torch_params, 1, 3);
    const std::vector<torch::Tensor> fused_before = Clone(fused_params), torch_before = Clone(torch_params);
    kernels::StepVerdict skip{};
    skip.scale = 1, skip.skip = 1;
    SetGrads(fused_params, 4), SetGrads(torch_params, 4);
    ASSERT_TRUE((*fused)->Step(0.01, &skip).ok());
    ASSERT_TRUE((*reference)->Step(0.01, &skip).ok());
    for (size_t i = 0; i < fused_before.size(); ++i) {
      EXPECT_TRUE(torch::equal(fused_params[i].detach(), fused_before[i].detach())) << type;
      EXPECT_TRUE(torch::equal(torch_params[i].detach(), torch_before[i].detach())) << type;
    }
    EXPECT_EQ((*fused)->steps(), 4);
    EXPECT_EQ((*reference)->steps(), 4);
  }
}

// A fused group's members stepped together, each with its own learning rate, hyperparameters and
// verdict, end exactly where each stepped alone ends; a member that has left is not stepped, and an
// optimizer of another implementation is refused.
TEST(JointStepTest, MembersSteppedTogetherEndAsEachSteppedAlone) {
  std::vector<OptimizerSpec> specs = {Spec("adamw", "fused"), Spec("adamw", "fused"), Spec("adamw", "fused")};
  specs[1].weight_decay = 0.1, specs[1].beta1 = 0.8;
  specs[2].eps = 1e-6;
  std::vector<std::vector<torch::Tensor>> together, alone;
  std::vector<std::unique_ptr<Optimizer>> joint, single;
  for (const OptimizerSpec& spec : specs) {
    together.push_back(Clone(StartingParams())), alone.push_back(Clone(StartingParams()));
    auto a = MakeOptimizer(spec, together.back());
    auto b = MakeOptimizer(spec, alone.back());
    ASSERT_TRUE(a.ok() && b.ok());
    joint.push_back(std::move(*a)), single.push_back(std::move(*b));
  }
  JointStep step;
  for (int64_t s = 1; s <= 6; ++s) {
    // Member 2 leaves the group after step 3.
    std::vector<Optimizer*> members = {joint[0].get(), joint[1].get(), s <= 3 ? joint[2].get() : nullptr};
    std::vector<double> lrs = {0.01, 0.003 * static_cast<double>(s), 0.02};
    kernels::StepVerdict verdicts[3] = {};
    for (auto& v : verdicts) v.scale = 1;
    verdicts[0].scale = s % 2 == 0 ? 0.5f : 1.0f;
    verdicts[1].skip = s == 2 ? 1 : 0;
    for (size_t k = 0; k < members.size(); ++k) {
      SetGrads(together[k], s);
      if (members[k] == nullptr) continue;
      SetGrads(alone[k], s);
      ASSERT_TRUE(single[k]->Step(lrs[k], &verdicts[k]).ok());
    }
    Status stepped = step.Step(members, lrs, verdicts);
    ASSERT_TRUE(stepped.ok()) << stepped.message();
  }
  for (size_t k = 0; k < specs.size(); ++k) {
    EXPECT_EQ(joint[k]->steps(), k == 2 ? 3 : 6) << k;
    for (size_t i = 0; i < together[k].size(); ++i)
      EXPECT_TRUE(torch::equal(together[k][i].detach(), alone[k][i].detach())) << "member " << k << " tensor " << i;
  }

  std::vector<torch::Tensor> other = Clone(StartingParams());
  auto torch_impl = MakeOptimizer(Spec("adamw", "torch"), other);
  ASSERT_TRUE(torch_impl.ok());
  SetGrads(other, 1);
  ExpectError(step.Step({joint[0].get(), torch_impl->get()}, {0.01, 0.01}, nullptr), "fused member 1's optimizer is not optimizer.impl fused");
}

TEST(FusedOptimizerAdapterTest, RejectsGradientsOfTheWrongShape) {
  std::vector<torch::Tensor> params = {torch::zeros({4}).requires_grad_(true)};
  auto opt = MakeOptimizer(Spec("adam", "fused"), params);
  ASSERT_TRUE(opt.ok());
  params[0].mutable_grad() = torch::ones({5});
  ExpectError((*opt)->Step(0.1, nullptr), "parameter 0: gradient shape [5] does not match the parameter's [4]");
  EXPECT_TRUE(torch::equal(params[0].detach(), torch::zeros({4})));
}

TEST(FusedOptimizerAdapterTest, RefusesStateOfAnotherTypeOrShape) {
  std::vector<torch::Tensor> params = Clone(StartingParams());
  auto adamw = MakeOptimizer(Spec("adamw", "fused"), params);
  ASSERT_TRUE(adamw.ok());
  RunSteps(**adamw, params, 1, 2);
  const std::string bytes = SaveToBytes(**adamw);

  auto sgd = MakeOptimizer(Spec("sgd", "fused"), Clone(StartingParams()));
  ASSERT_TRUE(sgd.ok());
  ExpectError(LoadFromBytes(**sgd, bytes), "another optimizer.type than 'sgd'");

  std::vector<torch::Tensor> other = {torch::zeros({64, 33}), torch::zeros({33}), torch::zeros({7})};
  auto reshaped = MakeOptimizer(Spec("adamw", "torch"), other);
  ASSERT_TRUE(reshaped.ok());
  ExpectError(LoadFromBytes(**reshaped, bytes), "parameter 2 has shape [70000], the parameter has [7]");
}

// bf16 parameters with bf16 gradients: the fused optimizer keeps fp32 master weights, which step as an
// fp32 parameter given the same gradients does, and which a checkpoint carries.
TEST(FusedOptimizerAdapterTest, Bf16ParametersKeepMasterWeightsAcrossACheckpoint) {
  torch::manual_seed(4);
  torch::Tensor start = torch::randn({1000});
  std::vector<torch::Tensor> bf16 = {start.to(torch::kBFloat16).requires_grad_(true)};
  std::vector<torch::Tensor> fp32 = {start.to(torch::kBFloat16).to(torch::kFloat32).requires_grad_(true)};
  auto low = MakeOptimizer(Spec("adamw", "fused"), bf16);
  auto high = MakeOptimizer(Spec("adamw", "fused"), fp32);
  ASSERT_TRUE(low.ok() && high.ok());
  for (int64_t s = 1; s <= 5; ++s) {
    torch::Tensor g = torch::randn({1000}).to(torch::kBFloat16);
    bf16[0].mutable_grad() = g;
    fp32[0].mutable_grad() = g.to(torch::kFloat32);
    ASSERT_TRUE((*low)->Step(0.01, nullptr).ok());
    ASSERT_TRUE((*high)->Step(0.01, nullptr).ok());
  }
  EXPECT_TRUE(torch::equal(bf16[0].detach(), fp32[0].detach().to(torch::kBFloat16)));

  const std::string bytes = SaveToBytes(**low);
  std::vector<torch::Tensor> resumed = {bf16[0].detach().clone().requires_grad_(true)};
  auto again = MakeOptimizer(Spec("adamw", "fused"), resumed);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(LoadFromBytes(**again, bytes).ok());
  torch::Tensor g = torch::randn({1000}).to(torch::kBFloat16);
  bf16[0].mutable_grad() = g, resumed[0].mutable_grad() = g;
  ASSERT_TRUE((*low)->Step(0.01, nullptr).ok());
  ASSERT_TRUE((*again)->Step(0.01, nullptr).ok());
  EXPECT_TRUE(torch::equal(resumed[0].detach(), bf16[0].detach()));
}

}  // namespace
}  // namespace orchard::train
