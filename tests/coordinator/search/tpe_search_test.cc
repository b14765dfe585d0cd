// TPE search through the SearchStrategy interface: whole sweeps simulated in memory against
// synthetic objectives (Branin, Hartmann-6), the trials it creates, and its snapshots.
#include "coordinator/search/tpe_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <set>
#include <tuple>

#include "coordinator/search/search_strategy.h"
#include "coordinator/search/trial_sampler.h"
#include "tests/coordinator/search/search_spaces.h"
#include "tests/util/search_simulation.h"

namespace orchard::coordinator {
namespace {

using testing::Branin;
using testing::BraninSweep;
using testing::Hartmann6;
using testing::Hartmann6Sweep;
using testing::Median;
using testing::NumberAt;
using testing::Objective;
using testing::SimulatedSweep;
using testing::Simulate;

SimulatedSweep Simulate(const SweepSpec& spec, const Objective& objective) {
  auto strategy = MakeSearchStrategy(spec, nullptr);
  EXPECT_TRUE(strategy.ok()) << strategy.status().message();
  return Simulate(**strategy, objective);
}

// Actions as text, to compare two strategies' answers.
std::string Describe(const std::vector<SearchAction>& actions) {
  std::string text;
  for (const SearchAction& action : actions) {
    if (const auto* create = std::get_if<CreateTrial>(&action)) {
      text += "create " + std::to_string(create->trial);
      for (const Hyperparameter& h : create->hyperparameters) text += " " + h.path + "=" + h.value;
    } else if (std::holds_alternative<FinishSweep>(action)) {
      text += "finish";
    } else {
      text += "other";  // TPE alone neither stops, continues, pauses nor resumes trials
    }
    text += "; ";
  }
  return text;
}

// The medians over 30 seeds of the best value found in 50 evaluations, by TPE and by random search.
std::pair<double, double> MedianBests(const std::function<SweepSpec(const std::string&, int64_t, int64_t)>& make,
                                      const Objective& objective, int64_t max_concurrent, bool multivariate) {
  std::vector<double> tpe, random;
  for (int64_t seed = 1; seed <= 30; ++seed) {
    SweepSpec spec = make("tpe", seed, 50);
    spec.max_concurrent = max_concurrent;
    spec.tpe_multivariate = multivariate;
    tpe.push_back(Simulate(spec, objective).Best());
    random.push_back(Simulate(make("random", seed, 50), objective).Best());
  }
  return {Median(tpe), Median(random)};
}

// Both models, sequential and with several trials in flight, beat random search on `name`.
void ExpectBeatsRandomSearch(const std::string& name,
                             const std::function<SweepSpec(const std::string&, int64_t, int64_t)>& make,
                             const Objective& objective) {
  for (bool multivariate : {true, false}) {
    for (int64_t max_concurrent : {0, 1, 4}) {
      const auto [tpe, random] = MedianBests(make, objective, max_concurrent, multivariate);
      std::printf("%s, 50 evaluations, median best over 30 seeds (%s, max_concurrent %lld): tpe %.4f, random %.4f\n",
                  name.c_str(), multivariate ? "multivariate" : "univariate", static_cast<long long>(max_concurrent), tpe,
                  random);
      EXPECT_LT(tpe, random) << name << ", max_concurrent " << max_concurrent << ", multivariate " << multivariate;
    }
  }
}

TEST(TpeSearch, BeatsRandomSearchOnBranin) { ExpectBeatsRandomSearch("Branin", BraninSweep, Branin); }

TEST(TpeSearch, BeatsRandomSearchOnHartmann6) { ExpectBeatsRandomSearch("Hartmann-6", Hartmann6Sweep, Hartmann6); }

TEST(TpeSearch, OneJointModelBeatsOneModelPerParameterOnHartmann6) {
  // Hartmann-6's good region is a combination of values: drawn together from good trials they stay
  // together, drawn one parameter at a time they mix with others' (measured: 0.33 against 0.74 regret).
  const double joint = MedianBests(Hartmann6Sweep, Hartmann6, 1, /*multivariate=*/true).first;
  const double separate = MedianBests(Hartmann6Sweep, Hartmann6, 1, /*multivariate=*/false).first;
  std::printf("Hartmann-6, median regret over 30 seeds: joint %.4f, one per parameter %.4f\n",
              joint - testing::kHartmann6Minimum, separate - testing::kHartmann6Minimum);
  EXPECT_LT(joint - testing::kHartmann6Minimum, 0.75 * (separate - testing::kHartmann6Minimum));
}

// Over seeds 1..20 with four trials in flight, the mean distance (in units of each range) from each
// TPE proposal to the nearest of the three trials running when it was made.
double MeanDistanceToRunningTrials(const std::function<SweepSpec(const std::string&, int64_t, int64_t)>& make,
                                   const Objective& objective, bool constant_liar) {
  double sum = 0;
  int count = 0;
  for (int64_t seed = 1; seed <= 20; ++seed) {
    SweepSpec spec = make("tpe", seed, 50);
    spec.max_concurrent = 4;
    spec.tpe_constant_liar = constant_liar;
    const SimulatedSweep sweep = Simulate(spec, objective);
    // Trials are evaluated in creation order, so trial i was proposed while i-3 .. i-1 ran.
    for (size_t i = static_cast<size_t>(spec.tpe_startup_trials); i < sweep.created.size(); ++i) {
      double nearest = std::numeric_limits<double>::infinity();
      for (size_t j = i - 3; j < i; ++j) {
        double squares = 0;
        for (size_t k = 0; k < spec.parameters.size(); ++k) {
          const ParameterSpace& p = spec.parameters[k];
          const double gap = (NumberAt(sweep.created[i].hyperparameters, k) - NumberAt(sweep.created[j].hyperparameters, k)) /
                             (p.max - p.min);
          squares += gap * gap;
        }
        nearest = std::min(nearest, std::sqrt(squares));
      }
      sum += nearest, ++count;
    }
  }
  return sum / count;
}

TEST(TpeSearch, TheConstantLiarKeepsProposalsAwayFromTrialsStillRunning) {
  // Without it, a proposal made while the last few trials run knows nothing of them and lands where
  // they did (measured on Branin: 0.17 of the range away on average, 0.30 with the liar).
  const double branin_liar = MeanDistanceToRunningTrials(BraninSweep, Branin, true);
  const double branin_plain = MeanDistanceToRunningTrials(BraninSweep, Branin, false);
  const double hartmann_liar = MeanDistanceToRunningTrials(Hartmann6Sweep, Hartmann6, true);
  const double hartmann_plain = MeanDistanceToRunningTrials(Hartmann6Sweep, Hartmann6, false);
  std::printf("mean distance to the nearest running trial: Branin %.3f with the liar, %.3f without; Hartmann-6 %.3f, "
              "%.3f\n", branin_liar, branin_plain, hartmann_liar, hartmann_plain);
  EXPECT_GT(branin_liar, 1.3 * branin_plain);
  EXPECT_GT(hartmann_liar, hartmann_plain);
}

TEST(TpeSearch, StartupTrialsAreRandomSearchsDraws) {
  SweepSpec spec = BraninSweep("tpe", 11, 50);
  spec.tpe_startup_trials = 6;
  const SimulatedSweep sweep = Simulate(spec, Branin);
  ASSERT_EQ(sweep.created.size(), 50u);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(sweep.created[i].hyperparameters, RandomPoint(spec.parameters, 11, i));
  EXPECT_NE(sweep.created[6].hyperparameters, RandomPoint(spec.parameters, 11, 6)) << "from trial 6 on, TPE proposes";
}

TEST(TpeSearch, KeepsAtMostInFlightTrialsOutAndFinishesWhenAllHaveExited) {
  struct Case {
    int64_t max_concurrent, startup, max_trials, in_flight;
  };
  for (const Case& c : std::vector<Case>{{0, 10, 50, 10}, {3, 10, 50, 3}, {1, 5, 20, 1}, {0, 10, 4, 4}}) {
    SweepSpec spec = BraninSweep("tpe", 2, 50);
    spec.max_concurrent = c.max_concurrent;
    spec.tpe_startup_trials = c.startup;
    spec.max_trials = c.max_trials;
    auto strategy = MakeSearchStrategy(spec, nullptr).value();
    EXPECT_EQ(strategy->PlannedTrials(), c.max_trials);
    const SimulatedSweep sweep = Simulate(*strategy, Branin);
    EXPECT_EQ(sweep.most_in_flight, c.in_flight) << "max_concurrent " << c.max_concurrent;
    ASSERT_EQ(static_cast<int64_t>(sweep.created.size()), c.max_trials);
    for (int64_t i = 0; i < c.max_trials; ++i) EXPECT_EQ(sweep.created[i].trial, i);
    EXPECT_TRUE(sweep.finished);
  }
}

TEST(TpeSearch, CreatesTheNextTrialOnEveryKindOfExitButPause) {
  SweepSpec spec = BraninSweep("tpe", 3, 50);
  spec.max_concurrent = 2;
  spec.max_trials = 5;
  TpeSearch tpe(spec);
  EXPECT_EQ(tpe.Handle(SweepStarted{}).size(), 2u);
  EXPECT_TRUE(tpe.Handle(TrialExited{0, TrialExited::Kind::kPaused}).empty()) << "a paused trial is still out";
  EXPECT_EQ(tpe.Handle(TrialExited{0, TrialExited::Kind::kFailed}).size(), 1u);
  EXPECT_TRUE(tpe.Handle(TrialExited{0, TrialExited::Kind::kCompleted}).empty()) << "a repeat counts once";
  EXPECT_EQ(tpe.Handle(TrialExited{1, TrialExited::Kind::kStopped}).size(), 1u);
  EXPECT_EQ(tpe.Handle(TrialExited{2, TrialExited::Kind::kCanceled}).size(), 1u);
  EXPECT_TRUE(tpe.Handle(TrialExited{3, TrialExited::Kind::kCompleted}).empty()) << "all five exist";
  const auto last = tpe.Handle(TrialExited{4, TrialExited::Kind::kCompleted});
  ASSERT_EQ(last.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<FinishSweep>(last[0]));
}

TEST(TpeSearch, TrialsThatNeverReportedDoNotStopTheSearch) {
  // Every trial fails before reporting: nothing to learn from, so each proposal is a random draw.
  SweepSpec spec = BraninSweep("tpe", 4, 50);
  spec.max_trials = 15;
  spec.max_concurrent = 1;
  TpeSearch tpe(spec);
  std::vector<CreateTrial> created;
  std::vector<SearchAction> actions = tpe.Handle(SweepStarted{});
  bool finished = false;
  for (int64_t trial = 0; !finished; ++trial) {
    for (const SearchAction& action : actions) {
      if (const auto* create = std::get_if<CreateTrial>(&action)) created.push_back(*create);
      finished = finished || std::holds_alternative<FinishSweep>(action);
    }
    if (!finished) actions = tpe.Handle(TrialExited{trial, TrialExited::Kind::kFailed});
  }
  ASSERT_EQ(created.size(), 15u);
  for (int64_t i = 0; i < 15; ++i) EXPECT_EQ(created[i].hyperparameters, RandomPoint(spec.parameters, 4, i));
}

TEST(TpeSearch, ListsIntegersAndLogRangesGiveValuesInRangeWrittenAsRandomSearchWritesThem) {
  for (bool multivariate : {true, false}) {
    SCOPED_TRACE(multivariate ? "multivariate" : "univariate");
    SweepSpec spec;
    spec.strategy = "tpe";
    spec.max_trials = 60;
    spec.seed = 5;
    spec.tpe_startup_trials = 5;
    spec.max_concurrent = 2;
    spec.tpe_multivariate = multivariate;
    ParameterSpace constant;
    constant.path = "train.seed";
    constant.values = {"7"};
    spec.parameters = {Range("optimizer.lr", ParameterSpace::Kind::kLogUniform, 1e-4, 1e-1),
                       Range("train.batch_size", ParameterSpace::Kind::kIntUniform, 8, 12),
                       Values("model.hidden", {"[16]", "[64, 64]", "[256]"}),
                       constant,
                       Range("optimizer.beta1", ParameterSpace::Kind::kUniform, 0.9, 0.9)};
    // Best near lr 1e-3, batch 12, [64, 64].
    const Objective objective = [](const std::vector<Hyperparameter>& p) {
      return std::pow(std::log10(NumberAt(p, 0)) + 3, 2) + std::abs(NumberAt(p, 1) - 12) + (p[2].value == "[64, 64]" ? 0 : 1);
    };
    const SimulatedSweep sweep = Simulate(spec, objective);
    ASSERT_EQ(sweep.created.size(), 60u);
    std::multiset<std::string> lists;
    std::set<std::string> sizes;
    for (const CreateTrial& trial : sweep.created) {
      const auto& p = trial.hyperparameters;
      ASSERT_EQ(p.size(), 5u);
      const double lr = NumberAt(p, 0);
      EXPECT_GE(lr, 1e-4);
      EXPECT_LE(lr, 1e-1);
      EXPECT_EQ(p[0].value, FormatDouble(lr));
      EXPECT_EQ(p[1].value.find_first_not_of("0123456789"), std::string::npos) << p[1].value;
      EXPECT_GE(std::stoi(p[1].value), 8);
      EXPECT_LE(std::stoi(p[1].value), 12);
      sizes.insert(p[1].value);
      lists.insert(p[2].value);
      EXPECT_EQ(p[3].value, "7");
      EXPECT_EQ(p[4].value, "0.9");
    }
    EXPECT_EQ(sizes.size(), 5u) << "both end values are reachable";
    EXPECT_GT(lists.count("[64, 64]"), 30u) << "TPE settles on the best list value";
    EXPECT_LT(sweep.Best(), 0.1);
  }
}

TEST(TpeSearch, MaximisingANegatedObjectiveProposesTheSameTrials) {
  SweepSpec min = BraninSweep("tpe", 6, 50);
  SweepSpec max = min;
  max.mode = "max";
  const SimulatedSweep a = Simulate(min, Branin);
  const SimulatedSweep b = Simulate(max, [](const std::vector<Hyperparameter>& p) { return -Branin(p); });
  ASSERT_EQ(a.created.size(), b.created.size());
  for (size_t i = 0; i < a.created.size(); ++i) EXPECT_EQ(a.created[i].hyperparameters, b.created[i].hyperparameters);
}

TEST(TpeSearch, SameSeedSameTrialsOtherSeedOtherTrials) {
  const SimulatedSweep a = Simulate(BraninSweep("tpe", 7, 50), Branin);
  const SimulatedSweep b = Simulate(BraninSweep("tpe", 7, 50), Branin);
  const SimulatedSweep c = Simulate(BraninSweep("tpe", 8, 50), Branin);
  ASSERT_EQ(a.created.size(), 50u);
  for (size_t i = 0; i < a.created.size(); ++i) EXPECT_EQ(a.created[i].hyperparameters, b.created[i].hyperparameters);
  EXPECT_NE(a.created[30].hyperparameters, c.created[30].hyperparameters);
}

class TpeSnapshotTest : public ::testing::TestWithParam<std::pair<bool, bool>> {};

TEST_P(TpeSnapshotTest, SnapshotThenRestoreGivesTheSameNextActions) {
  SweepSpec spec = BraninSweep("tpe", 9, 50);
  spec.max_trials = 30;
  spec.max_concurrent = 3;
  spec.tpe_startup_trials = 4;
  std::tie(spec.tpe_multivariate, spec.tpe_constant_liar) = GetParam();
  auto original = MakeSearchStrategy(spec, nullptr).value();
  // 20 trials through the original: the pending queue is the three trials created last.
  std::deque<CreateTrial> queue;
  const auto created = [](const std::vector<SearchAction>& actions) {
    std::vector<CreateTrial> trials;
    for (const SearchAction& action : actions)
      if (const auto* create = std::get_if<CreateTrial>(&action)) trials.push_back(*create);
    return trials;
  };
  for (const CreateTrial& t : created(original->Handle(SweepStarted{}))) queue.push_back(t);
  for (int i = 0; i < 20; ++i) {
    const CreateTrial t = queue.front();
    queue.pop_front();
    // A stopped trial, a failed one that never reported: every kind of record goes into the snapshot.
    if (t.trial != 11) original->Handle(ValidationReported{t.trial, 5, Branin(t.hyperparameters)});
    const auto kind = t.trial == 7    ? TrialExited::Kind::kStopped
                      : t.trial == 11 ? TrialExited::Kind::kFailed
                                      : TrialExited::Kind::kCompleted;
    for (const CreateTrial& next : created(original->Handle(TrialExited{t.trial, kind}))) queue.push_back(next);
  }
  original->Handle(ValidationReported{queue.front().trial, 2, 50.0});  // in flight, reported once
  const nlohmann::json snapshot = original->Snapshot();

  auto restored = MakeSearchStrategy(spec, &snapshot);
  ASSERT_TRUE(restored.ok()) << restored.status().message();
  EXPECT_EQ((*restored)->Snapshot(), snapshot);
  EXPECT_TRUE((*restored)->Handle(SweepStarted{}).empty()) << "already started: nothing twice";
  bool finished = false;
  while (!queue.empty()) {
    const CreateTrial t = queue.front();
    queue.pop_front();
    const SearchEvent report = ValidationReported{t.trial, 5, Branin(t.hyperparameters)};
    const SearchEvent exit = TrialExited{t.trial, TrialExited::Kind::kCompleted};
    EXPECT_TRUE(original->Handle(report).empty());
    EXPECT_TRUE((*restored)->Handle(report).empty());
    const auto a = original->Handle(exit);
    const auto b = (*restored)->Handle(exit);
    ASSERT_EQ(Describe(a), Describe(b)) << "after trial " << t.trial;
    for (const CreateTrial& next : created(a)) queue.push_back(next);
    finished = finished || (!a.empty() && std::holds_alternative<FinishSweep>(a.back()));
  }
  EXPECT_TRUE(finished);
}

// Multivariate and constant liar: each on and off.
INSTANTIATE_TEST_SUITE_P(EveryModel, TpeSnapshotTest,
                         ::testing::Values(std::pair{true, true}, std::pair{true, false}, std::pair{false, true},
                                           std::pair{false, false}));

// A conditional subspace is modelled on the trials where it applied: when sgd with a momentum near
// 0.9 is what scored well, later sgd proposals cluster there, adamw proposals never carry a
// momentum, and the strategy restores from a snapshot (held as JSON text, where absent values are
// null) to make the same proposals.
TEST(TpeSearch, ModelsAConditionalSubspaceOnTheTrialsWhereItApplied) {
  SweepSpec sweep;
  sweep.strategy = "tpe";
  sweep.max_trials = 60;
  sweep.max_concurrent = 1;
  sweep.seed = 5;
  sweep.parameters = {Values("optimizer.type", {"sgd", "adamw"}),
                      When(Range("optimizer.momentum", ParameterSpace::Kind::kUniform, 0.0, 1.0), "optimizer.type", {"sgd"})};
  const auto loss = [](const std::vector<Hyperparameter>& point) {
    if (point[0].value != "sgd") return 1.0;
    return std::abs(std::stod(point[1].value) - 0.9);
  };
  TpeSearch tpe(sweep);
  std::vector<CreateTrial> queue;
  for (const SearchAction& action : tpe.Handle(SweepStarted{}))
    if (const auto* create = std::get_if<CreateTrial>(&action)) queue.push_back(*create);
  std::vector<double> late_momenta;
  std::string saved;
  for (size_t next = 0; next < queue.size(); ++next) {
    const CreateTrial trial = queue[next];
    ASSERT_EQ(trial.hyperparameters.size(), trial.hyperparameters[0].value == "sgd" ? 2u : 1u);
    if (trial.trial >= 40 && trial.hyperparameters[0].value == "sgd")
      late_momenta.push_back(std::stod(trial.hyperparameters[1].value));
    if (trial.trial == 30) saved = tpe.Snapshot().dump();
    tpe.Handle(ValidationReported{trial.trial, 1, loss(trial.hyperparameters)});
    for (const SearchAction& action : tpe.Handle(TrialExited{trial.trial, TrialExited::Kind::kCompleted}))
      if (const auto* create = std::get_if<CreateTrial>(&action)) queue.push_back(*create);
  }
  ASSERT_GE(late_momenta.size(), 10u) << "sgd scored better, so most late proposals are sgd";
  std::sort(late_momenta.begin(), late_momenta.end());
  EXPECT_NEAR(late_momenta[late_momenta.size() / 2], 0.9, 0.1);

  // Restored from the text saved while trial 30 ran, it proposes trial 31 as the original did.
  EXPECT_NE(saved.find("null"), std::string::npos) << "an adamw trial's momentum is saved as null: " << saved;
  TpeSearch restored(sweep);
  ASSERT_TRUE(restored.Restore(nlohmann::json::parse(saved)).ok());
  restored.Handle(ValidationReported{30, 1, loss(queue[30].hyperparameters)});
  std::vector<CreateTrial> next;
  for (const SearchAction& action : restored.Handle(TrialExited{30, TrialExited::Kind::kCompleted}))
    if (const auto* create = std::get_if<CreateTrial>(&action)) next.push_back(*create);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].hyperparameters, queue[31].hyperparameters);
}

