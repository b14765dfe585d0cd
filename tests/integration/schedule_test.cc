// Schedules and `submit --wait` end to end on loopback: an orchard-coordinator process, one
// orchard-worker with orchard-train trainers, and the orchard CLI as a person (or cron) runs it.
// Firing on the cron itself is tested with a hand-set clock in tests/coordinator/schedules_test.cc;
// here runs are fired with run-now, on the real clock.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "tests/util/test_util.h"

namespace orchard {
namespace {

namespace fs = std::filesystem;
using testing::Process;
using testing::ProcessResult;
using testing::ReadFile;
using testing::RunProcess;
using testing::TempDir;
using testing::WriteFile;

const std::string kBin = ORCHARD_BIN_DIR;

// Retrains on the day's data, which lands in data/<date>/train.csv next to the recipe.
constexpr const char* kNightly = R"(name: nightly-${date}
model: {type: mlp, hidden: [8]}
data: {type: csv, path: data/${date}/train.csv}
train: {steps: 10, batch_size: 8, threads: 1}
sweep:
  strategy: grid
  metric: val_loss
  parameters:
    optimizer.lr: {values: [0.1, 0.01]}
)";

// "YYYY-MM-DD" in UTC, `days` from today.
std::string UtcDate(int days) {
  using namespace std::chrono;
  const year_month_day date{floor<std::chrono::days>(system_clock::now()) + std::chrono::days{days}};
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()));
  return text;
}

class ScheduleCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    coordinator_ = std::make_unique<Process>(
        std::vector<std::string>{kBin + "/orchard-coordinator", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--state-dir", dir_ / "state",
                                 "--heartbeat-interval", "0.5", "--lease-timeout", "5"},
        dir_ / "coordinator.log");
    address_ = testing::WaitForListenAddress(dir_ / "coordinator.log", 30);
    ASSERT_FALSE(address_.empty()) << ReadFile(dir_ / "coordinator.log");
    worker_ = std::make_unique<Process>(std::vector<std::string>{kBin + "/orchard-worker", "--coordinator", address_,
                                                                 "--cpu-slots", "2", "--threads-per-slot", "1"},
                                        dir_ / "worker.log");
    WriteFile(dir_ / "nightly.yaml", kNightly);
  }

  void TearDown() override {
    kill(worker_->pid(), SIGTERM);
    EXPECT_EQ(worker_->Wait(60).exit_code, 0) << ReadFile(dir_ / "worker.log");
    kill(coordinator_->pid(), SIGTERM);
    EXPECT_EQ(coordinator_->Wait(30).exit_code, 0) << ReadFile(dir_ / "coordinator.log");
  }

  ProcessResult Cli(std::vector<std::string> args, double timeout = 300) {
    args.insert(args.begin(), {kBin + "/orchard", "--coordinator", address_});
    return RunProcess(args, timeout);
  }

  void DeliverData(const std::string& date) {
    fs::create_directories(dir_ / ("data/" + date));
    std::string csv = "x1,x2,label\n";
    for (int i = 0; i < 40; ++i) csv += std::to_string(i % 7) + "," + std::to_string(i % 5) + "," + std::to_string(i % 2) + "\n";
    WriteFile(dir_ / ("data/" + date + "/train.csv"), csv);
  }

  TempDir dir_;
  std::unique_ptr<Process> coordinator_, worker_;
  std::string address_;
};

TEST_F(ScheduleCliTest, AddShowRunNowPauseResumeAndRemoveThroughTheCli) {
  const std::vector<std::string> add = {"schedule", "add", "nightly", "--cron", "0 2 * * *", "--tz", "UTC",
                                        "--recipe", dir_ / "nightly.yaml", "--model", "tiny", "--margin", "0.01"};
  ProcessResult result = Cli(add);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("created schedule nightly (version 1): '0 2 * * *' in UTC"), std::string::npos)
      << result.output;
  result = Cli(add);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("unchanged"), std::string::npos) << result.output;

  // A typo in a variable is refused now, not at 2 am.
  WriteFile(dir_ / "typo.yaml", std::string(kNightly).replace(std::string(kNightly).find("${date}/"), 7, "${dat}"));
  result = Cli({"schedule", "add", "typo", "--cron", "@daily", "--recipe", dir_ / "typo.yaml"});
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("unknown variable ${dat}"), std::string::npos) << result.output;

  // No data yet: the run fails with the reason, and run-now says so with exit code 1.
  result = Cli({"schedule", "run-now", "nightly"});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("train.csv does not exist"), std::string::npos) << result.output;

  DeliverData(UtcDate(0));
  DeliverData(UtcDate(1));  // in case the run comes after midnight
  result = Cli({"--json", "schedule", "run-now", "nightly"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto run = nlohmann::json::parse(result.output, nullptr, false);
  ASSERT_TRUE(run.is_object()) << result.output;
  const std::string sweep_id = run.value("sweep_id", "0");
  EXPECT_EQ(run.value("number", "0"), "2");
  result = Cli({"watch", sweep_id});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  result = Cli({"--json", "status", sweep_id});
  const auto sweep = nlohmann::json::parse(result.output, nullptr, false);
  EXPECT_EQ(sweep.value("schedule", ""), "nightly") << result.output;
  EXPECT_EQ(sweep.value("owner", ""), "local") << result.output;
  EXPECT_EQ(sweep.value("name", "").substr(0, 8), "nightly-") << result.output;

  result = Cli({"schedule", "show", "nightly"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  for (const std::string& part : {std::string("schedule nightly (version 1, owner local): active"),
                                  std::string("next firing "), std::string(" UTC ("), std::string("run-now   " + sweep_id),
                                  std::string("completed"), std::string("failed"), std::string("challenges model tiny")})
    EXPECT_NE(result.output.find(part), std::string::npos) << part << " in:\n" << result.output;

  result = Cli({"schedule", "pause", "nightly"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  result = Cli({"schedule", "list"});
  EXPECT_NE(result.output.find("paused"), std::string::npos) << result.output;
  result = Cli({"schedule", "resume", "nightly"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("is active; next firing"), std::string::npos) << result.output;
  result = Cli({"schedule", "remove", "nightly"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  result = Cli({"schedule", "show", "nightly"});
  EXPECT_EQ(result.exit_code, 4) << result.output;
  EXPECT_NE(result.output.find("does not exist"), std::string::npos) << result.output;
}

TEST_F(ScheduleCliTest, SubmitWaitExitsZeroOnlyWhenTheSweepCompleted) {
  WriteFile(dir_ / "good.yaml", "name: good\nmodel: {type: mlp, hidden: [8]}\n"
                                "data: {type: synthetic, samples: 64, features: 4, classes: 2}\n"
                                "train: {steps: 10, batch_size: 8, threads: 1}\n");
  ProcessResult result = Cli({"submit", dir_ / "good.yaml", "--wait"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("best trial of sweep"), std::string::npos) << result.output;

  // The trainer cannot read the data: the sweep fails, and so does the command.
  WriteFile(dir_ / "bad.yaml", "name: bad\nmodel: {type: mlp}\ndata: {type: csv, path: missing.csv}\ntrain: {steps: 10}\n");
  result = Cli({"submit", dir_ / "bad.yaml", "--wait"});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("no trial completed"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace orchard
