// orchard-train as a user runs it: a real process, its exit codes, signals and files.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <thread>

#include "tests/util/test_util.h"
#include "worker/train/trainer.h"

namespace orchard::train {
namespace {

using orchard::testing::Process;
using orchard::testing::ProcessResult;
using orchard::testing::ReadFile;
using orchard::testing::RunProcess;
using orchard::testing::TempDir;
using orchard::testing::WriteFile;

constexpr char kTrain[] = ORCHARD_TRAIN_BIN;

constexpr char kLongRun[] = R"(name: long
model: {type: mlp, hidden: [64, 64]}
data: {type: synthetic, samples: 2000}
train: {steps: 1000000, batch_size: 32}
metrics: {log_interval: 20}
)";

TEST(TrainProcessTest, SigtermWritesACheckpointAndExitsAsPreempted) {
  TempDir dir;
  WriteFile(dir / "long.yaml", kLongRun);
  Process trainer({kTrain, dir / "long.yaml", "--out", dir / "out"}, dir / "log.txt");
  // Wait until it is really training (metrics appear), then preempt it.
  for (int i = 0; i < 600 && ReadFile(dir / "out/metrics.jsonl").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(ReadFile(dir / "out/metrics.jsonl").empty()) << ReadFile(dir / "log.txt");
  ::kill(trainer.pid(), SIGTERM);
  ProcessResult r = trainer.Wait(60);
  ASSERT_EQ(r.exit_code, kExitPreempted) << r.output;
  size_t at = r.output.find("preempted at step ");
  ASSERT_NE(at, std::string::npos) << r.output;
  int64_t step = std::stoll(r.output.substr(at + 18));
  EXPECT_GT(step, 0);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "out/checkpoints" / ("step-" + std::to_string(step)) / "MANIFEST"));

  // The same command with --resume continues from there (here: to a nearer end).
  ProcessResult resumed = RunProcess({kTrain, dir / "long.yaml", "--out", dir / "out", "--resume", "--set",
                                      "train.steps=" + std::to_string(step + 10), "--summary", dir / "s.json"});
  ASSERT_EQ(resumed.exit_code, kExitCompleted) << resumed.output;
  EXPECT_NE(resumed.output.find("at step " + std::to_string(step)), std::string::npos) << resumed.output;
  auto summary = nlohmann::json::parse(ReadFile(dir / "s.json"));
  EXPECT_EQ(summary["start_step"], step);
  EXPECT_EQ(summary["steps"], step + 10);
}

TEST(TrainProcessTest, DivergenceExitsWithItsOwnCode) {
  TempDir dir;
  WriteFile(dir / "d.yaml", "model: {type: mlp}\ndata: {type: synthetic, task: regression}\n"
                            "optimizer: {type: sgd, lr: 1000}\ntrain: {steps: 100}\n");
  ProcessResult r = RunProcess({kTrain, dir / "d.yaml", "--out", dir / "out"});
  EXPECT_EQ(r.exit_code, kExitDiverged) << r.output;
  EXPECT_NE(r.output.find("diverged at step"), std::string::npos) << r.output;
}

TEST(TrainProcessTest, InvalidRecipeRunsNothingAndNamesTheLine) {
  TempDir dir;
  WriteFile(dir / "bad.yaml", "model: {type: mlp}\ndata: {type: synthetic}\ntrain:\n  steps: many\n");
  ProcessResult r = RunProcess({kTrain, dir / "bad.yaml", "--out", dir / "out"});
  EXPECT_EQ(r.exit_code, kExitBadInput);
  EXPECT_NE(r.output.find(dir / "bad.yaml" + ":4:10: train.steps: expected an integer"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nothing was run"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "out"));

  ProcessResult flag = RunProcess({kTrain, dir / "bad.yaml", "--no-such-flag"});
  EXPECT_EQ(flag.exit_code, kExitBadInput) << flag.output;
  ProcessResult help = RunProcess({kTrain, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--resume"), std::string::npos);
}

TEST(TrainProcessTest, ValidateOnlyChecksTheRecipe) {
  ProcessResult r = RunProcess({kTrain, ORCHARD_SOURCE_DIR "/recipes/quickstart.yaml", "--validate"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("valid (mlp on synthetic data, sweep of 3 parameters)"), std::string::npos) << r.output;
}

// A researcher's own architecture: scripted in Python with the venv's torch, trained by orchard-train.
TEST(TrainProcessTest, TrainsATorchScriptModuleMadeAtTestTime) {
  TempDir dir;
  WriteFile(dir / "make_model.py", R"(import sys, torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))
torch.jit.script(Net()).save(sys.argv[1])
)");
  ProcessResult made = RunProcess({ORCHARD_PYTHON, "-W", "ignore", dir / "make_model.py", dir / "net.pt"});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  WriteFile(dir / "ts.yaml", "model: {type: torchscript, path: net.pt}\n"
                             "data: {type: synthetic, samples: 1500, features: 8, classes: 3}\n"
                             "optimizer: {type: adamw, lr: 0.005}\ntrain: {steps: 150, batch_size: 32}\n");
  ProcessResult r = RunProcess({kTrain, dir / "ts.yaml", "--out", dir / "out", "--summary", dir / "s.json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto summary = nlohmann::json::parse(ReadFile(dir / "s.json"));
  EXPECT_LT(summary["final_train_loss"].get<double>(), 0.5 * summary["first_train_loss"].get<double>()) << summary.dump();
  EXPECT_GT(summary["final_eval"]["val_accuracy"].get<double>(), 0.8) << summary.dump();

  WriteFile(dir / "broken.pt", "not a module");
  WriteFile(dir / "ts2.yaml", "model: {type: torchscript, path: broken.pt}\ndata: {type: synthetic}\ntrain: {steps: 1}\n");
  ProcessResult bad = RunProcess({kTrain, dir / "ts2.yaml", "--out", dir / "out2"});
  EXPECT_EQ(bad.exit_code, kExitBadInput) << bad.output;
  EXPECT_NE(bad.output.find("cannot load the TorchScript module"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace orchard::train
