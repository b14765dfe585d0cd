// Hyperband against scripted learning curves: its brackets, and which trials each rung pauses,
// promotes and stops.
#include "coordinator/search/hyperband.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tests/coordinator/search/search_spaces.h"

namespace orchard::coordinator {
namespace {

SweepSpec HyperbandSweep(int64_t min_steps, int64_t max_steps, double eta) {
  SweepSpec spec;
  spec.strategy = "hyperband";
  spec.min_steps = min_steps;
  spec.max_steps = max_steps;
  spec.reduction_factor = eta;
  spec.parameters = {LearningRate()};
  return spec;
}

// Trial numbers each kind of action names, in order.
template <typename Action>
std::vector<int64_t> Trials(const std::vector<SearchAction>& actions) {
  std::vector<int64_t> trials;
  for (const SearchAction& a : actions)
    if (const auto* x = std::get_if<Action>(&a)) trials.push_back(x->trial);
  return trials;
}

TEST(Hyperband, BracketsFollowThePaperForR81AndEta3) {
  // Li et al. (2018), table 1: R = 81, eta = 3.
  const HyperbandSearch search(HyperbandSweep(1, 81, 3));
  const auto& brackets = search.brackets();
  ASSERT_EQ(brackets.size(), 5u);
  const std::vector<int64_t> sizes = {81, 34, 15, 8, 5};
  const std::vector<std::vector<int64_t>> milestones = {{1, 3, 9, 27, 81}, {3, 9, 27, 81}, {9, 27, 81}, {27, 81}, {81}};
  int64_t first = 0;
  for (size_t b = 0; b < brackets.size(); ++b) {
    EXPECT_EQ(brackets[b].trials, sizes[b]) << "bracket " << b;
    EXPECT_EQ(brackets[b].milestones, milestones[b]) << "bracket " << b;
    EXPECT_EQ(brackets[b].first_trial, first);
    first += sizes[b];
  }
  EXPECT_EQ(search.PlannedTrials(), 143);
}

TEST(Hyperband, BudgetsScaleWithMinStepsAndAreRoundedToSteps) {
  const HyperbandSearch search(HyperbandSweep(50, 675, 3));  // R = 13.5: s_max = 2
  const auto& brackets = search.brackets();
  ASSERT_EQ(brackets.size(), 3u);
  EXPECT_EQ(brackets[0].trials, 9);
  EXPECT_EQ(brackets[0].milestones, (std::vector<int64_t>{75, 225, 675}));
  EXPECT_EQ(brackets[1].trials, 5);
  EXPECT_EQ(brackets[1].milestones, (std::vector<int64_t>{225, 675}));
  EXPECT_EQ(brackets[2].trials, 3);
  EXPECT_EQ(brackets[2].milestones, (std::vector<int64_t>{675}));
}

// R = 9, eta = 3: bracket 0 is trials 0-8 with rungs at 1, 3, 9; bracket 1 trials 9-13 at 3, 9;
// bracket 2 trials 14-16 at 9.
class HyperbandRun : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto created = search_.Handle(SweepStarted{});
    ASSERT_EQ(Trials<CreateTrial>(created).size(), 17u);
  }
  std::vector<SearchAction> Report(int64_t trial, int64_t step, double loss) {
    return search_.Handle(ValidationReported{trial, step, loss});
  }
  std::vector<SearchAction> Exit(int64_t trial, TrialExited::Kind kind) { return search_.Handle(TrialExited{trial, kind}); }

  HyperbandSearch search_{HyperbandSweep(1, 9, 3)};
};

