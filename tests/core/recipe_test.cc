#include "core/recipe.h"

#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <climits>
#include <filesystem>

namespace orchard {
namespace {

constexpr char kValid[] = R"(name: ok
model:
  type: mlp
  hidden: [32, 32]
data:
  type: synthetic
  samples: 256
optimizer:
  type: adamw
  lr: 0.01
train:
  steps: 10
  batch_size: 16
)";

TEST(RecipeTest, ParsesAValidRecipeWithDefaults) {
  auto r = ParseRecipe(kValid, "ok.yaml", {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->name, "ok");
  EXPECT_EQ(r->model.type, "mlp");
  EXPECT_EQ(r->model.mlp.hidden, (std::vector<int64_t>{32, 32}));
  EXPECT_EQ(r->data.task, "classification");
  EXPECT_DOUBLE_EQ(r->optimizer.lr, 0.01);
  EXPECT_DOUBLE_EQ(r->optimizer.weight_decay, 0.01);  // adamw's default
  EXPECT_EQ(r->train.steps, 10);
  EXPECT_EQ(r->checkpoint.keep, 3);
  EXPECT_FALSE(r->has_sweep);
}

TEST(RecipeTest, OverridesReplaceAndAddFields) {
  auto r = ParseRecipe(kValid, "ok.yaml", {"optimizer.lr=0.5", "model.hidden=[8]", "schedule.type=cosine"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_DOUBLE_EQ(r->optimizer.lr, 0.5);
  EXPECT_EQ(r->model.mlp.hidden, (std::vector<int64_t>{8}));
  EXPECT_EQ(r->schedule.type, "cosine");
}

struct BrokenCase {
  const char* name;
  std::string yaml;
  std::vector<std::string> overrides;
  std::vector<std::string> expected;  // substrings of the error message
};

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  if (at == std::string::npos) throw std::logic_error("no '" + from + "' in the recipe");
  return text.replace(at, from.size(), to);
}

class BrokenRecipeTest : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenRecipeTest, NamesFileLineAndField) {
  const BrokenCase& c = GetParam();
  auto r = ParseRecipe(c.yaml, "broken.yaml", c.overrides);
  ASSERT_FALSE(r.ok()) << c.name << " was accepted";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  for (const std::string& e : c.expected) {
    EXPECT_NE(r.status().message().find(e), std::string::npos)
        << "expected \"" << e << "\" in:\n" << r.status().message();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, BrokenRecipeTest,
    ::testing::Values(
        BrokenCase{"string_lr", Replace(kValid, "lr: 0.01", "lr: fast"), {},
                   {"broken.yaml:10:7: optimizer.lr: expected a number in [1e-12, 1e+06], found \"fast\""}},
        BrokenCase{"negative_lr", Replace(kValid, "lr: 0.01", "lr: -1"), {}, {"broken.yaml:10:7: optimizer.lr"}},
        BrokenCase{"unknown_model", Replace(kValid, "type: mlp", "type: resnet"), {},
                   {"broken.yaml:3:9: model.type: expected one of mlp, cnn, transformer, torchscript, found \"resnet\""}},
        BrokenCase{"typo_field", Replace(kValid, "batch_size: 16", "batch_sise: 16"), {},
                   {"broken.yaml:13:3: train.batch_sise: unknown field (did you mean \"batch_size\"?)"}},
        BrokenCase{"field_of_other_model", Replace(kValid, "hidden: [32, 32]", "layers: 2"), {},
                   {"broken.yaml:4:3: model.layers: unknown field"}},
        BrokenCase{"missing_model", Replace(kValid, "model:\n  type: mlp\n  hidden: [32, 32]\n", ""), {},
                   {"model: is required but missing"}},
        BrokenCase{"missing_data_type", Replace(kValid, "  type: synthetic\n", ""), {},
                   {"broken.yaml:6:3: data.type: is required but missing from 'data'"}},
        BrokenCase{"steps_and_epochs", Replace(kValid, "steps: 10", "steps: 10\n  epochs: 2"), {},
                   {"set exactly one of train.steps and train.epochs"}},
        BrokenCase{"no_steps", Replace(kValid, "  steps: 10\n", ""), {},
                   {"train.steps: set exactly one of train.steps and train.epochs"}},
        BrokenCase{"hidden_not_list", Replace(kValid, "[32, 32]", "wide"), {},
                   {"broken.yaml:4:11: model.hidden: expected a list of integers"}},
        BrokenCase{"fractional_batch", Replace(kValid, "batch_size: 16", "batch_size: 1.5"), {},
                   {"broken.yaml:13:15: train.batch_size: expected an integer"}},
        BrokenCase{"bad_device", Replace(kValid, "batch_size: 16", "batch_size: 16\n  device: tpu"), {},
                   {"train.device: expected auto, cpu, cuda or cuda:N, found \"tpu\""}},
        BrokenCase{"bf16_on_cpu", Replace(kValid, "batch_size: 16", "batch_size: 16\n  device: cpu\n  precision: bf16"), {},
                   {"train.precision: bf16 autocast needs a GPU"}},
        BrokenCase{"transformer_on_tabular", Replace(kValid, "type: mlp\n  hidden: [32, 32]", "type: transformer"), {},
                   {"model.type: a transformer is a byte-level language model and needs data.type text"}},
        BrokenCase{"cnn_on_tabular", Replace(kValid, "type: mlp\n  hidden: [32, 32]", "type: cnn"), {},
                   {"model.type: a cnn needs image data"}},
        BrokenCase{"width_vs_heads", "model: {type: transformer, width: 30, heads: 4}\ndata: {type: text, path: x}\ntrain: {steps: 1}\n", {},
                   {"broken.yaml:1:35: model.width: must be divisible by model.heads (4), found 30"}},
        BrokenCase{"not_yaml", "model: [unclosed\n", {}, {"broken.yaml:2:1: not valid YAML"}},
        BrokenCase{"not_a_mapping", "- just\n- a list\n", {}, {"broken.yaml:1:1: recipe: expected a mapping with model, data, train"}},
        BrokenCase{"section_not_mapping", Replace(kValid, "optimizer:\n  type: adamw\n  lr: 0.01", "optimizer: adam"), {},
                   {"broken.yaml:8:12: optimizer: expected a mapping of fields, found \"adam\""}},
        BrokenCase{"two_errors_reported", Replace(Replace(kValid, "lr: 0.01", "lr: x"), "steps: 10", "steps: -3"), {},
                   {"optimizer.lr: expected", "train.steps: expected an integer in [1,"}},
        BrokenCase{"override_bad_value", kValid, {"optimizer.lr=fast"},
                   {"--set optimizer.lr=fast: optimizer.lr: expected a number"}},
        BrokenCase{"override_unknown_field", kValid, {"optimizer.lrr=0.1"},
                   {"--set optimizer.lrr=0.1: optimizer.lrr: unknown field (did you mean \"lr\"?)"}},
        BrokenCase{"override_without_equals", kValid, {"optimizer.lr"}, {"--set optimizer.lr: expected FIELD=VALUE"}},
        BrokenCase{"override_into_scalar", kValid, {"name.x=1"}, {"cannot set 'name.x': 'name' is not a mapping"}},
        BrokenCase{"override_misspelt_section", kValid, {"optimzer.lr=0.1"},
                   {"--set optimzer.lr=0.1: optimzer: unknown field (did you mean \"optimizer\"?)"}},
        BrokenCase{"override_not_yaml", kValid, {"train.steps=[1"}, {"--set train.steps=[1: the value is not valid YAML"}},
        BrokenCase{"override_empty_path_part", kValid, {"optimizer..lr=1"},
                   {"--set optimizer..lr=1: 'optimizer..lr' is not a dotted field name"}},
        BrokenCase{"override_without_field", kValid, {"=1"}, {"--set =1: expected FIELD=VALUE"}},
        BrokenCase{"override_section_with_scalar", kValid, {"train=3"}, {"--set train=3: train: expected a mapping of fields"}},
        BrokenCase{"repeated_field", Replace(kValid, "lr: 0.01", "lr: 0.01\n  lr: 0.02"), {},
                   {"broken.yaml:11:3: optimizer.lr: given twice (first on line 10); keep one"}},
        BrokenCase{"repeated_section", std::string(kValid) + "optimizer:\n  lr: 0.5\n", {},
                   {"broken.yaml:14:1: optimizer: given twice (first on line 8)"}},
        BrokenCase{"choice_not_a_string", Replace(kValid, "type: mlp", "type: [mlp]"), {},
                   {"broken.yaml:3:9: model.type: expected a string, found a list [mlp]"}},
        BrokenCase{"sweep_unknown_param", std::string(kValid) + "sweep:\n  parameters:\n    optimizer.rate: {values: [1, 2]}\n", {},
                   {"broken.yaml:16:21: sweep.parameters.optimizer.rate: not a valid value for the recipe:",
                    "optimizer.rate: unknown field"}},
        BrokenCase{"sweep_bad_value", std::string(kValid) + "sweep:\n  parameters:\n    train.batch_size: {values: [16, big]}\n", {},
                   {"sweep.parameters.train.batch_size: not a valid value", "expected an integer"}},
        BrokenCase{"sweep_bad_distribution", std::string(kValid) + "sweep:\n  parameters:\n    optimizer.lr: {distribution: loguniform, min: 0.1, max: 1}\n", {},
                   {"broken.yaml:16:34: sweep.parameters.optimizer.lr.distribution: expected one of uniform, log_uniform, int_uniform, found \"loguniform\" (did you mean \"log_uniform\"?)"}},
        BrokenCase{"sweep_min_above_max", std::string(kValid) + "sweep:\n  parameters:\n    optimizer.lr: {distribution: uniform, min: 0.5, max: 0.1}\n", {},
                   {"sweep.parameters.optimizer.lr.max: must not be below min"}},
        BrokenCase{"sweep_log_of_zero", std::string(kValid) + "sweep:\n  parameters:\n    optimizer.lr: {distribution: log_uniform, min: 0, max: 0.1}\n", {},
                   {"sweep.parameters.optimizer.lr.min: expected a number in [1e-300"}},
        BrokenCase{"sweep_grid_needs_values", std::string(kValid) + "sweep:\n  strategy: grid\n  parameters:\n    optimizer.lr: {distribution: uniform, min: 0.1, max: 0.2}\n", {},
                   {"grid search needs {values: [...]} for every parameter"}},
        BrokenCase{"sweep_metric_of_other_task", std::string(kValid) + "sweep:\n  metric: val_perplexity\n  parameters:\n    optimizer.lr: {values: [0.1]}\n", {},
                   {"sweep.metric: expected one of val_loss, val_accuracy, train_loss, found \"val_perplexity\""}},
        BrokenCase{"asha_without_intermediate_reports", std::string(kValid) + "sweep:\n  strategy: asha\n  parameters:\n    optimizer.lr: {values: [0.1]}\n", {},
                   {"sweep.strategy: asha decides at the trials' validation reports, but train.eval_interval is 0"}},
        BrokenCase{"hyperband_max_trials_below_its_first_bracket",
                   std::string(kValid) + "sweep:\n  strategy: hyperband\n  max_trials: 8\n  early_stopping: {min_steps: 1, max_steps: 9}\n"
                   "  parameters:\n    optimizer.lr: {values: [0.1]}\n",
                   {"train.eval_interval=1"}, {"sweep.max_trials: is below hyperband's first bracket (9 trials); leave it out "
                                               "for one pass over the brackets (17 trials)"}},
        BrokenCase{"hyperband_max_steps_not_above_min_steps",
                   std::string(kValid) + "sweep:\n  strategy: hyperband\n  early_stopping: {min_steps: 10}\n  parameters:\n    optimizer.lr: {values: [0.1]}\n",
                   {"train.eval_interval=2"}, {"sweep.early_stopping.max_steps: must be above min_steps (10)"}},
        BrokenCase{"hyperband_by_epochs_without_max_steps",
                   std::string(kValid) + "sweep:\n  strategy: hyperband\n  parameters:\n    optimizer.lr: {values: [0.1]}\n",
                   {"train.eval_interval=2", "train.steps=null", "train.epochs=3"},
                   {"sweep.early_stopping.max_steps: is required when training runs for train.epochs"}},
        BrokenCase{"sampler_with_a_strategy_that_draws_its_own",
                   std::string(kValid) + "sweep:\n  strategy: random\n  sampler: tpe\n  parameters:\n    optimizer.lr: {values: [0.1]}\n",
                   {}, {"sweep.sampler: applies to strategy asha or median"}},
        BrokenCase{"tpe_misspelt_setting",
                   std::string(kValid) + "sweep:\n  strategy: tpe\n  tpe: {startup: 3}\n  parameters:\n    optimizer.lr: {values: [0.1]}\n",
                   {}, {"sweep.tpe.startup: unknown field"}},
        BrokenCase{"hyperband_step_budget_below_the_first_bracket",
                   std::string(kValid) + "sweep:\n  strategy: hyperband\n  early_stopping: {min_steps: 1, max_steps: 9, step_budget: 20}\n"
                   "  parameters:\n    optimizer.lr: {values: [0.1]}\n",
                   {"train.eval_interval=1"}, {"sweep.early_stopping.step_budget: is below hyperband's first bracket (21 steps planned)"}},
        BrokenCase{"tpe_multivariate_not_a_boolean",
                   std::string(kValid) + "sweep:\n  strategy: tpe\n  tpe: {multivariate: sometimes}\n  parameters:\n    optimizer.lr: {values: [0.1]}\n",
                   {}, {"sweep.tpe.multivariate: expected true or false"}},
        BrokenCase{"pbt_varies_the_model",
                   std::string(kValid) + "sweep:\n  strategy: pbt\n  max_trials: 4\n  parameters:\n    model.hidden: {values: [[8], [16]]}\n",
                   {"train.eval_interval=2", "checkpoint.interval=2"}, {"sweep.parameters.model.hidden: pbt copies checkpoints between members"}},
        BrokenCase{"pbt_varies_the_optimizer_type",
                   std::string(kValid) + "sweep:\n  strategy: pbt\n  max_trials: 4\n  parameters:\n    optimizer.type: {values: [adam, adamw]}\n",
                   {"train.eval_interval=2", "checkpoint.interval=2"}, {"sweep.parameters.optimizer.type: pbt copies checkpoints between members"}},
        BrokenCase{"hyperband_too_many_trials",
                   std::string(kValid) + "sweep:\n  strategy: hyperband\n  early_stopping: {min_steps: 1, max_steps: 1099511627776, reduction_factor: 2}\n  parameters:\n    optimizer.lr: {values: [0.1]}\n",
                   {"train.eval_interval=2"}, {"sweep.early_stopping.max_steps: hyperband would run more than 1000000 trials"}},
        BrokenCase{"pbt_without_checkpoints",
                   std::string(kValid) + "sweep:\n  strategy: pbt\n  max_trials: 4\n  parameters:\n    optimizer.lr: {values: [0.1]}\n",
                   {"train.eval_interval=2"}, {"sweep.strategy: pbt copies the latest checkpoint of a better member, but checkpoint.interval is 0"}},
        BrokenCase{"pbt_population_of_one",
                   std::string(kValid) + "sweep:\n  strategy: pbt\n  max_trials: 1\n  parameters:\n    optimizer.lr: {values: [0.1]}\n",
                   {"train.eval_interval=2", "checkpoint.interval=2"}, {"sweep.max_trials: pbt needs a population of at least 2"}},
        BrokenCase{"median_with_asha_parameter",
                   std::string(kValid) + "sweep:\n  strategy: median\n  early_stopping: {min_steps: 5, reduction_factor: 3}\n  parameters:\n    optimizer.lr: {values: [0.1]}\n",
                   {"train.eval_interval=5"}, {"sweep.early_stopping.reduction_factor: unknown field"}},
        BrokenCase{"asha_factor_below_two",
                   std::string(kValid) + "sweep:\n  strategy: asha\n  early_stopping: {reduction_factor: 1.5}\n  parameters:\n    optimizer.lr: {values: [0.1]}\n",
                   {"train.eval_interval=5"}, {"sweep.early_stopping.reduction_factor: expected a number in [2"}},
        BrokenCase{"sweep_without_parameters", std::string(kValid) + "sweep:\n  strategy: random\n", {},
                   {"sweep.parameters: is required but missing"}},
        BrokenCase{"sweep_misspelt_values", std::string(kValid) + "sweep:\n  parameters:\n    train.seed: {vales: [1, 2]}\n", {},
                   {"broken.yaml:16:17: sweep.parameters.train.seed: expected {values: [...]}, {value: ...} or {distribution",
                    "broken.yaml:16:18: sweep.parameters.train.seed.vales: unknown field (did you mean \"values\"?)"}},
        BrokenCase{"sweep_repeated_parameter",
                   std::string(kValid) + "sweep:\n  parameters:\n    train.seed: {values: [1]}\n    train.seed: {values: [2]}\n", {},
                   {"broken.yaml:17:5: sweep.parameters.train.seed: given twice (first on line 16)"}},
        // These three, SweepValuesReachTrialsAsWritten and the sampler's single-point range were found
        // in review; their inputs in tests/fuzz/regressions/ break the fuzzer's checks on the old code.
        BrokenCase{"sweep_varies_itself", std::string(kValid) + "sweep:\n  parameters:\n    sweep.seed: {values: [1, 2]}\n", {},
                   {"broken.yaml:16:5: sweep.parameters.sweep.seed: a sweep cannot vary its own settings"}},
        BrokenCase{"sweep_floats_for_integer_field",
                   std::string(kValid) + "sweep:\n  parameters:\n    train.batch_size: {distribution: uniform, min: 8, max: 64}\n", {},
                   {"sweep.parameters.train.batch_size: not a valid value for the recipe: value \"8.0\": train.batch_size: "
                    "expected an integer", "an integer field needs int_uniform"}},
        BrokenCase{"sweep_integers_beyond_a_double",
                   std::string(kValid) + "sweep:\n  parameters:\n    name: {distribution: int_uniform, min: 0, max: 4611686018427387903}\n", {},
                   {"broken.yaml:16:52: sweep.parameters.name.max: expected an integer in [-9007199254740992, 9007199254740992]"}},
        BrokenCase{"sweep_scalar_parameter", std::string(kValid) + "sweep:\n  parameters:\n    optimizer.lr: 0.1\n", {},
                   {"broken.yaml:16:19: sweep.parameters.optimizer.lr: expected a mapping such as {values: [...]}"}},
        BrokenCase{"when_unknown_parent",
                   std::string(kValid) + "sweep:\n  parameters:\n    optimizer.type: {values: [sgd, adamw]}\n"
                                         "    optimizer.momentum: {values: [0.9], when: {optimizer.kind: sgd}}\n",
                   {}, {"broken.yaml:17:48: sweep.parameters.optimizer.momentum.when.optimizer.kind: names no parameter "
                        "listed above this one"}},
        BrokenCase{"when_value_not_listed",
                   std::string(kValid) + "sweep:\n  parameters:\n    optimizer.type: {values: [sgd, adamw]}\n"
                                         "    optimizer.momentum: {values: [0.9], when: {optimizer.type: adam}}\n",
                   {}, {"sweep.parameters.optimizer.momentum.when.optimizer.type: adam is not one of optimizer.type's "
                        "values (sgd, adamw)"}},
        BrokenCase{"when_on_a_distribution",
                   std::string(kValid) + "sweep:\n  parameters:\n    optimizer.lr: {distribution: log_uniform, min: 0.001, max: 0.1}\n"
                                         "    train.seed: {values: [1], when: {optimizer.lr: 0.01}}\n",
                   {}, {"when.optimizer.lr: is a distribution; a condition needs a parameter with {values: [...]}"}},
        BrokenCase{"when_without_its_condition_fails_the_recipe",
                   std::string(kValid) + "sweep:\n  parameters:\n    optimizer.type: {values: [sgd, adamw]}\n"
                                         "    optimizer.momentum: {values: [0.9]}\n",
                   {}, {"sweep.parameters.optimizer.momentum: not a valid value for the recipe"}},
        BrokenCase{"when_with_pbt",
                   std::string(kValid) + "sweep:\n  strategy: pbt\n  parameters:\n    schedule.type: {values: [constant, cosine]}\n"
                                         "    schedule.warmup_steps: {values: [0, 5], when: {schedule.type: cosine}}\n",
                   {"train.eval_interval=2", "checkpoint.interval=2"},
                   {"sweep.parameters.schedule.warmup_steps.when: pbt changes a member's hyperparameters mid-run"}},
        BrokenCase{"gpu_share_twice",
                   std::string(kValid) + "sweep:\n  gpu_memory_gib: 8\n  gpu_fraction: 0.5\n  parameters:\n    train.seed: {values: [1]}\n",
                   {}, {"broken.yaml:16:17: sweep.gpu_fraction: and sweep.gpu_memory_gib both ask for a share of a GPU"}},
        BrokenCase{"gpu_share_of_a_gang",
                   std::string(kValid) + "sweep:\n  ranks: 2\n  gpu_fraction: 0.5\n  parameters:\n    train.seed: {values: [1]}\n",
                   {}, {"broken.yaml:16:17: sweep.gpu_fraction: shares one GPU between single-rank trials, but sweep.ranks is 2"}},
        BrokenCase{"gpu_fraction_above_one",
                   std::string(kValid) + "sweep:\n  gpu_fraction: 2\n  parameters:\n    train.seed: {values: [1]}\n",
                   {}, {"broken.yaml:15:17: sweep.gpu_fraction: expected a number in [0, 1], found \"2\""}}),
    [](const ::testing::TestParamInfo<BrokenCase>& info) { return std::string(info.param.name); });

// A wrong or missing section, or a value of the wrong kind, is one problem, reported once.
TEST(RecipeTest, AWrongSectionIsReportedOnce) {
  for (const std::string& yaml : {Replace(kValid, "model:\n  type: mlp\n  hidden: [32, 32]\n", ""),
                                  Replace(kValid, "model:\n  type: mlp\n  hidden: [32, 32]", "model: mlp"),
                                  Replace(kValid, "data:\n  type: synthetic\n  samples: 256", "data: [1, 2]"),
                                  Replace(kValid, "train:\n  steps: 10\n  batch_size: 16", "train: 3"),
                                  Replace(kValid, "type: mlp", "type: [mlp]")}) {
    auto r = ParseRecipe(yaml, "one.yaml", {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(std::count(r.status().message().begin(), r.status().message().end(), '\n'), 0)
        << r.status().message();
  }
}

TEST(RecipeTest, SweepSpaceIsParsed) {
  std::string yaml = std::string(kValid) + R"(sweep:
  strategy: random
  metric: val_accuracy
  max_trials: 12
  parameters:
    optimizer.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
    model.hidden: {values: [[64], [128, 128]]}
    train.batch_size: {distribution: int_uniform, min: 8, max: 64}
    train.seed: {value: 3}
)";
  auto r = ParseRecipe(yaml, "sweep.yaml", {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->has_sweep);
  EXPECT_EQ(r->sweep.mode, "max");  // accuracy is maximised unless told otherwise
  EXPECT_EQ(r->sweep.max_trials, 12);
  ASSERT_EQ(r->sweep.parameters.size(), 4u);
  const auto& lr = r->sweep.parameters[0];
  EXPECT_EQ(lr.path, "optimizer.lr");
  EXPECT_EQ(lr.kind, ParameterSpace::Kind::kLogUniform);
  EXPECT_DOUBLE_EQ(lr.min, 1e-4);
  EXPECT_EQ(r->sweep.parameters[1].values, (std::vector<std::string>{"[64]", "[128, 128]"}));
  EXPECT_EQ(r->sweep.parameters[2].kind, ParameterSpace::Kind::kIntUniform);
  EXPECT_EQ(r->sweep.parameters[3].kind, ParameterSpace::Kind::kConstant);
  EXPECT_EQ(GridSize(r->sweep.parameters), 0);  // not a grid: continuous parameters
}

TEST(RecipeTest, AConditionalParameterIsCheckedWithTheValuesThatMakeItApply) {
  // momentum is no field of adamw (the recipe's optimizer): only with optimizer.type sgd is it valid.
  auto r = ParseRecipe(std::string(kValid) + "sweep:\n  parameters:\n    optimizer.type: {values: [sgd, adamw]}\n"
                                             "    optimizer.momentum: {values: [0.5, 0.9], when: {optimizer.type: [sgd]}}\n",
                       "ok.yaml", {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->sweep.parameters.size(), 2u);
  ASSERT_EQ(r->sweep.parameters[1].when.size(), 1u);
  EXPECT_EQ(r->sweep.parameters[1].when[0].path, "optimizer.type");
  EXPECT_EQ(r->sweep.parameters[1].when[0].values, std::vector<std::string>{"sgd"});
  EXPECT_EQ(GridSize(r->sweep.parameters), 3);
}

// A branch that needs a field the conditions govern gets it in its check: csv data needs a path,
// which exists only when data.type is csv (it used to be checked with the path removed).
TEST(RecipeTest, ABranchIsCheckedWithTheConditionalFieldsItNeeds) {
  auto r = ParseRecipe("name: r\nmodel: {type: mlp}\ndata: {type: synthetic}\ntrain: {steps: 1}\n"
                       "sweep:\n  strategy: grid\n  parameters:\n    data.type: {values: [synthetic, csv]}\n"
                       "    data.path: {values: [a.csv, b.csv], when: {data.type: csv}}\n",
                       "r.yaml", {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(GridSize(r->sweep.parameters), 3);
}

// A trial's recipe is the sweep's with the trial's overrides (the worker and the trainer parse it
// with its sweep block): valid in each branch, including a recipe value that suits only one of them.
TEST(RecipeTest, EveryBranchOfAConditionalSpaceMakesAValidTrialRecipe) {
  const std::string text = Replace(kValid, "type: adamw", "type: sgd\n  momentum: 0.8") +
                           "sweep:\n  parameters:\n    optimizer.type: {values: [sgd, adamw]}\n"
                           "    optimizer.momentum: {values: [0.5, 0.9], when: {optimizer.type: sgd}}\n";
  ASSERT_TRUE(ParseRecipe(text, "ok.yaml", {}).ok()) << ParseRecipe(text, "ok.yaml", {}).status().message();
  auto sgd = ParseRecipe(text, "ok.yaml", {"optimizer.type=sgd", "optimizer.momentum=0.5"});
  ASSERT_TRUE(sgd.ok()) << sgd.status().message();
  EXPECT_DOUBLE_EQ(sgd->optimizer.momentum, 0.5);
  // The coordinator removes the field a failed condition governs ("path=").
  auto adamw = ParseRecipe(text, "ok.yaml", {"optimizer.type=adamw", "optimizer.momentum="});
  ASSERT_TRUE(adamw.ok()) << adamw.status().message();
  EXPECT_EQ(adamw->optimizer.type, "adamw");
}

TEST(RecipeTest, AGpuShareIsReadIntoTheSweep) {
  auto r = ParseRecipe(std::string(kValid) + "sweep:\n  gpu_memory_gib: 12.5\n  parameters:\n    train.seed: {values: [1]}\n",
                       "ok.yaml", {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_DOUBLE_EQ(r->sweep.gpu_memory_gib, 12.5);
  EXPECT_EQ(r->sweep.gpu_fraction, 0);
}

TEST(RecipeTest, EarlyStoppingStartsAtTheFirstValidationReportByDefault) {
  auto recipe = ParseRecipe(std::string(kValid) + "sweep:\n  strategy: asha\n  parameters:\n    optimizer.lr: {values: [0.1, 0.01]}\n",
                            "asha.yaml", {"train.eval_interval=4"});
  ASSERT_TRUE(recipe.ok()) << recipe.status().message();
  EXPECT_EQ(recipe->sweep.min_steps, 4);
  EXPECT_EQ(recipe->sweep.reduction_factor, 3);
  auto median = ParseRecipe(std::string(kValid) + "sweep:\n  strategy: median\n  early_stopping: {min_steps: 8, min_trials: 5}\n"
                            "  parameters:\n    optimizer.lr: {values: [0.1, 0.01]}\n",
                            "median.yaml", {"train.eval_interval=4"});
  ASSERT_TRUE(median.ok()) << median.status().message();
  EXPECT_EQ(median->sweep.min_steps, 8);
  EXPECT_EQ(median->sweep.min_trials, 5);
}

TEST(RecipeTest, HyperbandTpeAndPbtSettingsHaveDefaultsFromTheTrainingFields) {
  auto hyperband = ParseRecipe(std::string(kValid) + "sweep:\n  strategy: hyperband\n  parameters:\n    optimizer.lr: {values: [0.1, 0.01]}\n",
                               "hb.yaml", {"train.eval_interval=2"});
  ASSERT_TRUE(hyperband.ok()) << hyperband.status().message();
  EXPECT_EQ(hyperband->sweep.min_steps, 2);
  EXPECT_EQ(hyperband->sweep.max_steps, 10) << "train.steps";
  EXPECT_EQ(hyperband->sweep.max_trials, 0) << "one pass over the brackets";
  auto repeated = ParseRecipe(std::string(kValid) + "sweep:\n  strategy: hyperband\n  max_trials: 50\n  parameters:\n"
                              "    optimizer.lr: {values: [0.1, 0.01]}\n", "hb.yaml", {"train.eval_interval=2"});
  ASSERT_TRUE(repeated.ok()) << repeated.status().message();
  EXPECT_EQ(repeated->sweep.max_trials, 50) << "the brackets repeat up to it";
  auto budgeted = ParseRecipe(std::string(kValid) + "sweep:\n  strategy: hyperband\n  early_stopping: {min_steps: 1, max_steps: 9, "
                              "step_budget: 500}\n  parameters:\n    optimizer.lr: {values: [0.1, 0.01]}\n", "hb.yaml",
                              {"train.eval_interval=1"});
  ASSERT_TRUE(budgeted.ok()) << budgeted.status().message();
  EXPECT_EQ(budgeted->sweep.step_budget, 500);
  auto tpe = ParseRecipe(std::string(kValid) + "sweep:\n  strategy: asha\n  sampler: tpe\n  tpe: {startup_trials: 4}\n"
                         "  parameters:\n    optimizer.lr: {distribution: log_uniform, min: 0.001, max: 0.1}\n",
                         "tpe.yaml", {"train.eval_interval=2"});
  ASSERT_TRUE(tpe.ok()) << tpe.status().message();
  EXPECT_EQ(tpe->sweep.sampler, "tpe");
  EXPECT_EQ(tpe->sweep.tpe_startup_trials, 4);
  EXPECT_EQ(tpe->sweep.tpe_candidates, 24);
  EXPECT_TRUE(tpe->sweep.tpe_multivariate);
  EXPECT_TRUE(tpe->sweep.tpe_constant_liar);
  auto separate = ParseRecipe(std::string(kValid) + "sweep:\n  strategy: tpe\n  tpe: {multivariate: false, constant_liar: false}\n"
                              "  parameters:\n    optimizer.lr: {distribution: log_uniform, min: 0.001, max: 0.1}\n",
                              "tpe-separate.yaml", {});
  ASSERT_TRUE(separate.ok()) << separate.status().message();
  EXPECT_FALSE(separate->sweep.tpe_multivariate);
  EXPECT_FALSE(separate->sweep.tpe_constant_liar);
  auto pbt = ParseRecipe(std::string(kValid) + "sweep:\n  strategy: pbt\n  max_trials: 4\n  pbt: {quantile: 0.5}\n"
                         "  parameters:\n    optimizer.lr: {distribution: log_uniform, min: 0.001, max: 0.1}\n",
                         "pbt.yaml", {"train.eval_interval=2", "checkpoint.interval=2"});
  ASSERT_TRUE(pbt.ok()) << pbt.status().message();
  EXPECT_EQ(pbt->sweep.pbt_interval, 2) << "train.eval_interval";
  EXPECT_EQ(pbt->sweep.pbt_quantile, 0.5);
  EXPECT_EQ(pbt->sweep.pbt_resample_probability, 0.25);
  EXPECT_EQ(pbt->sweep.sampler, "random");
  auto quasi = ParseRecipe(std::string(kValid) + "sweep:\n  strategy: quasi_random\n  parameters:\n"
                           "    optimizer.lr: {distribution: log_uniform, min: 0.001, max: 0.1}\n", "q.yaml", {});
  ASSERT_TRUE(quasi.ok()) << quasi.status().message();
  EXPECT_EQ(quasi->sweep.max_trials, 10);
  auto asha_quasi = ParseRecipe(std::string(kValid) + "sweep:\n  strategy: asha\n  sampler: quasi_random\n"
                                "  parameters:\n    optimizer.lr: {values: [0.1, 0.01]}\n",
                                "aq.yaml", {"train.eval_interval=2"});
  ASSERT_TRUE(asha_quasi.ok()) << asha_quasi.status().message();
  EXPECT_EQ(asha_quasi->sweep.sampler, "quasi_random");
}

// Sixteen parameters of sixteen values make 2^64 points, which wrapped around to 0 (not a grid).
TEST(RecipeTest, AGridTooLargeToCountIsRejected) {
  const char* fields[] = {"train.seed", "train.steps", "train.batch_size", "train.eval_interval",
                          "train.threads", "train.grad_clip", "checkpoint.interval", "checkpoint.keep",
                          "metrics.log_interval", "schedule.warmup_steps", "optimizer.lr", "data.features",
                          "data.seed", "data.samples", "data.noise", "name"};
  std::string yaml = std::string(kValid) + "sweep:\n  strategy: grid\n  parameters:\n";
  for (const char* field : fields) {
    yaml += std::string("    ") + field + ": {values: [";
    for (int v = 2; v <= 17; ++v) yaml += std::to_string(v) + (v < 17 ? ", " : "]}\n");
  }
  auto r = ParseRecipe(yaml, "huge.yaml", {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sweep.parameters: the grid has more than 1000000 points"), std::string::npos)
      << r.status().message();
}

TEST(RecipeTest, GridSizeSaturatesInsteadOfOverflowing) {
  std::vector<ParameterSpace> grid(64);
  for (ParameterSpace& p : grid) {
    p.kind = ParameterSpace::Kind::kValues;
    p.values = {"1", "2"};
  }
  EXPECT_EQ(GridSize(grid), INT64_MAX);
  grid.resize(62);
  EXPECT_EQ(GridSize(grid), int64_t{1} << 62);
}

// A listed value reaches a trial as the text of a --set override; it must read back as the value
// that was validated, not as a mapping ("a: b"), a comment ("#c") or nothing ("").
TEST(RecipeTest, SweepValuesReachTrialsAsWritten) {
  auto r = ParseRecipe(std::string(kValid) + "sweep:\n  parameters:\n    name: {values: ['a: b', '#c', '', x y, '[1']}\n",
                       "values.yaml", {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  const std::vector<std::string> written = {"a: b", "#c", "", "x y", "[1"};
  const std::vector<std::string>& texts = r->sweep.parameters[0].values;
  ASSERT_EQ(texts.size(), written.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    YAML::Node back = YAML::Load(texts[i]);
    ASSERT_TRUE(back.IsScalar()) << texts[i];
    EXPECT_EQ(back.Scalar(), written[i]) << texts[i];
    auto trial = ParseRecipe(kValid, "values.yaml", {"name=" + texts[i]});
    ASSERT_TRUE(trial.ok()) << trial.status().message();
    EXPECT_EQ(trial->name, written[i]);
  }
}

// An empty value unsets a field, e.g. --set train.steps= --set train.epochs=3 to switch to epochs.
TEST(RecipeTest, AnOverrideWithoutValueUnsetsTheField) {
  auto r = ParseRecipe(kValid, "ok.yaml", {"optimizer.lr=", "train.steps=", "train.epochs=3"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_DOUBLE_EQ(r->optimizer.lr, 1e-3);
  EXPECT_EQ(r->train.steps, 0);
  EXPECT_EQ(r->train.epochs, 3);
}

TEST(RecipeTest, GridSizeMultipliesValueCounts) {
  std::vector<ParameterSpace> grid(2);
  grid[0].kind = grid[1].kind = ParameterSpace::Kind::kValues;
  grid[0].values = {"1", "2", "3"};
  grid[1].values = {"a", "b"};
  EXPECT_EQ(GridSize(grid), 6);
}

TEST(RecipeTest, RelativeDataPathsResolveAgainstTheRecipe) {
  auto r = ParseRecipe("model: {type: mlp}\ndata: {type: csv, path: data/t.csv}\ntrain: {steps: 1}\n",
                       "/srv/recipes/x.yaml", {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->data.path, "/srv/recipes/data/t.csv");
}

// The recipe a registry version keeps: one trial's, readable from anywhere.
TEST(RecipeTest, ATrialsRecipeHasItsOverridesAndAbsolutePathsAndNoSweep) {
  const std::string sweep = "name: x\nmodel: {type: mlp}\ndata: {type: csv, path: data/t.csv}\ntrain: {steps: 1}\n"
                            "sweep:\n  parameters:\n    optimizer.lr: {values: [0.1, 0.01]}\n";
  auto text = TrialRecipeYaml(sweep, "/srv/recipes/x.yaml", {"train.steps=5", "optimizer.lr=0.01"});
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(text->find("sweep"), std::string::npos) << *text;
  auto trial = ParseRecipe(*text, "/elsewhere/recipe.yaml", {});
  ASSERT_TRUE(trial.ok()) << trial.status().message() << "\n" << *text;
  EXPECT_FALSE(trial->has_sweep);
  EXPECT_EQ(trial->data.path, "/srv/recipes/data/t.csv");
  EXPECT_EQ(trial->train.steps, 5);
  EXPECT_DOUBLE_EQ(trial->optimizer.lr, 0.01);
  EXPECT_EQ(TrialRecipeYaml(sweep, "x.yaml", {"train.stepz=5"}).status().code(), StatusCode::kInvalidArgument);
}

TEST(RecipeTest, MissingFileIsNotFound) {
  auto r = LoadRecipe("/nonexistent/recipe.yaml", {});
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/recipe.yaml"), std::string::npos);
}

// Every shipped recipe must stay valid.
TEST(RecipeTest, ShippedRecipesAreValid) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(ORCHARD_SOURCE_DIR "/recipes")) {
    if (entry.path().extension() != ".yaml") continue;
    auto r = LoadRecipe(entry.path().string(), {});
    EXPECT_TRUE(r.ok()) << entry.path() << ": " << r.status().message();
    ++count;
  }
  EXPECT_GE(count, 3);
}

// Inputs the fuzzer (tests/fuzz/recipe_fuzzer.cc) found; each is also in tests/fuzz/regressions/.

// Every line of the message is one error that names the file (or the override) it comes from.
void ExpectOneErrorPerLine(const std::string& message, const std::string& file) {
  size_t start = 0;
  while (start <= message.size()) {
    size_t end = std::min(message.find('\n', start), message.size());
    std::string line = message.substr(start, end - start);
    EXPECT_TRUE(line.rfind(file + ":", 0) == 0 || line.rfind("--set ", 0) == 0)
        << "line \"" << line << "\" of:\n" << message;
    start = end + 1;
  }
}

// regressions/sweep-distribution-without-bounds.yaml: the missing bounds were checked against the
// recipe as values, and yaml-cpp threw on assigning the absent node.
TEST(FuzzRegressionTest, DistributionWithoutBoundsIsAnError) {
  auto r = ParseRecipe(std::string(kValid) + "sweep:\n  parameters:\n    model.dropout: {distribution: uniform}\n",
                       "bounds.yaml", {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bounds.yaml:16:20: sweep.parameters.model.dropout.min: is required but missing"),
            std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("sweep.parameters.model.dropout.max: is required but missing"), std::string::npos)
      << r.status().message();
}

// regressions/multi-line-scalar-in-error.yaml: a value quoted in a message kept its line breaks and
// split one error over several lines.
TEST(FuzzRegressionTest, LineBreaksInValuesAreEscapedInMessages) {
  for (const std::string& yaml : {std::string("s\n\n["),
                                  Replace(kValid, "type: mlp", "type: \"ml\\np\""),
                                  Replace(kValid, "batch_size: 16", "\"batch\\nsize\": 16")}) {
    auto r = ParseRecipe(yaml, "lines.yaml", {"train.device=\"cu\\nda\""});
    ASSERT_FALSE(r.ok()) << yaml;
    ExpectOneErrorPerLine(r.status().message(), "lines.yaml");
  }
  auto r = ParseRecipe(Replace(kValid, "type: mlp", "type: \"ml\\np\""), "lines.yaml", {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("found \"ml\\np\""), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace orchard
