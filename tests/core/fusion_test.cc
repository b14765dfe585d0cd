#include "core/fusion.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "core/recipe.h"

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

// What a fused sweep's recipe must be (core/recipe_sweep.cc), errors at their file:line.
constexpr char kRecipe[] =
    "name: fused\n"
    "model: {type: mlp, hidden: [32]}\n"
    "data: {type: synthetic, samples: 256}\n"
    "train: {steps: 10}\n";

// The error a recipe that must be refused gets; a failure when it parses.
std::string Refusal(const std::string& yaml, const std::string& file) {
  auto r = ParseRecipe(yaml, file, {});
  if (r.ok()) ADD_FAILURE() << file << " parsed, but should have been refused";
  return r.ok() ? "" : r.status().message();
}

TEST(FusionTest, ARecipesFuseIsOffAutoOrACountAndItsSweepSearchesOnlyFusableFields) {
  const std::string sweep = std::string(kRecipe) + "sweep:\n  fuse: FUSE\n  parameters:\n"
                            "    optimizer.lr: {distribution: log_uniform, min: 0.001, max: 0.1}\n"
                            "    train.grad_clip: {values: [0, 1]}\n";
  auto with = [&](const std::string& fuse) {
    std::string yaml = sweep;
    yaml.replace(yaml.find("FUSE"), 4, fuse);
    return ParseRecipe(yaml, "fused.yaml", {});
  };
  ASSERT_TRUE(ParseRecipe(std::string(kRecipe) + "sweep:\n  parameters:\n    optimizer.lr: {values: [0.1]}\n", "f.yaml", {}).ok());
  EXPECT_EQ(ParseRecipe(std::string(kRecipe) + "sweep:\n  parameters:\n    optimizer.lr: {values: [0.1]}\n", "f.yaml", {})
                ->sweep.fuse, 1) << "off unless asked for";
  EXPECT_EQ(with("off")->sweep.fuse, 1);
  EXPECT_EQ(with("auto")->sweep.fuse, kFuseAuto);
  EXPECT_EQ(with("16")->sweep.fuse, 16);
  for (const char* bad : {"0", "many", "1.5", "[4]", "257"}) {
    auto r = with(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("fused.yaml:6:9: sweep.fuse: expected off, auto or the most trials"),
              std::string::npos)
        << r.status().message();
  }

  // A searched field that changes shapes or batches is refused at its line, naming the fusable ones.
  const std::string shapes = Refusal(std::string(kRecipe) + "sweep:\n  fuse: auto\n  parameters:\n    optimizer.lr: {values: [0.1]}\n"
                                     "    model.hidden: {values: [[16], [32]]}\n",
                                     "shapes.yaml");
  EXPECT_NE(shapes.find("shapes.yaml:9:5: sweep.parameters.model.hidden: sweep.fuse trains trials that "
                        "share shapes and batches as one model: model.hidden changes"),
            std::string::npos)
      << shapes;
  EXPECT_NE(shapes.find("optimizer.weight_decay"), std::string::npos) << shapes;

  const std::string fused_sweep = "train: {steps: 10}\nsweep:\n  fuse: 4\n  parameters:\n    optimizer.lr: {values: [0.1]}\n";
  auto cnn = ParseRecipe("model: {type: cnn}\ndata: {type: digits}\n" + fused_sweep, "cnn.yaml", {});
  EXPECT_TRUE(cnn.ok()) << cnn.status().message();
  const std::string lm = Refusal("model: {type: transformer}\ndata: {type: text, path: corpus.txt}\n" + fused_sweep, "lm.yaml");
  EXPECT_NE(lm.find("sweep.fuse: trains a group of trials as one batched model, which Orchard builds "
                    "for model.type mlp and cnn (not yet transformer)"),
            std::string::npos)
      << lm;
  const std::string ranks =
      Refusal(std::string(kRecipe) + "sweep:\n  fuse: 4\n  ranks: 2\n  parameters:\n    optimizer.lr: {values: [0.1]}\n",
              "ranks.yaml");
  EXPECT_NE(ranks.find("sweep.fuse: fuses single-rank trials, but sweep.ranks is 2"), std::string::npos) << ranks;
  const std::string share = Refusal(std::string(kRecipe) + "sweep:\n  fuse: auto\n  gpu_memory_gib: 8\n  parameters:\n"
                                    "    optimizer.lr: {values: [0.1]}\n",
                                    "share.yaml");
  EXPECT_NE(share.find("sweep.fuse: trains a group on one slot, which a share of a GPU"), std::string::npos) << share;
  const std::string torch_impl = Refusal("optimizer: {type: adamw, impl: torch}\n" + std::string(kRecipe) +
                                             "sweep:\n  fuse: 4\n  parameters:\n    optimizer.lr: {values: [0.1]}\n",
                                         "impl.yaml");
  EXPECT_NE(torch_impl.find("sweep.fuse: steps a group's members in one pass of Orchard's fused optimizer, but "
                            "optimizer.impl is torch"),
            std::string::npos)
      << torch_impl;
}

