// PBT against scripted learning curves: who exploits whom, how hyperparameters are explored, and
// that a paused member resumes from its parent's checkpoint.
#include "coordinator/search/population_based.h"

#include <gtest/gtest.h>

#include "coordinator/search/trial_sampler.h"

namespace orchard::coordinator {
namespace {

ParameterSpace Space(const std::string& path, ParameterSpace::Kind kind, double min, double max,
                     std::vector<std::string> values = {}) {
  ParameterSpace p;
  p.path = path;
  p.kind = kind;
  p.min = min;
  p.max = max;
  p.values = std::move(values);
  return p;
}

SweepSpec PbtSweep(double resample_probability) {
  SweepSpec spec;
  spec.strategy = "pbt";
  spec.max_trials = 4;
  spec.pbt_interval = 10;
  spec.pbt_quantile = 0.25;
  spec.pbt_resample_probability = resample_probability;
  spec.parameters = {Space("optimizer.lr", ParameterSpace::Kind::kLogUniform, 1e-4, 1e-1),
                     Space("train.batch_size", ParameterSpace::Kind::kIntUniform, 8, 64),
                     Space("optimizer.type", ParameterSpace::Kind::kValues, 0, 0, {"sgd", "adam", "adamw"})};
  return spec;
}

std::string Value(const std::vector<Hyperparameter>& point, const std::string& path) {
  for (const Hyperparameter& h : point)
    if (h.path == path) return h.value;
  return "";
}

TEST(Pbt, TheBottomMemberPausesThenContinuesFromTheTopMembersCheckpointWithPerturbedHyperparameters) {
  PopulationBasedSearch search(PbtSweep(/*resample_probability=*/0));
  std::vector<std::vector<Hyperparameter>> initial;
  for (const SearchAction& a : search.Handle(SweepStarted{})) initial.push_back(std::get<CreateTrial>(a).hyperparameters);
  ASSERT_EQ(initial.size(), 4u);
  // Nobody is judged before its first interval, nor while too few have reported to have a quantile.
  EXPECT_TRUE(search.Handle(ValidationReported{0, 5, 0.5}).empty());
  for (int64_t t : {0, 1, 2}) {
    const auto actions = search.Handle(ValidationReported{t, 10, 0.1 * static_cast<double>(t + 1)});
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<ContinueTrial>(actions[0])) << "trial " << t;
  }
  // Four have reported: floor(4 * 0.25) = 1 at each end. Trial 3 is the worst; trial 0 the best.
  const auto judged = search.Handle(ValidationReported{3, 10, 0.9});
  ASSERT_EQ(judged.size(), 1u);
  EXPECT_EQ(std::get<PauseTrial>(judged[0]).trial, 3);
  EXPECT_TRUE(search.Handle(ValidationReported{3, 11, 0.95}).empty()) << "a pausing member is not judged again";

  const auto resumed = search.Handle(TrialExited{3, TrialExited::Kind::kPaused});
  ASSERT_EQ(resumed.size(), 1u);
  const auto& exploit = std::get<ResumeTrial>(resumed[0]);
  EXPECT_EQ(exploit.trial, 3);
  EXPECT_EQ(exploit.clone_from, 0);
  const double parent_lr = std::stod(Value(initial[0], "optimizer.lr"));
  const double lr = std::stod(Value(exploit.hyperparameters, "optimizer.lr"));
  EXPECT_TRUE(std::abs(lr - std::min(0.1, parent_lr * 1.2)) < 1e-12 || std::abs(lr - parent_lr * 0.8) < 1e-12)
      << parent_lr << " -> " << lr;
  const int64_t parent_batch = std::stoll(Value(initial[0], "train.batch_size"));
  const int64_t batch = std::stoll(Value(exploit.hyperparameters, "train.batch_size"));
  EXPECT_NE(batch, parent_batch);
  EXPECT_LE(std::abs(batch - parent_batch), std::max<int64_t>(1, parent_batch / 5 + 1));
  const std::vector<std::string> types = {"sgd", "adam", "adamw"};
  const auto parent_type = std::find(types.begin(), types.end(), Value(initial[0], "optimizer.type")) - types.begin();
  const auto type = std::find(types.begin(), types.end(), Value(exploit.hyperparameters, "optimizer.type")) - types.begin();
  EXPECT_LE(std::abs(type - parent_type), 1) << "a neighbouring list entry (or the same at an end)";

