// A sweep's spec as the store keeps it (SweepSpecToJson / SweepSpecFromJson): what a coordinator
// restart rebuilds the strategy from.
#include <gtest/gtest.h>

#include "coordinator/coordinator.h"

namespace orchard::coordinator {
namespace {

TEST(SweepSpecJson, TheSearchSettingsSurviveTheRoundTrip) {
  SweepSpec spec;
  spec.strategy = "hyperband";
  spec.step_budget = 500;
  spec.tpe_multivariate = false;
  spec.tpe_constant_liar = true;
  spec.gpu_fraction = 0.25;
  spec.parameters.push_back({"optimizer.lr", ParameterSpace::Kind::kLogUniform, 1e-4, 1e-1, {}, {}});
  spec.parameters.push_back({"optimizer.momentum", ParameterSpace::Kind::kValues, 0, 0, {"0.5", "0.9"}, {{"optimizer.type", {"sgd"}}}});
  const SweepSpec back = SweepSpecFromJson(SweepSpecToJson(spec));
  EXPECT_EQ(back.strategy, "hyperband");
  EXPECT_EQ(back.step_budget, 500);
  EXPECT_FALSE(back.tpe_multivariate);
  EXPECT_TRUE(back.tpe_constant_liar);
  EXPECT_EQ(back.gpu_fraction, 0.25);
  EXPECT_EQ(back.gpu_memory_gib, 0);
  ASSERT_EQ(back.parameters.size(), 2u);
  EXPECT_EQ(back.parameters[0].kind, ParameterSpace::Kind::kLogUniform);
  // A conditional parameter keeps its conditions, or a restarted coordinator would apply it to every trial.
  ASSERT_EQ(back.parameters[1].when.size(), 1u);
  EXPECT_EQ(back.parameters[1].when[0].path, "optimizer.type");
  EXPECT_EQ(back.parameters[1].when[0].values, std::vector<std::string>{"sgd"});
}

TEST(SweepSpecJson, ASpecSavedBeforeTheJointModelKeepsProposingOneParameterAtATime) {
  nlohmann::json saved = SweepSpecToJson(SweepSpec{});
  saved.erase("tpe_multivariate");
  saved.erase("tpe_constant_liar");
  saved.erase("step_budget");
  const SweepSpec back = SweepSpecFromJson(saved);
  EXPECT_FALSE(back.tpe_multivariate);
  EXPECT_FALSE(back.tpe_constant_liar);
  EXPECT_EQ(back.step_budget, 0) << "one pass, as before";
  EXPECT_TRUE(SweepSpec{}.tpe_multivariate) << "a new sweep's default";
}

}  // namespace
}  // namespace orchard::coordinator