TEST_F(HyperbandRun, ARungPausesEachArrivalThenKeepsTheBestThirdAndStopsTheRest) {
  // Losses at rung 0: trial t has loss (t * 7 % 9) / 10: 0, .7, .5, .3, .1, .8, .6, .4, .2
  const auto loss = [](int64_t t) { return static_cast<double>(t * 7 % 9) / 10; };
  for (int64_t t = 0; t < 8; ++t) {
    EXPECT_TRUE(Report(t, 0, loss(t)).empty()) << "before the rung";
    const auto paused = Report(t, 1, loss(t));
    ASSERT_EQ(paused.size(), 1u);
    EXPECT_EQ(std::get<PauseTrial>(paused[0]).trial, t);
    EXPECT_EQ(std::get<PauseTrial>(paused[0]).rung, 0);
    EXPECT_TRUE(Exit(t, TrialExited::Kind::kPaused).empty()) << "waits, paused";
  }
  // The ninth arrival completes the rung: the best 9/3 = 3 are trials 0 (0.0), 4 (0.1), 8 (0.2).
  const auto halved = Report(8, 1, loss(8));
  EXPECT_EQ(Trials<ContinueTrial>(halved), (std::vector<int64_t>{0, 4, 8}));
  EXPECT_EQ(Trials<ResumeTrial>(halved), (std::vector<int64_t>{0, 4})) << "trial 8 reported last and never paused";
  auto stopped = Trials<StopTrial>(halved);
  std::sort(stopped.begin(), stopped.end());
  EXPECT_EQ(stopped, (std::vector<int64_t>{1, 2, 3, 5, 6, 7}));
  for (const SearchAction& a : halved) {
    if (const auto* stop = std::get_if<StopTrial>(&a)) {
      EXPECT_EQ(stop->rung, 0);
    }
  }

  // Rung 1 at step 3: of three, one goes on to the last rung.
  EXPECT_EQ(Trials<PauseTrial>(Report(4, 3, 0.05)), (std::vector<int64_t>{4}));
  EXPECT_EQ(Trials<PauseTrial>(Report(8, 4, 0.30)), (std::vector<int64_t>{8}));
  // Trial 8's trainer has not gone yet when trial 0 completes the rung; trial 4 wins.
  const auto second = Report(0, 3, 0.20);
  EXPECT_EQ(Trials<ContinueTrial>(second), (std::vector<int64_t>{4}));
  EXPECT_TRUE(Trials<ResumeTrial>(second).empty()) << "trial 4's trainer has not reported its pause yet";
  EXPECT_EQ(Trials<StopTrial>(second), (std::vector<int64_t>{0, 8}));
  EXPECT_EQ(Trials<ResumeTrial>(Exit(4, TrialExited::Kind::kPaused)), (std::vector<int64_t>{4}))
      << "promoted while pausing: resumed as soon as it is paused";
  const auto late = Exit(8, TrialExited::Kind::kPaused);
  EXPECT_EQ(Trials<StopTrial>(late), (std::vector<int64_t>{8})) << "stopped while pausing: ends once its trainer is gone";
  EXPECT_TRUE(Report(4, 9, 0.01).empty()) << "the last rung runs to the end";
}

TEST_F(HyperbandRun, TheNextStepJudgedIsTheTrialsRungWhileItRunsTowardIt) {
  EXPECT_EQ(search_.NextDecisionStep(0, 0), 1) << "bracket 0: rungs at 1, 3, 9";
  EXPECT_EQ(search_.NextDecisionStep(9, 0), 3) << "bracket 1: rungs at 3, 9";
  EXPECT_EQ(search_.NextDecisionStep(14, 0), kNoDecision) << "bracket 2's one rung runs to the end";
  ASSERT_EQ(Trials<PauseTrial>(Report(0, 1, 0.1)), (std::vector<int64_t>{0}));
  EXPECT_EQ(search_.NextDecisionStep(0, 1), kNoDecision) << "pausing: its trainer ends at this rung";
  for (int64_t t = 1; t < 9; ++t) Report(t, 1, 0.1 * static_cast<double>(t));  // completes rung 0: 0, 1, 2 go on
  EXPECT_EQ(search_.NextDecisionStep(8, 1), kNoDecision) << "stopped";
  EXPECT_TRUE(Trials<ResumeTrial>(Exit(0, TrialExited::Kind::kPaused)) == std::vector<int64_t>{0});
  EXPECT_EQ(search_.NextDecisionStep(0, 1), 3) << "resumed toward rung 1";
}