  // It carries trial 0's state now: its own old reports, which its next attempt sends again, are
  // history; it is judged again one interval after trial 0's step.
  EXPECT_TRUE(search.Handle(ValidationReported{3, 10, 0.9}).empty());
  EXPECT_TRUE(std::holds_alternative<ContinueTrial>(search.Handle(ValidationReported{3, 20, 0.05})[0]));
}

TEST(Pbt, TheNextStepJudgedIsAnIntervalAfterTheLastJudgementButNeverTheLastStep) {
  SweepSpec spec = PbtSweep(0);
  spec.max_steps = 30;
  PopulationBasedSearch search(spec);
  search.Handle(SweepStarted{});
  EXPECT_EQ(search.NextDecisionStep(0, 0), 10);
  search.Handle(ValidationReported{0, 12, 0.1});  // judged at 12 (evaluations need not fall on the interval)
  EXPECT_EQ(search.NextDecisionStep(0, 12), 22);
  search.Handle(ValidationReported{0, 22, 0.1});
  EXPECT_EQ(search.NextDecisionStep(0, 22), kNoDecision) << "32 is past the last step: nothing to exploit for";
  for (int64_t t : {1, 2}) search.Handle(ValidationReported{t, 10, 0.2});
  ASSERT_EQ(search.Handle(ValidationReported{3, 10, 0.9}).size(), 1u);  // the worst pauses
  EXPECT_EQ(search.NextDecisionStep(3, 10), kNoDecision) << "pausing";
}

TEST(Pbt, TheSameEventsGiveTheSameDecisionsAfterARestore) {
  PopulationBasedSearch search(PbtSweep(0.25));
  search.Handle(SweepStarted{});
  for (int64_t t = 3; t >= 0; --t) search.Handle(ValidationReported{t, 10, 1.0 - 0.1 * static_cast<double>(t)});
  const nlohmann::json saved = search.Snapshot();
  PopulationBasedSearch restored(PbtSweep(0.25));
  ASSERT_TRUE(restored.Restore(saved).ok());
  const auto a = search.Handle(TrialExited{0, TrialExited::Kind::kPaused});
  const auto b = restored.Handle(TrialExited{0, TrialExited::Kind::kPaused});
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(std::get<ResumeTrial>(a[0]).clone_from, 3);
  EXPECT_EQ(std::get<ResumeTrial>(a[0]).clone_from, std::get<ResumeTrial>(b[0]).clone_from);
  EXPECT_EQ(std::get<ResumeTrial>(a[0]).hyperparameters, std::get<ResumeTrial>(b[0]).hyperparameters);
  PopulationBasedSearch bigger([] {
    SweepSpec spec = PbtSweep(0.25);
    spec.max_trials = 8;
    return spec;
  }());
  EXPECT_FALSE(bigger.Restore(saved).ok());
}

TEST(Pbt, FailedMembersLeaveTheRankingAndTheSweepEndsWithTheLastMember) {
  PopulationBasedSearch search(PbtSweep(0));
  search.Handle(SweepStarted{});
  EXPECT_TRUE(search.Handle(TrialExited{0, TrialExited::Kind::kFailed}).empty());
  for (int64_t t : {1, 2, 3}) search.Handle(ValidationReported{t, 10, 0.1 * static_cast<double>(t)});
  // Three ranked: floor(3 * 0.25) = 0, nobody exploits.
  EXPECT_TRUE(std::holds_alternative<ContinueTrial>(search.Handle(ValidationReported{3, 20, 0.9})[0]));
  EXPECT_TRUE(search.Handle(TrialExited{1, TrialExited::Kind::kCompleted}).empty());
  EXPECT_TRUE(search.Handle(TrialExited{2, TrialExited::Kind::kCompleted}).empty());
  const auto last = search.Handle(TrialExited{3, TrialExited::Kind::kCompleted});
  ASSERT_EQ(last.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<FinishSweep>(last[0]));
}

TEST(Pbt, NeitherTheLastStepNorAFinishedParentLeadsToACopy) {
  SweepSpec spec = PbtSweep(0);
  spec.max_steps = 30;
  PopulationBasedSearch search(spec);
  search.Handle(SweepStarted{});
  for (int64_t t : {0, 1, 2}) search.Handle(ValidationReported{t, 10, 0.1 * static_cast<double>(t + 1)});
  EXPECT_TRUE(search.Handle(ValidationReported{3, 30, 0.9}).empty()) << "its last step: the member ends anyway";
  // Trial 0, the best, finishes; trial 3, the worst, has no parent still training in the top quantile.
  PopulationBasedSearch other(spec);
  other.Handle(SweepStarted{});
  for (int64_t t : {0, 1, 2}) other.Handle(ValidationReported{t, 10, 0.1 * static_cast<double>(t + 1)});
  other.Handle(TrialExited{0, TrialExited::Kind::kCompleted});
  EXPECT_EQ(std::get<PauseTrial>(other.Handle(ValidationReported{3, 10, 0.9}).at(0)).trial, 3);
  const auto resumed = other.Handle(TrialExited{3, TrialExited::Kind::kPaused});
  ASSERT_EQ(resumed.size(), 1u);
  EXPECT_EQ(std::get<ResumeTrial>(resumed[0]).clone_from, -1) << "from its own checkpoint";
  EXPECT_TRUE(std::get<ResumeTrial>(resumed[0]).hyperparameters.empty());
}

TEST(PerturbHyperparameters, MovesEachKindWithinItsRange) {
  const std::vector<ParameterSpace> space = {
      Space("a", ParameterSpace::Kind::kUniform, 0, 1), Space("b", ParameterSpace::Kind::kIntUniform, 1, 3),
      Space("c", ParameterSpace::Kind::kValues, 0, 0, {"x", "y"}), Space("d", ParameterSpace::Kind::kConstant, 0, 0, {"7"})};
  const std::vector<Hyperparameter> edge = {{"a", "0.95"}, {"b", "3"}, {"c", "y"}, {"d", "7"}};
  for (int64_t i = 0; i < 50; ++i) {
    std::mt19937_64 rng = DrawGenerator(1, i);
    const auto next = PerturbHyperparameters(space, edge, 0, rng);
    const double a = std::stod(Value(next, "a"));
    EXPECT_TRUE(a == 1.0 || std::abs(a - 0.76) < 1e-12) << a << ": 0.95 * 1.2 clamps to 1";
    EXPECT_TRUE(Value(next, "b") == "3" || Value(next, "b") == "2") << "3 * 0.8 rounds to 2; up is clamped";
    EXPECT_TRUE(Value(next, "c") == "y" || Value(next, "c") == "x");
    EXPECT_EQ(Value(next, "d"), "7");
    std::mt19937_64 again = DrawGenerator(1, i);
    const auto redrawn = PerturbHyperparameters(space, edge, /*resample_probability=*/1, again);
    const double drawn = std::stod(Value(redrawn, "a"));
    EXPECT_TRUE(drawn >= 0 && drawn <= 1);
  }
}

}  // namespace
}  // namespace orchard::coordinator
