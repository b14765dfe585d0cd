// What the worker agent reports for its trainers (worker/agent/agent_reports.cc), against a fake
// coordinator and a fake launcher: exits with their reasons, metrics and the coordinator's answers
// to them, and complete checkpoints.
#include "worker/agent/agent.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/strategy_answer.h"
#include "core/trainer_exit_codes.h"
#include "tests/util/test_util.h"
#include "tests/worker/agent/agent_fixture.h"

namespace orchard::worker {
namespace {

TEST_F(AgentTest, ReportsATrainersExitWithItsCodeAndReasonAfterItsLastMetrics) {
  Start();
  const int pid = LaunchAttempt(7);
  orchard::testing::WriteFile(AttemptDir() + "/attempt-7.log", "step 12\norchard-train: diverged at step 12: loss is nan\n");
  orchard::testing::WriteFile(AttemptDir() + "/metrics.jsonl", R"({"step": 12, "name": "train_loss", "value": 1.5})" "\n");
  launcher_->End(pid, train::kExitDiverged, 0);
  ASSERT_TRUE(WaitFor([&] { return !coordinator_.exits().empty(); }, 5));
  EXPECT_TRUE(Stop().ok());

  const auto exits = coordinator_.exits();
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].worker_id(), "worker-1");
  EXPECT_EQ(exits[0].attempt_id(), 7);
  EXPECT_EQ(exits[0].exit_code(), train::kExitDiverged);
  EXPECT_EQ(exits[0].signal(), 0);
  EXPECT_EQ(exits[0].reason(), "orchard-train: diverged at step 12: loss is nan");
  const auto metrics = coordinator_.metrics();
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_EQ(metrics[0].token(), "attempt-token");
  ASSERT_EQ(metrics[0].points_size(), 1);
  EXPECT_EQ(metrics[0].points(0).name(), "train_loss");
  const auto calls = coordinator_.calls();
  EXPECT_LT(std::find(calls.begin(), calls.end(), "ReportMetrics"), std::find(calls.begin(), calls.end(), "ReportAttemptExit"));
  EXPECT_TRUE(launcher_->signals().empty());  // it ended on its own
}

// A refused report is settled at once; any other failure is tried again until it is delivered.
TEST_F(AgentTest, ARefusedExitReportIsDroppedAndAnUnreachableOneRetried) {
  struct Case {
    Status failure;
    size_t calls;  // ReportAttemptExit calls in all
  };
  const Case cases[] = {
      {NotFound("no such attempt"), 1},
      {FailedPrecondition("the attempt has ended"), 1},
      {PermissionDenied("not this worker's"), 1},
      {Unavailable("connection refused"), 4},
      {DeadlineExceeded("deadline exceeded"), 4},
      {Internal("restarting"), 4},
  };
  Start();
  int64_t attempt_id = 10;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.failure.message());
    ++attempt_id;
    const int pid = LaunchAttempt(attempt_id);
    const size_t before = coordinator_.exits().size();
    // Refusals fail every time, so a retry would show; other failures three times, then succeed.
    coordinator_.FailNext("ReportAttemptExit", c.failure, c.calls == 1 ? INT_MAX : 3);
    launcher_->End(pid, train::kExitCompleted, 0);
    ASSERT_TRUE(WaitFor([&] { return coordinator_.exits().size() - before >= c.calls; }, 5));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // ten passes of the loop: no more calls
    EXPECT_EQ(coordinator_.exits().size() - before, c.calls);
    // Settled: heartbeats sent from now on no longer report the attempt as running.
    const size_t beats = coordinator_.heartbeats().size();
    ASSERT_TRUE(WaitFor([&] { return coordinator_.heartbeats().size() > beats + 1; }, 5));
    EXPECT_FALSE(ReportedRunning(attempt_id, beats + 1));
  }
  EXPECT_TRUE(Stop().ok());
}