TEST_F(HyperbandRun, ATrialThatFailsDoesNotHoldItsRungBack) {
  // Bracket 2 (trials 14-16) has a single rung: nothing to pause. Bracket 1: trials 9-13, rung at 3.
  for (int64_t t : {9, 10, 11, 12}) {
    EXPECT_EQ(Trials<PauseTrial>(Report(t, 3, 0.1 * static_cast<double>(t - 8))), (std::vector<int64_t>{t}));
    Exit(t, TrialExited::Kind::kPaused);
  }
  const auto halved = Exit(13, TrialExited::Kind::kFailed);
  EXPECT_EQ(Trials<ContinueTrial>(halved), (std::vector<int64_t>{9})) << "floor(4 / 3) = 1 of the four that got there";
  EXPECT_EQ(Trials<ResumeTrial>(halved), (std::vector<int64_t>{9}));
  EXPECT_EQ(Trials<StopTrial>(halved).size(), 3u);
}

TEST_F(HyperbandRun, FinishesWhenEveryTrialHasEndedAndContinuesFromASnapshot) {
  for (int64_t t = 0; t < 16; ++t) {
    const auto actions = Exit(t, TrialExited::Kind::kFailed);
    EXPECT_TRUE(std::none_of(actions.begin(), actions.end(), [](const SearchAction& a) { return std::holds_alternative<FinishSweep>(a); }))
        << "trial " << t;
  }
  const nlohmann::json saved = search_.Snapshot();
  HyperbandSearch restored(HyperbandSweep(1, 9, 3));
  ASSERT_TRUE(restored.Restore(saved).ok());
  EXPECT_EQ(restored.Snapshot(), saved);
  const auto last = restored.Handle(TrialExited{16, TrialExited::Kind::kFailed});
  ASSERT_EQ(last.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<FinishSweep>(last[0]));
  HyperbandSearch other(HyperbandSweep(1, 27, 3));
  EXPECT_FALSE(other.Restore(saved).ok()) << "a snapshot of another bracket layout";
}

TEST(Hyperband, MaxTrialsRepeatsTheBracketsWithNewTrialsWhileTheNextBracketFits) {
  SweepSpec spec = HyperbandSweep(1, 9, 3);  // one pass: brackets of 9, 5 and 3 trials
  EXPECT_EQ(HyperbandSearch(spec).PlannedTrials(), 17) << "without max_trials, one pass";
  spec.max_trials = 40;
  HyperbandSearch search(spec);
  ASSERT_EQ(search.brackets().size(), 6u) << "9+5+3+9+5+3 = 34; the next 9 would pass 40";
  EXPECT_EQ(search.PlannedTrials(), 34);
  const std::vector<int64_t> sizes = {9, 5, 3, 9, 5, 3};
  int64_t first = 0;
  for (size_t b = 0; b < sizes.size(); ++b) {
    EXPECT_EQ(search.brackets()[b].trials, sizes[b]);
    EXPECT_EQ(search.brackets()[b].first_trial, first);
    EXPECT_EQ(search.brackets()[b].milestones, search.brackets()[b % 3].milestones);
    first += sizes[b];
  }
  const auto created = search.Handle(SweepStarted{});
  ASSERT_EQ(Trials<CreateTrial>(created).size(), 34u);
  EXPECT_NE(std::get<CreateTrial>(created[17]).hyperparameters, std::get<CreateTrial>(created[0]).hyperparameters)
      << "the second pass draws new trials";
  // The second pass halves on its own: its first bracket's rung at step 1 pauses, as the first's does.
  EXPECT_EQ(Trials<PauseTrial>(search.Handle(ValidationReported{17, 1, 0.5})), (std::vector<int64_t>{17}));
  EXPECT_EQ(search.NextDecisionStep(20, 0), 1);
}

