// Real LibTorch training through the trainer library, on CPU.
#include "core/file_tree.h"
#include "worker/train/trainer.h"

#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/strategy_answer.h"
#include "kernels/kernels.h"
#include "tests/util/test_util.h"
#include "worker/train/checkpoint_store.h"

namespace orchard::train {
namespace {

using orchard::testing::TempDir;
using orchard::testing::WriteCorpus;
using orchard::testing::WriteFile;

Recipe MustParse(const std::string& yaml, const std::string& file, std::vector<std::string> overrides = {}) {
  auto r = ParseRecipe(yaml, file, overrides);
  if (!r.ok()) throw std::runtime_error(r.status().message());
  return *r;
}

TrainResult MustTrain(const Recipe& recipe, const std::string& out, bool resume = false) {
  TrainOptions options;
  options.output_dir = out;
  options.resume = resume;
  auto result = Train(recipe, options);
  if (!result.ok()) throw std::runtime_error(result.status().message());
  return *result;
}

std::string BigEndian(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// 12x12 images in idx format; the class is the quadrant holding a bright square, plus noise.
void WriteQuadrantImages(const std::string& images, const std::string& labels, int n) {
  std::mt19937 rng(5);
  std::string img = BigEndian(0x803) + BigEndian(n) + BigEndian(12) + BigEndian(12);
  std::string lbl = BigEndian(0x801) + BigEndian(n);
  for (int i = 0; i < n; ++i) {
    int label = static_cast<int>(rng() % 4);
    int r0 = (label / 2) * 6 + static_cast<int>(rng() % 3), c0 = (label % 2) * 6 + static_cast<int>(rng() % 3);
    for (int r = 0; r < 12; ++r)
      for (int c = 0; c < 12; ++c) {
        bool on = r >= r0 && r < r0 + 3 && c >= c0 && c < c0 + 3;
        img.push_back(static_cast<char>(on ? 200 + rng() % 56 : rng() % 60));
      }
    lbl.push_back(static_cast<char>(label));
  }
  WriteFile(images, img);
  WriteFile(labels, lbl);
}

// Sentences from a tiny seeded grammar: structure a byte-level model can learn quickly.
struct LearnCase {
  const char* name;
  std::string model;  // YAML of the model section
  std::string data;   // YAML of the data section; {dir} is the temp dir
  std::string optimizer;
  int steps;
};

class ModelLearnsTest : public ::testing::TestWithParam<LearnCase> {};

TEST_P(ModelLearnsTest, LossFallsWellBelowItsStart) {
  const LearnCase& c = GetParam();
  TempDir dir;
  WriteQuadrantImages(dir / "images.idx", dir / "labels.idx", 800);
  WriteCorpus(dir / "corpus.txt");
  WriteFile(dir / "table.csv", [] {
    std::string csv = "x1,x2,label\n";
    std::mt19937 rng(1);
    for (int i = 0; i < 600; ++i) {
      double x1 = (rng() % 1000) / 500.0 - 1, x2 = (rng() % 1000) / 500.0 - 1;
      csv += std::to_string(x1) + "," + std::to_string(x2) + "," + (x1 * x1 + x2 * x2 < 0.5 ? "1" : "0") + "\n";
    }
    return csv;
  }());
  std::string yaml = "model: " + c.model + "\ndata: " + c.data + "\noptimizer: " + c.optimizer +
                     "\ntrain: {steps: " + std::to_string(c.steps) + ", batch_size: 32, seed: 3}\n" +
                     "metrics: {log_interval: 10}\n";
  Recipe recipe = MustParse(yaml, dir / "recipe.yaml");
  TrainResult r = MustTrain(recipe, dir / "out");
  EXPECT_EQ(r.outcome, TrainResult::Outcome::kCompleted);
  EXPECT_EQ(r.steps, c.steps);
  EXPECT_LT(r.final_train_loss, 0.5 * r.first_train_loss)
      << "first " << r.first_train_loss << " final " << r.final_train_loss;
  EXPECT_TRUE(r.final_eval.count("val_loss"));
  EXPECT_GT(r.samples_per_second, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Models, ModelLearnsTest,
    ::testing::Values(
        LearnCase{"mlp_classification", "{type: mlp, hidden: [32, 32]}",
                  "{type: synthetic, samples: 2000, features: 8, classes: 3, noise: 0.5}", "{type: adamw, lr: 0.005}", 150},
        LearnCase{"mlp_regression", "{type: mlp, hidden: [64, 64], activation: tanh}",
                  "{type: synthetic, task: regression, samples: 2000, features: 4}", "{type: adam, lr: 0.003}", 300},
        LearnCase{"mlp_csv_sgd_nesterov", "{type: mlp, hidden: [32], activation: gelu}",
                  "{type: csv, path: table.csv}", "{type: sgd, lr: 0.1, momentum: 0.9, nesterov: true}", 200},
        LearnCase{"cnn_idx", "{type: cnn, channels: 8, stages: 1}",
                  "{type: idx, images: images.idx, labels: labels.idx}", "{type: adamw, lr: 0.003}", 80},
        LearnCase{"transformer_text", "{type: transformer, layers: 1, heads: 2, width: 32, context: 32}",
                  "{type: text, path: corpus.txt}", "{type: adamw, lr: 0.003}", 120}),
    [](const ::testing::TestParamInfo<LearnCase>& info) { return std::string(info.param.name); });

// N steps straight, and the same run resumed from its checkpoint at step k, end bit-identical.
class ResumeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ResumeTest, ResumedRunIsBitIdenticalToStraightRun) {
  TempDir dir;
  WriteQuadrantImages(dir / "images.idx", dir / "labels.idx", 300);
  // Dropout, shuffling, warmup + cosine and gradient accumulation all depend on restored state.
  std::string yaml = GetParam() +
                     "optimizer: {type: adamw, lr: 0.003}\n"
                     "schedule: {type: cosine, warmup_steps: 5}\n"
                     "train: {steps: 30, batch_size: 16, grad_accumulation: 2, grad_clip: 0.5, seed: 7}\n"
                     "checkpoint: {interval: 12, keep: 5}\n";
  Recipe recipe = MustParse(yaml, dir / "recipe.yaml");
  TrainResult straight = MustTrain(recipe, dir / "straight");

  // A second run whose checkpoints after step 12 are removed, as if it had stopped there.
  TrainResult first_leg = MustTrain(recipe, dir / "resumed");
  EXPECT_EQ(first_leg.parameter_digest, straight.parameter_digest);  // determinism across runs
  RemoveTree(dir.path() / "resumed" / "checkpoints" / "step-24");
  RemoveTree(dir.path() / "resumed" / "checkpoints" / "step-30");
  TrainResult resumed = MustTrain(recipe, dir / "resumed", /*resume=*/true);
  EXPECT_EQ(resumed.start_step, 12);
  EXPECT_EQ(resumed.steps, 30);
  EXPECT_EQ(resumed.parameter_digest, straight.parameter_digest);
  EXPECT_EQ(resumed.final_train_loss, straight.final_train_loss);
  EXPECT_EQ(resumed.final_eval, straight.final_eval);
}

INSTANTIATE_TEST_SUITE_P(
    Models, ResumeTest,
    ::testing::Values("model: {type: mlp, hidden: [32], dropout: 0.3}\ndata: {type: synthetic, samples: 500}\n",
                      "model: {type: cnn, channels: 4, stages: 1, dropout: 0.2}\n"
                      "data: {type: idx, images: images.idx, labels: labels.idx}\n"),
    [](const ::testing::TestParamInfo<std::string>& info) { return info.index == 0 ? "mlp" : "cnn"; });

// A run checkpointed with one optimizer.impl continues with the other: the same result as a straight
// run, to rounding (the two implementations differ by an ulp here and there).
TEST(TrainerTest, ACheckpointResumesWithEitherOptimizerImpl) {
  TempDir dir;
  const std::string yaml = "model: {type: mlp, hidden: [32]}\ndata: {type: synthetic, samples: 400}\n"
                           "optimizer: {type: adamw, lr: 0.01}\ntrain: {steps: 20, batch_size: 16, grad_clip: 0.5}\n"
                           "checkpoint: {interval: 10, keep: 5}\n";
  for (auto [first, second] : {std::pair{"torch", "fused"}, {"fused", "torch"}}) {
    const std::string out = dir / (std::string(first) + "-then-" + second);
    TrainResult straight = MustTrain(MustParse(yaml, dir / "r.yaml", {std::string("optimizer.impl=") + first}), dir / (std::string("straight-") + first));
    MustTrain(MustParse(yaml, dir / "r.yaml", {std::string("optimizer.impl=") + first}), out);
    RemoveTree(std::filesystem::path(out) / "checkpoints" / "step-20");
    TrainResult resumed = MustTrain(MustParse(yaml, dir / "r.yaml", {std::string("optimizer.impl=") + second}), out, /*resume=*/true);
    EXPECT_EQ(resumed.start_step, 10);
    EXPECT_NEAR(resumed.final_eval.at("val_loss"), straight.final_eval.at("val_loss"), 1e-5 * straight.final_eval.at("val_loss"))
        << first << " then " << second;
  }
}

TEST(TrainerTest, MetricsAfterTheResumedStepAreReplacedNotDuplicated) {
  TempDir dir;
  Recipe recipe = MustParse("model: {type: mlp}\ndata: {type: synthetic, samples: 300}\n"
                            "train: {steps: 20, batch_size: 16}\ncheckpoint: {interval: 10}\nmetrics: {log_interval: 5}\n",
                            dir / "r.yaml");
  MustTrain(recipe, dir / "out");
  RemoveTree(dir.path() / "out" / "checkpoints" / "step-20");
  MustTrain(recipe, dir / "out", /*resume=*/true);
  std::map<std::pair<int64_t, std::string>, int> seen;
  std::istringstream lines(orchard::testing::ReadFile(dir / "out/metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line);
    ++seen[{j["step"].get<int64_t>(), j["name"].get<std::string>()}];
  }
  for (const auto& [key, count] : seen) EXPECT_EQ(count, 1) << key.second << " at step " << key.first;
  EXPECT_EQ(seen.count({20, "train_loss"}), 1u);
  EXPECT_EQ(seen.count({5, "train_loss"}), 1u);
}

// The highest step in a metrics file, and whether `name` was recorded at `step`.
int64_t LastMetricStep(const std::string& path, const std::string& name = "", int64_t step = -1, bool* found = nullptr) {
  int64_t last = -1;
  std::istringstream lines(orchard::testing::ReadFile(path));
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;  // a line being written
    last = std::max(last, j.value("step", int64_t{-1}));
    if (found && j.value("step", int64_t{-1}) == step && j.value("name", "") == name) *found = true;
  }
  return last;
}

// Plays the worker, slowly on purpose: once the trainer has recorded val_loss at `step`, waits
// `delay`, notes the furthest step the trainer has written meanwhile, and answers.
class SlowWorker {
 public:
  SlowWorker(std::string out, std::chrono::milliseconds delay) : out_(std::move(out)), delay_(delay) {}
  void Answer(int64_t step, StrategyAnswer::Decision decision, int64_t next_step) {
    for (bool found = false; !found;) {
      LastMetricStep(out_ + "/metrics.jsonl", "val_loss", step, &found);
      if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(delay_);
    furthest_.push_back(LastMetricStep(out_ + "/metrics.jsonl"));
    ASSERT_TRUE(WriteFileAtomically(out_ + "/decision.json", StrategyAnswerJson({1, step, decision, next_step})).ok());
  }
  const std::vector<int64_t>& furthest() const { return furthest_; }

 private:
  std::string out_;
  std::chrono::milliseconds delay_;
  std::vector<int64_t> furthest_;
};

constexpr const char* kRungRecipe =
    "model: {type: mlp}\ndata: {type: synthetic, samples: 300}\n"
    "train: {steps: 60, batch_size: 16, eval_interval: 10}\n"
    "sweep: {strategy: asha, decision_timeout_seconds: DEADLINE, parameters: {optimizer.lr: {values: [0.01]}}}\n";

Recipe RungRecipe(const TempDir& dir, int deadline_seconds) {
  std::string yaml = kRungRecipe;
  yaml.replace(yaml.find("DEADLINE"), 8, std::to_string(deadline_seconds));
  return MustParse(yaml, dir / "r.yaml");
}

// Options of attempt 1 training into `out`, the worker's first answer already there: wait first at
// `first_step`.
TrainOptions AnsweredOptions(const std::string& out, int64_t first_step, std::ostringstream* progress) {
  std::filesystem::create_directories(out);
  const Status written = WriteFileAtomically(out + "/decision.json", StrategyAnswerJson({.attempt = 1, .next_step = first_step}));
  if (!written.ok()) throw std::runtime_error(written.message());
  TrainOptions options;
  options.output_dir = out;
  options.epoch = 1;
  options.decision_file = out + "/decision.json";
  options.progress = progress;
  return options;
}

TEST(TrainerTest, AtAJudgedEvaluationTheRunWaitsForTheDecisionAndAStopEndsItAtThatStep) {
  TempDir dir;
  const Recipe recipe = RungRecipe(dir, 60);
  const std::string out = dir / "out";
  std::ostringstream progress;
  const TrainOptions options = AnsweredOptions(out, 20, &progress);
  SlowWorker worker(out, std::chrono::milliseconds(700));
  std::thread answers([&] {
    worker.Answer(20, StrategyAnswer::Decision::kContinue, 40);
    worker.Answer(40, StrategyAnswer::Decision::kStop, 0);
  });
  const StatusOr<TrainResult> result = Train(recipe, options);
  answers.join();
  ASSERT_TRUE(result.ok()) << result.status().message();
  // It trained nothing while the answers were on their way, and nothing after the stop.
  EXPECT_EQ(worker.furthest(), (std::vector<int64_t>{20, 40}));
  EXPECT_EQ(result->outcome, TrainResult::Outcome::kPreempted);
  EXPECT_EQ(result->steps, 40);
  EXPECT_EQ(LastMetricStep(out + "/metrics.jsonl"), 40);
  EXPECT_EQ(std::filesystem::path(result->last_checkpoint).filename(), "step-40");
  EXPECT_NE(result->message.find("the sweep's strategy stopped it at step 40"), std::string::npos) << result->message;
}

TEST(TrainerTest, WithoutAnAnswerByTheDeadlineTheRunGoesOnAndSaysSoOnce) {
  TempDir dir;
  const Recipe recipe = RungRecipe(dir, 1);
  // Judged from step 10 on (median stopping's way), and nobody answers.
  std::ostringstream progress;
  const TrainOptions options = AnsweredOptions(dir / "out", 10, &progress);
  const auto start = std::chrono::steady_clock::now();
  const StatusOr<TrainResult> result = Train(recipe, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->outcome, TrainResult::Outcome::kCompleted);
  EXPECT_EQ(result->steps, 60);
  EXPECT_GE(seconds, 1) << "it waited out the deadline at step 10";
  EXPECT_LT(seconds, 4.5) << "and, with no answer since, nowhere else (5 s if it waited at steps 10 to 50)";
  const std::string said = progress.str();
  const auto first = said.find("no decision from the sweep's strategy for step 10 within 1 s");
  EXPECT_NE(first, std::string::npos) << said;
  EXPECT_EQ(said.find("no decision", first + 1), std::string::npos) << "said once: " << said;
}

TEST(TrainerTest, RefusesToOverwriteAnotherRunsCheckpoints) {
  TempDir dir;
  Recipe recipe = MustParse("model: {type: mlp}\ndata: {type: synthetic, samples: 100}\ntrain: {steps: 2}\n", dir / "r.yaml");
  MustTrain(recipe, dir / "out");
  TrainOptions options;
  options.output_dir = dir / "out";
  auto again = Train(recipe, options);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("pass --resume"), std::string::npos);
}

TEST(TrainerTest, AGpuThisMachineLacksIsUnavailableNotABadRecipeSoTheTrialIsRetriedElsewhere) {
  if (kernels::CudaKernelsAvailable()) GTEST_SKIP() << "a GPU is visible here: nothing is missing";
  TempDir dir;
  Recipe recipe = MustParse("model: {type: mlp}\ndata: {type: synthetic, samples: 100}\ntrain: {steps: 2, device: cuda}\n",
                            dir / "r.yaml");
  TrainOptions options;
  options.output_dir = dir / "out";
  auto result = Train(recipe, options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable) << result.status().message();
  EXPECT_NE(result.status().message().find("no CUDA GPU is visible on this machine"), std::string::npos);
}

TEST(TrainerTest, DivergenceStopsWithTheStep) {
  TempDir dir;
  Recipe recipe = MustParse("model: {type: mlp}\ndata: {type: synthetic, task: regression, samples: 200}\n"
                            "optimizer: {type: sgd, lr: 1000}\ntrain: {steps: 100}\n", dir / "r.yaml");
  TrainResult r = MustTrain(recipe, dir / "out");
  EXPECT_EQ(r.outcome, TrainResult::Outcome::kDiverged);
  EXPECT_LT(r.steps, 100);
  EXPECT_NE(r.message.find("diverged at step " + std::to_string(r.steps + 1)), std::string::npos) << r.message;
}

TEST(TrainerTest, MissingDataIsAClearError) {
  TempDir dir;
  Recipe recipe = MustParse("model: {type: mlp}\ndata: {type: csv, path: nope.csv}\ntrain: {steps: 2}\n", dir / "r.yaml");
  TrainOptions options;
  options.output_dir = dir / "out";
  auto r = Train(recipe, options);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nope.csv: cannot open the csv file"), std::string::npos) << r.status().message();
}

TEST(TrainerTest, DigitsRecipeReaches95PercentValidationAccuracy) {
  TempDir dir;
  auto recipe = LoadRecipe(ORCHARD_SOURCE_DIR "/recipes/digits.yaml", {});
  ASSERT_TRUE(recipe.ok()) << recipe.status().message();
  TrainResult r = MustTrain(*recipe, dir / "digits");
  ASSERT_EQ(r.outcome, TrainResult::Outcome::kCompleted);
  EXPECT_GE(r.final_eval.at("val_accuracy"), 0.95);
}

}  // namespace
}  // namespace orchard::train
