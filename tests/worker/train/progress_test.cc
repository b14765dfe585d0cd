#include "worker/train/progress.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

#include "tests/util/test_util.h"

namespace orchard::train {
namespace {

using orchard::testing::ReadFile;
using orchard::testing::TempDir;

RunDescription OneRankOnCpu() {
  RunDescription run;
  run.recipe = "digits";
  run.model_type = "mlp";
  run.parameters = 1234;
  run.data_type = "digits";
  run.train_samples = 1437;
  run.validation_samples = 360;
  run.total_steps = 800;
  run.global_batch = 64;
  run.device = "cpu";
  run.cpu_threads = 2;
  run.communicator = "single";
  run.rank_batch = 64;
  run.gradient_buckets = 1;
  return run;
}

TEST(ProgressTest, HeaderLines) {
  RunDescription gpu_ranks = OneRankOnCpu();
  gpu_ranks.device = "cuda:1";
  gpu_ranks.cpu_threads = 0;
  gpu_ranks.ranks = 4;
  gpu_ranks.communicator = "nccl";
  gpu_ranks.global_batch = 256;
  gpu_ranks.gradient_buckets = 3;
  struct Case { RunDescription run; std::string expected; };
  for (const Case& c : std::vector<Case>{
           {OneRankOnCpu(), "orchard-train digits: model mlp (1234 parameters), data digits (1437 train / 360 "
                            "validation), 800 steps of 64, device cpu (2 threads)"},
           // The threads only on the CPU; the ranks, their communicator, batch and buckets only with several.
           {gpu_ranks, "orchard-train digits: model mlp (1234 parameters), data digits (1437 train / 360 "
                       "validation), 800 steps of 256, device cuda:1, 4 ranks (nccl) of batch 64, 3 gradient bucket(s)"},
       }) {
    EXPECT_EQ(HeaderLine(c.run), c.expected);
  }
}

TEST(ProgressTest, StepLines) {
  StepReport plain;
  plain.step = 40;
  plain.total_steps = 800;
  plain.train_loss = 0.42;
  plain.lr = 0.003;
  plain.samples_per_second = 9000.4;
  plain.step_ms = 7.111;
  plain.eta_seconds = 11.6;
  StepReport evaluated = plain;
  evaluated.step = 800;
  evaluated.eval = {{"val_loss", 0.4}, {"val_accuracy", 0.91234}};
  evaluated.eta_seconds = 0;
  struct Case { StepReport report; std::string expected; };
  for (const Case& c : std::vector<Case>{
           // The step is padded to the total's width, so the lines of a run align.
           {plain, "step  40/800  loss 0.4200  lr 3.00e-03  9000 samples/s  7.11 ms/step  eta 12s"},
           // Evaluation metrics by name, between the loss and the learning rate.
           {evaluated, "step 800/800  loss 0.4200  val_accuracy 0.9123  val_loss 0.4000  lr 3.00e-03  9000 "
                       "samples/s  7.11 ms/step  eta 0s"},
       }) {
    EXPECT_EQ(StepLine(c.report), c.expected);
  }
}

// The pace of a report: the interval's mean step, its throughput, and the time left at the pace of
// the steps since the run (re)started.
TEST(ProgressTest, PaceComesFromTheIntervalAndTheRunSoFar) {
  StepReport report;
  report.step = 300, report.total_steps = 1000;
  SetPace(report, /*interval_seconds=*/2.0, /*interval_steps=*/100, /*samples_per_step=*/64,
          /*elapsed_seconds=*/10.0, /*steps_run=*/200);
  EXPECT_DOUBLE_EQ(report.step_ms, 20.0);
  EXPECT_DOUBLE_EQ(report.samples_per_second, 3200.0);
  EXPECT_DOUBLE_EQ(report.eta_seconds, 35.0);  // 700 steps left at 0.05 s each
}

TEST(ProgressTest, EvaluationAndDivergenceMessages) {
  EXPECT_EQ(EvaluationLine(30, {{"val_loss", 0.7577853}, {"val_accuracy", 0.875}}),
            "evaluated at step 30: val_accuracy 0.875 val_loss 0.757785");
  EXPECT_EQ(EvaluationLine(3, {}), "evaluated at step 3:");
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  // A loss that is not finite is named first; a finite loss with a gradient norm that is not, the norm.
  EXPECT_EQ(DivergenceMessage(5, nan, 1.5), "diverged at step 5: loss is nan (lower optimizer.lr, or set train.grad_clip)");
  EXPECT_EQ(DivergenceMessage(7, 2.5, inf),
            "diverged at step 7: gradient norm is inf (lower optimizer.lr, or set train.grad_clip)");
}

std::vector<nlohmann::json> Records(const std::string& path) {
  std::vector<nlohmann::json> records;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line));
  return records;
}

TEST(ProgressTest, RankZeroSaysTheLinesAndReportsTheStepsMetrics) {
  TempDir dir;
  std::ostringstream lines;
  Progress progress(&lines, /*rank=*/0);
  progress.Record(1, "before_open", 1.0);  // no file yet: dropped
  ASSERT_TRUE(progress.OpenMetrics(dir / "metrics.jsonl", std::nullopt).ok());
  progress.Say("hello");
  StepReport report;
  report.step = 4;
  report.total_steps = 10;
  report.train_loss = 1.25;
  report.lr = 0.5;
  report.grad_norm = 0.75;
  report.samples_per_second = 100;
  report.step_ms = 2;
  progress.Report(report);

  EXPECT_EQ(lines.str(), "hello\n" + StepLine(report) + "\n");
  std::vector<nlohmann::json> records = Records(dir / "metrics.jsonl");  // Report flushed them
  ASSERT_EQ(records.size(), 5u);
  const std::vector<std::pair<std::string, double>> expected = {
      {"train_loss", 1.25}, {"lr", 0.5}, {"grad_norm", 0.75}, {"samples_per_second", 100}, {"step_time_ms", 2}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(records[i]["step"], 4);
    EXPECT_EQ(records[i]["name"], expected[i].first);
    EXPECT_EQ(records[i]["value"], expected[i].second);
  }
}

TEST(ProgressTest, OtherRanksSayNothingAndWriteNoMetricsFile) {
  TempDir dir;
  std::ostringstream lines;
  Progress progress(&lines, /*rank=*/1);
  ASSERT_TRUE(progress.OpenMetrics(dir / "metrics.jsonl", std::nullopt).ok());
  progress.Say("hello");
  progress.Record(1, "train_loss", 1.0);
  progress.Flush();
  EXPECT_EQ(lines.str(), "");
  EXPECT_FALSE(std::filesystem::exists(dir / "metrics.jsonl"));
}

}  // namespace
}  // namespace orchard::train