TEST(TpeSearch, RejectsASnapshotOfAnotherSweepOrADamagedOne) {
  SweepSpec spec = BraninSweep("tpe", 9, 50);
  TpeSearch tpe(spec);
  tpe.Handle(SweepStarted{});
  const nlohmann::json good = tpe.Snapshot();
  nlohmann::json other = good;
  other["max_trials"] = 49;
  nlohmann::json short_trial = good;
  short_trial["trials"][0]["x"] = {1.0};
  nlohmann::json outside = good;
  outside["trials"][0]["x"] = {11.0, 1.0};
  nlohmann::json bad_exit = good;
  bad_exit["trials"][0]["exited"] = "vanished";
  for (const nlohmann::json& snapshot : {other, short_trial, outside, bad_exit, nlohmann::json{{"strategy", "tpe"}}}) {
    TpeSearch fresh(spec);
    const Status status = fresh.Restore(snapshot);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << snapshot.dump();
  }
  TpeSearch fresh(spec);
  EXPECT_TRUE(fresh.Restore(good).ok());
}

// ASHA over TPE: the rule stops trials at their reports, and each stop (an exit) brings TPE's next
// proposal, informed by the stopped trials' values at their last step.
TEST(TpeSearch, UnderAshaStoppedTrialsAreReportedAndTpeKeepsCreating) {
  SweepSpec spec = BraninSweep("asha", 10, 50);
  spec.sampler = "tpe";
  spec.max_trials = 30;
  spec.tpe_startup_trials = 6;
  spec.max_concurrent = 3;
  spec.min_steps = 10;
  spec.reduction_factor = 3;
  auto strategy = MakeSearchStrategy(spec, nullptr);
  ASSERT_TRUE(strategy.ok()) << strategy.status().message();
  // A trial's loss at step s: its Branin value plus a gap that closes as it trains.
  std::deque<CreateTrial> queue;
  std::vector<CreateTrial> created;
  std::set<int64_t> stopped;
  bool finished = false;
  const auto apply = [&](const std::vector<SearchAction>& actions) {
    for (const SearchAction& action : actions) {
      if (const auto* create = std::get_if<CreateTrial>(&action)) {
        created.push_back(*create);
        queue.push_back(*create);
      } else if (const auto* stop = std::get_if<StopTrial>(&action)) {
        stopped.insert(stop->trial);
      }
      finished = finished || std::holds_alternative<FinishSweep>(action);
    }
  };
  apply((*strategy)->Handle(SweepStarted{}));
  while (!queue.empty()) {
    const CreateTrial t = queue.front();
    queue.pop_front();
    bool was_stopped = false;
    for (int64_t step : {10, 30, 90}) {
      apply((*strategy)->Handle(ValidationReported{t.trial, step, Branin(t.hyperparameters) + 100.0 / step}));
      if ((was_stopped = stopped.count(t.trial) > 0)) break;
    }
    apply((*strategy)->Handle(TrialExited{t.trial, was_stopped ? TrialExited::Kind::kStopped : TrialExited::Kind::kCompleted}));
  }
  EXPECT_EQ(created.size(), 30u);
  EXPECT_TRUE(finished);
  EXPECT_GT(stopped.size(), 10u) << "ASHA stops most trials at rung 0";
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(created[i].hyperparameters, RandomPoint(spec.parameters, 10, i));
  EXPECT_NE(created[6].hyperparameters, RandomPoint(spec.parameters, 10, 6));
  const nlohmann::json snapshot = (*strategy)->Snapshot();
  EXPECT_EQ(snapshot["sampler"]["strategy"], "tpe");
  EXPECT_TRUE(MakeSearchStrategy(spec, &snapshot).ok());
}

}  // namespace
}  // namespace orchard::coordinator