TEST(Hyperband, AStepBudgetRepeatsTheBracketsWhileTheNextBracketsPlannedStepsFit) {
  SweepSpec spec = HyperbandSweep(1, 9, 3);  // brackets of 9, 5 and 3 trials, rungs 1/3/9, 3/9 and 9
  const std::vector<HyperbandSearch::Bracket> pass = HyperbandSearch(spec).brackets();
  ASSERT_EQ(pass.size(), 3u);
  // 9 trials to step 1, the best 3 on to 3, the best 1 on to 9: 9 + 3*2 + 1*6.
  EXPECT_EQ(PlannedSteps(pass[0], 3), 21);
  EXPECT_EQ(PlannedSteps(pass[1], 3), 21);  // 5*3 + 1*6
  EXPECT_EQ(PlannedSteps(pass[2], 3), 27);  // 3*9
  struct Case {
    int64_t step_budget, max_trials;
    size_t brackets;
    int64_t trials;
  };
  for (const Case& c : std::vector<Case>{{69, 0, 3, 17},    // exactly one pass
                                         {100, 0, 4, 26},   // 21+21+27+21 = 90; the next 21 would pass 100
                                         {138, 0, 6, 34},   // two passes
                                         {100, 20, 3, 17},  // max_trials binds first: the next 9 would pass 20
                                         {50, 40, 2, 14}}) {  // the budget binds first: 21+21, the next 27 would pass 50
    spec.step_budget = c.step_budget;
    spec.max_trials = c.max_trials;
    HyperbandSearch search(spec);
    EXPECT_EQ(search.brackets().size(), c.brackets) << "budget " << c.step_budget << ", max_trials " << c.max_trials;
    EXPECT_EQ(search.PlannedTrials(), c.trials) << "budget " << c.step_budget << ", max_trials " << c.max_trials;
  }
}

TEST(Hyperband, APausedTrialTheHalvingStopsIsDoneWhenItsStopIsHeard) {
  HyperbandSearch search(HyperbandSweep(1, 3, 3));  // bracket 0: trials 0-2, rungs 1 and 3; bracket 1: trials 3-4
  search.Handle(SweepStarted{});
  for (int64_t t : {3, 4}) EXPECT_TRUE(search.Handle(TrialExited{t, TrialExited::Kind::kCompleted}).empty());
  for (int64_t t : {0, 1}) {
    search.Handle(ValidationReported{t, 1, 0.9});
    search.Handle(TrialExited{t, TrialExited::Kind::kPaused});
  }
  const auto halved = search.Handle(ValidationReported{2, 1, 0.1});
  EXPECT_EQ(Trials<ContinueTrial>(halved), (std::vector<int64_t>{2}));
  EXPECT_EQ(Trials<StopTrial>(halved), (std::vector<int64_t>{0, 1}));
  EXPECT_TRUE(search.Handle(TrialExited{2, TrialExited::Kind::kCompleted}).empty())
      << "trials 0 and 1 are not heard of as ended yet";
  // The coordinator ends the paused trials it was told to stop and reports each as stopped.
  EXPECT_TRUE(search.Handle(TrialExited{0, TrialExited::Kind::kStopped}).empty());
  const auto last = search.Handle(TrialExited{1, TrialExited::Kind::kStopped});
  ASSERT_EQ(last.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<FinishSweep>(last[0]));
}

TEST(Hyperband, MaximisesWhenTheSweepDoes) {
  SweepSpec spec = HyperbandSweep(1, 3, 3);  // one bracket of 3 halving at step 1, plus one of 2
  spec.mode = "max";
  HyperbandSearch search(spec);
  search.Handle(SweepStarted{});
  ASSERT_EQ(search.brackets()[0].trials, 3);
  for (int64_t t : {0, 1}) {
    search.Handle(ValidationReported{t, 1, t == 0 ? 0.9 : 0.5});  // accuracy
    search.Handle(TrialExited{t, TrialExited::Kind::kPaused});
  }
  const auto halved = search.Handle(ValidationReported{2, 1, 0.7});
  EXPECT_EQ(Trials<ContinueTrial>(halved), (std::vector<int64_t>{0}));
}

}  // namespace
}  // namespace orchard::coordinator
