// Rank 0's wait for the strategy's decision at a judged evaluation: which evaluations wait, what
// ends a wait, and answers that are not for this attempt.
#include "worker/train/decision_wait.h"

#include <gtest/gtest.h>

#include <thread>

#include "core/atomic_file.h"
#include "tests/util/test_util.h"

namespace orchard::train {
namespace {

using namespace std::chrono_literals;
using orchard::testing::TempDir;
using Decision = StrategyAnswer::Decision;
using Kind = DecisionWait::Kind;

void Answer(const std::string& path, int64_t attempt, int64_t step, Decision decision, int64_t next_step) {
  ASSERT_TRUE(WriteFileAtomically(path, StrategyAnswerJson({attempt, step, decision, next_step})).ok());
}

TEST(DecisionWaitTest, OnlyEvaluationsAtOrPastTheNextJudgedStepWait) {
  TempDir dir;
  const std::string path = dir / "decision.json";
  Answer(path, 2, -1, Decision::kContinue, 30);
  DecisionWait wait(path, 2, 10s);
  EXPECT_EQ(wait.next_step(), 30);
  EXPECT_EQ(wait.AtEvaluation(20, nullptr).kind, Kind::kNotJudged);
  // The worker answers step 40 (the first evaluation past 30) a little later, and names the next.
  std::thread worker([&] {
    std::this_thread::sleep_for(200ms);
    Answer(path, 2, 40, Decision::kContinue, 90);
  });
  const DecisionWait::Outcome outcome = wait.AtEvaluation(40, nullptr);
  worker.join();
  EXPECT_EQ(outcome.kind, Kind::kContinue);
  EXPECT_GE(outcome.waited_seconds, 0.15);
  EXPECT_EQ(wait.next_step(), 90);
  EXPECT_EQ(wait.AtEvaluation(60, nullptr).kind, Kind::kNotJudged);
}

TEST(DecisionWaitTest, AStopOrPauseAnswerEndsTheWaitWithThatDecision) {
  TempDir dir;
  const std::string path = dir / "decision.json";
  Answer(path, 1, 10, Decision::kStop, 0);
  DecisionWait stopped(path, 1, 10s);
  Answer(path, 1, -1, Decision::kContinue, 10);
  DecisionWait paused(path, 1, 10s);
  Answer(path, 1, 10, Decision::kPause, 0);
  EXPECT_EQ(paused.AtEvaluation(10, nullptr).kind, Kind::kPause);
  Answer(path, 1, -1, Decision::kContinue, 10);
  DecisionWait wait(path, 1, 10s);
  Answer(path, 1, 10, Decision::kStop, 0);
  EXPECT_EQ(wait.AtEvaluation(10, nullptr).kind, Kind::kStop);
  EXPECT_EQ(wait.next_step(), 0);
  EXPECT_EQ(stopped.next_step(), 0) << "an answer that judged nothing further leaves nothing to wait for";
}

TEST(DecisionWaitTest, WithNoAnswerTheWaitEndsAtTheDeadlineOrAStopRequest) {
  TempDir dir;
  const std::string path = dir / "decision.json";
  Answer(path, 1, -1, Decision::kContinue, 10);
  DecisionWait wait(path, 1, 300ms);
  const DecisionWait::Outcome timed_out = wait.AtEvaluation(10, nullptr);
  EXPECT_EQ(timed_out.kind, Kind::kTimedOut);
  EXPECT_GE(timed_out.waited_seconds, 0.3);
  EXPECT_LT(timed_out.waited_seconds, 5);
  // An answer that never came must not cost the deadline at every evaluation: no more waits until
  // a new answer shows the way back works, and names the next step.
  EXPECT_EQ(wait.AtEvaluation(20, nullptr).kind, Kind::kNotJudged);
  Answer(path, 1, 10, Decision::kContinue, 30);
  EXPECT_EQ(wait.AtEvaluation(20, nullptr).kind, Kind::kNotJudged);
  EXPECT_EQ(wait.AtEvaluation(30, nullptr).kind, Kind::kTimedOut) << "waits again where the late answer said";

  DecisionWait patient(path, 1, 60s);
  std::atomic<bool> stop_requested{false};
  std::thread signal([&] {
    std::this_thread::sleep_for(100ms);
    stop_requested = true;
  });
  const DecisionWait::Outcome stopped = patient.AtEvaluation(30, &stop_requested);
  signal.join();
  EXPECT_EQ(stopped.kind, Kind::kStopRequested);
  EXPECT_LT(stopped.waited_seconds, 30);
}

TEST(DecisionWaitTest, AContinueAnswersOnlyItsOwnStepButAStopAnyBeforeIt) {
  TempDir dir;
  const std::string path = dir / "decision.json";
  Answer(path, 1, -1, Decision::kContinue, 10);
  DecisionWait wait(path, 1, 300ms);
  // A resumed attempt's worker sends the old metrics file again: the answer to its step 50 is not the
  // answer to the evaluation at 10 the trainer waits at now.
  Answer(path, 1, 50, Decision::kContinue, 0);
  EXPECT_EQ(wait.AtEvaluation(10, nullptr).kind, Kind::kNotJudged) << "it named no next step";
  Answer(path, 1, -1, Decision::kContinue, 10);
  DecisionWait stale(path, 1, 300ms);
  std::thread worker([&] {
    std::this_thread::sleep_for(50ms);
    Answer(path, 1, 50, Decision::kContinue, 10);
  });
  EXPECT_EQ(stale.AtEvaluation(10, nullptr).kind, Kind::kTimedOut);
  worker.join();
  Answer(path, 1, 50, Decision::kStop, 0);
  EXPECT_EQ(DecisionWait(path, 1, 300ms).AtEvaluation(10, nullptr).kind, Kind::kStop) << "stopped is stopped";
}

TEST(DecisionWaitTest, AnotherAttemptsAnswersOrAForeignFileAreNotWaitedFor) {
  TempDir dir;
  const std::string path = dir / "decision.json";
  EXPECT_EQ(DecisionWait(path, 1, 10s).AtEvaluation(10, nullptr).kind, Kind::kNotJudged) << "no file";
  Answer(path, 1, -1, Decision::kContinue, 10);
  DecisionWait newer(path, 2, 10s);
  EXPECT_EQ(newer.next_step(), 0);
  EXPECT_EQ(newer.AtEvaluation(10, nullptr).kind, Kind::kNotJudged);
  ASSERT_TRUE(WriteFileAtomically(path, "not json").ok());
  EXPECT_EQ(DecisionWait(path, 1, 10s).AtEvaluation(10, nullptr).kind, Kind::kNotJudged);
  // An answer for another attempt does not end this attempt's wait.
  Answer(path, 3, -1, Decision::kContinue, 10);
  DecisionWait wait(path, 3, 300ms);
  Answer(path, 4, 10, Decision::kStop, 0);
  EXPECT_EQ(wait.AtEvaluation(10, nullptr).kind, Kind::kTimedOut);
}

}  // namespace
}  // namespace orchard::train
