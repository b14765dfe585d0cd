// The retry policy: which attempt ends finish a trial and which queue it again.
#include "coordinator/placement/retry_policy.h"

#include <gtest/gtest.h>

#include "core/trainer_exit_codes.h"

namespace orchard::coordinator {
namespace {

AttemptEnd Exited(int64_t code, const std::string& reason = "") {
  AttemptEnd end;
  end.exit_code = code;
  end.reason = reason;
  return end;
}

TEST(RetryPolicy, ACleanExitCompletes) {
  const TrialOutcome outcome = DecideTrialOutcome(Exited(train::kExitCompleted), 0, 3);
  EXPECT_FALSE(outcome.requeue);
  EXPECT_EQ(outcome.state, "completed");
  EXPECT_EQ(outcome.message, "");
}

TEST(RetryPolicy, CrashesAndLostWorkersAreRetriedAndCountedUntilTheLimit) {
  AttemptEnd lost;
  lost.lost = true;
  lost.reason = "attempt 1 lost: worker w1 lost";
  for (const AttemptEnd& end : {Exited(train::kExitFailed, "I/O error"), Exited(-1, "killed by signal 9"), lost}) {
    const TrialOutcome retried = DecideTrialOutcome(end, 2, 3);
    EXPECT_TRUE(retried.requeue) << end.reason;
    EXPECT_TRUE(retried.counts_as_restart);
    EXPECT_NE(retried.message.find("restart 3 of 3"), std::string::npos) << retried.message;
    const TrialOutcome given_up = DecideTrialOutcome(end, 3, 3);
    EXPECT_FALSE(given_up.requeue);
    EXPECT_EQ(given_up.state, "failed");
    EXPECT_NE(given_up.message.find(end.reason), std::string::npos) << given_up.message;
  }
}

TEST(RetryPolicy, PreemptionIsRetriedWithoutCountingEvenWithNoRestartsLeft) {
  const TrialOutcome outcome = DecideTrialOutcome(Exited(train::kExitPreempted, "preempted"), 5, 0);
  EXPECT_TRUE(outcome.requeue);
  EXPECT_FALSE(outcome.counts_as_restart);
}

TEST(RetryPolicy, BadInputAndDivergenceFailAtOnce) {
  for (int code : {train::kExitBadInput, train::kExitDiverged}) {
    const TrialOutcome outcome = DecideTrialOutcome(Exited(code, "diverged at step 3: loss is nan"), 0, 3);
    EXPECT_FALSE(outcome.requeue) << code;
    EXPECT_EQ(outcome.state, "failed");
    EXPECT_EQ(outcome.message, "diverged at step 3: loss is nan");
  }
}

TEST(RetryPolicy, WhatTheCoordinatorStoppedEndsAsAskedUnlessItFinishedFirst) {
  for (const std::string reason : {"canceled", "stopped", "paused"}) {
    AttemptEnd end = Exited(train::kExitPreempted);
    end.stop_reason = reason;
    EXPECT_EQ(DecideTrialOutcome(end, 0, 3).state, reason);
    end.lost = true;
    EXPECT_FALSE(DecideTrialOutcome(end, 0, 3).requeue) << reason;
    AttemptEnd finished = Exited(train::kExitCompleted);
    finished.stop_reason = reason;
    EXPECT_EQ(DecideTrialOutcome(finished, 0, 3).state, "completed") << "the stop arrived after the last step";
  }
}

}  // namespace
}  // namespace orchard::coordinator
