// Early stopping against scripted learning curves: which trials ASHA and median stopping stop.
#include "coordinator/search/early_stopping.h"

#include <gtest/gtest.h>

#include "coordinator/search/search_strategy.h"
#include "tests/coordinator/search/search_spaces.h"

namespace orchard::coordinator {
namespace {

bool Stops(const Verdict& verdict) { return verdict.kind == Verdict::Kind::kStop; }

TEST(AshaRule, RungsGrowByTheReductionFactor) {
  const AshaRule asha(10, 3);
  EXPECT_EQ(asha.Milestone(0), 10);
  EXPECT_EQ(asha.Milestone(1), 30);
  EXPECT_EQ(asha.Milestone(2), 90);
}

TEST(AshaRule, OnlyTheTopThirdOfARungGoesOnWithoutWaitingForStragglers) {
  AshaRule asha(10, 3);
  // Nine trials reach rung 0 (step 10) one after another, with these losses.
  const std::vector<double> losses = {0.50, 0.60, 0.40, 0.70, 0.30, 0.45, 0.80, 0.20, 0.35};
  std::vector<int64_t> stopped;
  for (int64_t trial = 0; trial < 9; ++trial)
    if (Stops(asha.Report(trial, 10, losses[trial]))) stopped.push_back(trial);
  // n recorded, floor(n/3) (at least 1) may be better:
  // 0: n1 keep1 better0 go; 1: n2 keep1 better1 stop; 2: n3 keep1 better0 go; 3: n4 keep1 better3 stop;
  // 4: n5 keep1 better0 go; 5: n6 keep2 better2 stop; 6: n7 keep2 better6 stop; 7: n8 keep2 better0 go;
  // 8: n9 keep3 better2 go.
  EXPECT_EQ(stopped, (std::vector<int64_t>{1, 3, 5, 6}));

  // Rung 1 (step 30): the survivors report; a report at step 40 records at rung 1 only once.
  EXPECT_FALSE(Stops(asha.Report(0, 30, 0.45)));  // first at rung 1
  EXPECT_TRUE(Stops(asha.Report(2, 40, 0.50)));   // second, and worse: the top third of 2 is 1 trial
  EXPECT_FALSE(Stops(asha.Report(0, 40, 0.99)));  // already recorded at rung 1: no new decision
  EXPECT_FALSE(Stops(asha.Report(7, 30, 0.10)));  // better than everyone
}

TEST(AshaRule, AVerdictNamesTheRungItWasTakenAt) {
  AshaRule asha(10, 2);
  Verdict first = asha.Report(0, 10, 0.5);
  EXPECT_EQ(first.kind, Verdict::Kind::kContinue);
  EXPECT_EQ(first.rung, 0);
  EXPECT_EQ(asha.Report(0, 15, 0.4).kind, Verdict::Kind::kNothingNew) << "no new rung between 10 and 20";
  Verdict second = asha.Report(0, 20, 0.3);
  EXPECT_EQ(second.kind, Verdict::Kind::kContinue);
  EXPECT_EQ(second.rung, 1);
  Verdict worse = asha.Report(1, 40, 0.9);  // recorded at rungs 0, 1 and 2; fails first at rung 0
  EXPECT_EQ(worse.kind, Verdict::Kind::kStop);
  EXPECT_EQ(worse.rung, 0);
}

TEST(AshaRule, AReportPastSeveralRungsIsJudgedAtEach) {
  AshaRule asha(10, 2);
  EXPECT_FALSE(Stops(asha.Report(0, 10, 0.1)));
  EXPECT_FALSE(Stops(asha.Report(0, 20, 0.1)));
  EXPECT_TRUE(Stops(asha.Report(1, 25, 0.5)));  // first report at step 25: recorded at rungs 0 and 1, last at both
}

TEST(MedianRule, StopsATrialWorseThanTheMedianOfOthersAtTheSameStepOnlyOnceEnoughReported) {
  MedianRule median(/*min_steps=*/20, /*min_trials=*/2);
  // Trials 0 and 1 learn; trial 2 does not.
  for (int64_t step : {10, 20, 30}) {
    EXPECT_FALSE(Stops(median.Report(0, step, 1.0 / static_cast<double>(step))));
    EXPECT_FALSE(Stops(median.Report(1, step, 2.0 / static_cast<double>(step))));
  }
  EXPECT_FALSE(Stops(median.Report(2, 10, 0.9))) << "before min_steps";
  EXPECT_TRUE(Stops(median.Report(2, 20, 0.9))) << "best 0.9 against the others' 0.05 and 0.1";
  MedianRule few(20, 3);
  for (int64_t trial : {0, 1}) EXPECT_FALSE(Stops(few.Report(trial, 20, 0.1)));
  EXPECT_FALSE(Stops(few.Report(2, 20, 0.9))) << "only two others have reported at step 20";
}

TEST(MedianRule, ATrialIsJudgedByItsBestSoFarNotItsLastValue) {
  MedianRule median(10, 1);
  EXPECT_FALSE(Stops(median.Report(0, 10, 0.5)));
  EXPECT_FALSE(Stops(median.Report(0, 20, 0.5)));
  EXPECT_FALSE(Stops(median.Report(1, 10, 0.2)));
  EXPECT_FALSE(Stops(median.Report(1, 20, 0.6))) << "its best so far, 0.2, beats the other's 0.5";
}

SweepSpec AshaSweep() {
  SweepSpec spec;
  spec.strategy = "asha";
  spec.mode = "max";
  spec.max_trials = 4;
  spec.min_steps = 10;
  spec.reduction_factor = 2;
  spec.parameters = {LearningRate()};
  return spec;
}

TEST(EarlyStoppingSearch, StopsThroughTheSweepsModeAndContinuesFromASnapshot) {
  auto search = MakeSearchStrategy(AshaSweep(), nullptr).value();
  const auto created = search->Handle(SweepStarted{});
  ASSERT_EQ(created.size(), 4u);
  const auto first = search->Handle(ValidationReported{0, 10, 0.9});  // accuracy: higher is better
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(std::get<ContinueTrial>(first[0]).rung, 0) << "the first at rung 0 goes on";
  const nlohmann::json saved = search->Snapshot();
  auto restored = MakeSearchStrategy(AshaSweep(), &saved).value();
  const auto actions = restored->Handle(ValidationReported{1, 10, 0.3});
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(std::get<StopTrial>(actions[0]).trial, 1);
  EXPECT_TRUE(restored->Handle(ValidationReported{1, 20, 0.95}).empty()) << "a stopped trial is stopped once";
  for (int64_t trial : {0, 2, 3}) EXPECT_TRUE(restored->Handle(TrialExited{trial, TrialExited::Kind::kCompleted}).empty());
  const auto finished = restored->Handle(TrialExited{1, TrialExited::Kind::kStopped});
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<FinishSweep>(finished[0]));
}

TEST(EarlyStoppingSearch, NamesTheNextStepItJudgesSoTrainersWaitThereAndNowhereElse) {
  // ASHA judges the first report at or past each rung: 10, 20, 40, ...
  const AshaRule asha(10, 2);
  EXPECT_EQ(asha.NextDecisionStep(0), 10);
  EXPECT_EQ(asha.NextDecisionStep(9), 10);
  EXPECT_EQ(asha.NextDecisionStep(10), 20) << "the report at 10 was judged";
  EXPECT_EQ(asha.NextDecisionStep(25), 40);
  // Median stopping judges every report from min_steps on.
  const MedianRule median(20, 2);
  EXPECT_EQ(median.NextDecisionStep(0), 20);
  EXPECT_EQ(median.NextDecisionStep(20), 21);
  EXPECT_EQ(median.NextDecisionStep(INT64_MAX), kNoDecision);

  auto search = MakeSearchStrategy(AshaSweep(), nullptr).value();
  search->Handle(SweepStarted{});
  EXPECT_EQ(search->NextDecisionStep(1, 0), 10);
  search->Handle(ValidationReported{0, 10, 0.9});
  ASSERT_EQ(search->Handle(ValidationReported{1, 10, 0.3}).size(), 1u);  // stopped
  EXPECT_EQ(search->NextDecisionStep(0, 10), 20);
  EXPECT_EQ(search->NextDecisionStep(1, 10), kNoDecision) << "a stopped trial is judged no more";
  SweepSpec random = AshaSweep();
  random.strategy = "random";
  EXPECT_EQ(MakeSearchStrategy(random, nullptr).value()->NextDecisionStep(0, 0), kNoDecision)
      << "a strategy that never stops a trial judges nothing";
}

}  // namespace
}  // namespace orchard::coordinator