// The coordinator's answer to a metrics report decides whether the trainer goes on.
TEST_F(AgentTest, AMetricsReportsAnswerStopsOrPausesTheTrainer) {
  struct Case {
    const char* name;
    Status failure;
    v1::Decision decision;
    bool stopped;
  };
  const Case cases[] = {
      {"continue", OkStatus(), v1::DECISION_CONTINUE, false},
      {"stop", OkStatus(), v1::DECISION_STOP, true},
      {"pause", OkStatus(), v1::DECISION_PAUSE, true},
      {"attempt ended", FailedPrecondition("the attempt has ended"), v1::DECISION_CONTINUE, true},
  };
  Start();
  int64_t attempt_id = 10;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ++attempt_id;
    const int pid = LaunchAttempt(attempt_id);
    coordinator_.SetDecision(c.decision);
    if (!c.failure.ok()) coordinator_.FailNext("ReportMetrics", c.failure, 1);
    const size_t before = coordinator_.metrics().size();
    orchard::testing::WriteFile(AttemptDir() + "/metrics.jsonl", R"({"step": 1, "name": "loss", "value": 0.5})" "\n");
    ASSERT_TRUE(WaitFor([&] { return coordinator_.metrics().size() > before; }, 5));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(Contains(launcher_->signals(), pid, SIGTERM), c.stopped);
    EXPECT_EQ(coordinator_.metrics().size(), before + 1);  // refused records are not sent again
    if (!c.stopped) launcher_->End(pid, train::kExitCompleted, 0);
    ASSERT_TRUE(WaitFor([&] { return coordinator_.exits().size() == static_cast<size_t>(attempt_id - 10); }, 5));
    std::filesystem::remove(AttemptDir() + "/metrics.jsonl");  // the next attempt writes the same directory
  }
  EXPECT_TRUE(Stop().ok());
}

TEST_F(AgentTest, ATrainerThatWaitsAtRungsGetsEachAnswerInItsDecisionFile) {
  Start();
  const std::string answers = AttemptDir() + "/decision.json";
  const auto answer = [&] { return ParseStrategyAnswer(orchard::testing::ReadFile(answers)); };
  const int pid = LaunchAttempt(21, /*next_decision_step=*/10);
  const std::vector<std::string> args = launcher_->launches().back().args;
  const auto flag = std::find(args.begin(), args.end(), "--decisions");
  ASSERT_NE(flag, args.end()) << "the trainer is told where the answers come";
  EXPECT_EQ(*std::next(flag), answers);
  // Before the trainer starts: no step judged yet, the first one to wait at.
  EXPECT_EQ(answer().value(), (StrategyAnswer{.attempt = 2, .step = -1, .next_step = 10}));

  coordinator_.SetJudgement(10, 30);
  orchard::testing::WriteFile(AttemptDir() + "/metrics.jsonl", R"({"step": 10, "name": "val_loss", "value": 0.5})" "\n");
  ASSERT_TRUE(WaitFor([&] { return answer().ok() && answer()->step == 10; }, 5));
  EXPECT_EQ(answer().value(), (StrategyAnswer{.attempt = 2, .step = 10, .next_step = 30}));

  coordinator_.SetJudgement(30, 0);
  coordinator_.SetDecision(v1::DECISION_PAUSE);
  orchard::testing::WriteFile(AttemptDir() + "/metrics.jsonl", R"({"step": 10, "name": "val_loss", "value": 0.5})" "\n"
                                                                R"({"step": 30, "name": "val_loss", "value": 0.4})" "\n");
  ASSERT_TRUE(WaitFor([&] { return answer().ok() && answer()->step == 30; }, 5));
  EXPECT_EQ(answer()->decision, StrategyAnswer::Decision::kPause);
  ASSERT_TRUE(WaitFor([&] { return Contains(launcher_->signals(), pid, SIGTERM); }, 5)) << "and SIGTERM, as before";
  ASSERT_TRUE(WaitFor([&] { return coordinator_.exits().size() == 1; }, 5));
  std::filesystem::remove(AttemptDir() + "/metrics.jsonl");

  // A trial no strategy judges: no file, no flag.
  coordinator_.SetDecision(v1::DECISION_CONTINUE);
  std::filesystem::remove(answers);
  const int unjudged = LaunchAttempt(22);
  const std::vector<std::string> plain = launcher_->launches().back().args;
  EXPECT_EQ(std::find(plain.begin(), plain.end(), "--decisions"), plain.end());
  EXPECT_FALSE(std::filesystem::exists(answers));
  launcher_->End(unjudged, train::kExitCompleted, 0);
  EXPECT_TRUE(Stop().ok());
}