Recipe Parsed(const std::string& yaml) {
  auto recipe = ParseRecipe(yaml, "cost.yaml", {});
  EXPECT_TRUE(recipe.ok()) << recipe.status().message();
  return recipe.ok() ? *recipe : Recipe{};
}

// Quickstart's mlp (32 features, [64, 64], 8 classes, batches of 64) trained with `optimizer`.
std::optional<FusedMemberCost> QuickstartMlpCost(const std::string& optimizer) {
  return EstimateFusedMemberCost(Parsed("model: {type: mlp, hidden: [64, 64]}\n"
                                        "data: {type: synthetic, features: 32, classes: 8}\n"
                                        "optimizer: " + optimizer + "\n"
                                        "train: {steps: 10, batch_size: 64}\n"));
}

// Its parameters as the trainer counts them, 6 flops per multiply-add and sample (forward 2,
// backward 4), and Adam's two moments.
TEST(FusionTest, AnMlpMembersCostComesFromItsLayers) {
  const auto cost = QuickstartMlpCost("{type: adamw}");
  ASSERT_TRUE(cost.has_value());
  const int64_t multiply_adds = 32 * 64 + 64 * 64 + 64 * 8;
  EXPECT_EQ(cost->parameters, multiply_adds + 64 + 64 + 8);
  EXPECT_EQ(cost->step_flops, 6.0 * multiply_adds * 64);
  // Weights, gradients, two moments; two values per layer output over a 256-row evaluation chunk.
  EXPECT_EQ(cost->bytes, 4 * (cost->parameters * 4 + 2 * (64 + 64 + 8) * 256));
  const auto sgd = QuickstartMlpCost("{type: sgd, momentum: 0.9}");
  ASSERT_TRUE(sgd.has_value());
  EXPECT_EQ(cost->bytes - sgd->bytes, 4 * cost->parameters);  // one state fewer
}

// Digits' cnn (16 channels, 1 stage after the first, 1 block each) on 8x8 images: the 19,642
// parameters the trainer builds, the 3x3 convolutions' arithmetic at their resolutions.
TEST(FusionTest, ACnnMembersCostFollowsItsStagesAndResolutions) {
  const auto cost = EstimateFusedMemberCost(
      Parsed("model: {type: cnn, channels: 16, stages: 1, blocks: 1}\n"
             "data: {type: digits}\n"
             "train: {steps: 10, batch_size: 32}\n"));
  ASSERT_TRUE(cost.has_value());
  EXPECT_EQ(cost->parameters, 19642);
  const double multiply_adds = 16 * 1 * 9 * 64 +                          // stem, 8x8
                               2 * (16 * 16 * 9 * 64) +                   // stage 0's block, 8x8
                               32 * 16 * 9 * 16 + 32 * 32 * 9 * 16 +      // stage 1's block, 4x4
                               32 * 16 * 16 +                             // its 1x1 shortcut
                               32 * 10;                                   // head
  EXPECT_EQ(cost->step_flops, 6.0 * multiply_adds * 32);
}

TEST(FusionTest, NoEstimateWhereTheRecipeDoesNotFixTheShapes) {
  // A csv's width and classes are in the file, which the coordinator does not read.
  EXPECT_FALSE(EstimateFusedMemberCost(Parsed("model: {type: mlp}\ndata: {type: csv, path: rows.csv}\n"
                                              "train: {steps: 10}\n"))
                   .has_value());
  const auto shaped = EstimateFusedMemberCost(
      Parsed("model: {type: mlp, hidden: [8]}\ndata: {type: csv, path: rows.csv, task: regression, shape: [1, 2, 2]}\n"
             "train: {steps: 10}\n"));
  ASSERT_TRUE(shaped.has_value());
  EXPECT_EQ(shaped->parameters, 4 * 8 + 8 + 8 * 1 + 1);
  EXPECT_FALSE(EstimateFusedMemberCost(Parsed("model: {type: transformer}\ndata: {type: text, path: corpus.txt}\n"
                                              "train: {steps: 10}\n"))
                   .has_value());
}

TEST(FusionTest, MembersOfDifferentRecipesOrAGroupOfOneAreRefused) {
  EXPECT_FALSE(CheckFusableGroup({Trial({}), Trial({}, "recipes/digits.yaml")}).ok());
  EXPECT_FALSE(CheckFusableGroup({Trial({})}).ok());
}

}  // namespace
}  // namespace orchard
