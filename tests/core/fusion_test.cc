#include "core/fusion.h"

#include <gtest/gtest.h>

namespace orchard {
namespace {

Recipe Trial(std::vector<std::string> overrides, std::string file = "recipes/quickstart.yaml") {
  Recipe recipe;
  recipe.file = std::move(file);
  recipe.overrides = std::move(overrides);
  return recipe;
}

TEST(FusionTest, HyperparametersThatKeepShapesAndBatchesAreFusable) {
  for (const char* field : {"optimizer.lr", "optimizer.weight_decay", "optimizer.beta2", "schedule.warmup_steps",
                            "train.grad_clip", "model.dropout"}) {
    EXPECT_TRUE(CheckFusableField(field).ok()) << field;
  }
}

TEST(FusionTest, FieldsThatChangeShapesBatchesOrOptimizerStateAreRefusedWithTheAllowedList) {
  for (const char* field : {"model.hidden", "train.batch_size", "train.seed", "data.seed", "optimizer.type",
                            "model.channels", "train.steps"}) {
    const Status status = CheckFusableField(field);
    ASSERT_FALSE(status.ok()) << field;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(std::string(field) + " changes"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find("optimizer.lr"), std::string::npos) << status.message();
  }
}

TEST(FusionTest, MembersDifferingOnlyInFusableFieldsFormAGroup) {
  EXPECT_TRUE(CheckFusableGroup({Trial({"model.hidden=[64]", "optimizer.lr=0.01"}),
                                 Trial({"model.hidden=[64]", "optimizer.lr=0.001", "train.grad_clip=0.5"}),
                                 Trial({"optimizer.weight_decay=0.1", "model.hidden=[64]"})})
                  .ok());
}

TEST(FusionTest, AMemberThatChangesAShapeDefiningFieldIsNamedWithTheField) {
  Status status = CheckFusableGroup({Trial({"optimizer.lr=0.01"}), Trial({"optimizer.lr=0.02", "train.batch_size=64"})});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("fused member 1 sets train.batch_size=64 where member 0 keeps the recipe's train.batch_size"),
            std::string::npos)
      << status.message();

  status = CheckFusableGroup({Trial({"model.hidden=[32]"}), Trial({"model.hidden=[32]"}), Trial({"model.hidden=[64]"})});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("fused member 2 sets model.hidden=[64] where member 0 sets model.hidden=[32]"),
            std::string::npos)
      << status.message();
}

TEST(FusionTest, ALaterOverrideOfTheSameFieldWins) {
  EXPECT_TRUE(CheckFusableGroup({Trial({"train.batch_size=32", "train.batch_size=64"}), Trial({"train.batch_size=64"})}).ok());
}

TEST(FusionTest, MembersOfDifferentRecipesOrAGroupOfOneAreRefused) {
  EXPECT_FALSE(CheckFusableGroup({Trial({}), Trial({}, "recipes/digits.yaml")}).ok());
  EXPECT_FALSE(CheckFusableGroup({Trial({})}).ok());
}

}  // namespace
}  // namespace orchard