// Once a trainer's answer file says go on and wait nowhere, the same answer to a later step is not
// written again (it would tell the trainer nothing); a stop or pause still is. An attempt whose
// trainer has exited gets no answer: no one reads it.
TEST_F(AgentTest, AGoOnAnswerThatChangesNothingIsNotWrittenAgain) {
  Start();
  const std::string answers = AttemptDir() + "/decision.json";
  const auto answer = [&] { return ParseStrategyAnswer(orchard::testing::ReadFile(answers)); };
  const int pid = LaunchAttempt(21, /*next_decision_step=*/10);
  coordinator_.SetJudgement(10, 0);
  orchard::testing::WriteFile(AttemptDir() + "/metrics.jsonl", R"({"step": 10, "name": "val_loss", "value": 0.5})" "\n");
  ASSERT_TRUE(WaitFor([&] { return answer().ok() && answer()->step == 10; }, 5));
  EXPECT_EQ(answer().value(), (StrategyAnswer{.attempt = 2, .step = 10, .next_step = 0}));

  coordinator_.SetJudgement(20, 0);
  orchard::testing::WriteFile(AttemptDir() + "/metrics.jsonl", R"({"step": 10, "name": "val_loss", "value": 0.5})" "\n"
                                                                R"({"step": 20, "name": "val_loss", "value": 0.4})" "\n");
  ASSERT_TRUE(WaitFor([&] { return coordinator_.metrics().size() >= 2; }, 5));
  EXPECT_EQ(answer()->step, 10) << "the same go-on answer, not written again";

  coordinator_.SetJudgement(30, 0);
  coordinator_.SetDecision(v1::DECISION_STOP);
  orchard::testing::WriteFile(AttemptDir() + "/metrics.jsonl", R"({"step": 10, "name": "val_loss", "value": 0.5})" "\n"
                                                                R"({"step": 20, "name": "val_loss", "value": 0.4})" "\n"
                                                                R"({"step": 30, "name": "val_loss", "value": 0.3})" "\n");
  ASSERT_TRUE(WaitFor([&] { return answer().ok() && answer()->step == 30; }, 5));
  EXPECT_EQ(answer()->decision, StrategyAnswer::Decision::kStop);

  ASSERT_TRUE(WaitFor([&] { return coordinator_.exits().size() == 1; }, 5));  // SIGTERM ended it
  std::filesystem::remove(AttemptDir() + "/metrics.jsonl");

  // A trainer that exits with records not yet relayed: they are, after its exit, and no answer is
  // written to its file.
  coordinator_.FailNext("ReportMetricsBatch", Unavailable("connection refused"), INT_MAX);
  coordinator_.SetJudgement(10, 20);
  coordinator_.SetDecision(v1::DECISION_CONTINUE);
  const int ending = LaunchAttempt(22, /*next_decision_step=*/10);
  const StrategyAnswer first = answer().value();
  orchard::testing::WriteFile(AttemptDir() + "/metrics.jsonl", R"({"step": 10, "name": "val_loss", "value": 0.5})" "\n");
  const size_t sent_before = coordinator_.metrics().size();
  ASSERT_TRUE(WaitFor([&] { return coordinator_.metrics().size() > sent_before; }, 5));  // tried, refused
  launcher_->End(ending, train::kExitCompleted, 0);
  coordinator_.FailNext("ReportMetricsBatch", OkStatus(), 0);
  ASSERT_TRUE(WaitFor([&] { return coordinator_.exits().size() == 2; }, 5));
  EXPECT_EQ(coordinator_.taken_batches().back().reports(0).attempt_id(), 22);
  EXPECT_EQ(answer().value(), first);
  EXPECT_TRUE(Stop().ok());
}

TEST_F(AgentTest, MetricsTheCoordinatorCouldNotTakeAreSentAgain) {
  Start();
  LaunchAttempt(7);
  coordinator_.FailNext("ReportMetricsBatch", Unavailable("connection refused"), 2);
  orchard::testing::WriteFile(AttemptDir() + "/metrics.jsonl", R"({"step": 1, "name": "loss", "value": 0.5})" "\n"
                                                               R"({"step": 2, "name": "loss", "value": 0.25})" "\n");
  ASSERT_TRUE(WaitFor([&] { return coordinator_.metrics().size() >= 3; }, 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto metrics = coordinator_.metrics();
  EXPECT_EQ(metrics.size(), 3u);  // two failed, then delivered once
  for (const auto& report : metrics) {
    ASSERT_EQ(report.points_size(), 2);
    EXPECT_EQ(report.points(1).step(), 2);
  }
  EXPECT_TRUE(launcher_->signals().empty());
  EXPECT_TRUE(Stop().ok());
}

TEST_F(AgentTest, ReportsACompleteCheckpointOnce) {
  Start();
  LaunchAttempt(7);
  std::filesystem::create_directories(AttemptDir() + "/checkpoints/step-20");  // being written: no MANIFEST
  std::filesystem::create_directories(AttemptDir() + "/checkpoints/step-10");
  orchard::testing::WriteFile(AttemptDir() + "/checkpoints/step-10/MANIFEST", "");
  ASSERT_TRUE(WaitFor([&] { return !coordinator_.checkpoints().empty(); }, 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto checkpoints = coordinator_.checkpoints();
  ASSERT_EQ(checkpoints.size(), 1u);
  EXPECT_EQ(checkpoints[0].step(), 10);
  EXPECT_EQ(checkpoints[0].path(), "sweep-1/trial-3/checkpoints/step-10");
  EXPECT_EQ(checkpoints[0].token(), "attempt-token");
  EXPECT_TRUE(Stop().ok());
}

}  // namespace
}  // namespace orchard::worker
