#include "coordinator/search/search_strategy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "coordinator/search/trial_sampler.h"
#include "tests/coordinator/search/search_spaces.h"

namespace orchard::coordinator {
namespace {

std::vector<CreateTrial> Created(const std::vector<SearchAction>& actions) {
  std::vector<CreateTrial> created;
  for (const auto& a : actions)
    if (const auto* c = std::get_if<CreateTrial>(&a)) created.push_back(*c);
  return created;
}

bool Finishes(const std::vector<SearchAction>& actions) {
  for (const auto& a : actions)
    if (std::holds_alternative<FinishSweep>(a)) return true;
  return false;
}

TEST(GridSearch, CreatesEveryPointInRowMajorOrder) {
  SweepSpec spec;
  spec.strategy = "grid";
  spec.parameters = {Values("optimizer.lr", {"0.1", "0.01"}), Values("model.hidden", {"[8]", "[16]", "[32]"})};
  auto strategy = MakeSearchStrategy(spec, nullptr);
  ASSERT_TRUE(strategy.ok()) << strategy.status().message();
  const auto trials = Created((*strategy)->Handle(SweepStarted{}));
  ASSERT_EQ(trials.size(), 6u);
  EXPECT_EQ((*strategy)->PlannedTrials(), 6);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"0.1", "[8]"}, {"0.1", "[16]"}, {"0.1", "[32]"}, {"0.01", "[8]"}, {"0.01", "[16]"}, {"0.01", "[32]"}};
  for (size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i].trial, static_cast<int64_t>(i));
    EXPECT_EQ(trials[i].hyperparameters,
              (std::vector<Hyperparameter>{{"optimizer.lr", expected[i].first}, {"model.hidden", expected[i].second}}));
  }
}

TEST(GridSearch, MaxTrialsTakesTheFirstPoints) {
  SweepSpec spec;
  spec.strategy = "grid";
  spec.max_trials = 2;
  spec.parameters = {Values("a", {"1", "2", "3"})};
  auto strategy = MakeSearchStrategy(spec, nullptr);
  ASSERT_TRUE(strategy.ok());
  const auto trials = Created((*strategy)->Handle(SweepStarted{}));
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[1].hyperparameters[0].value, "2");
}

// A parameter that applies only for some values of another adds points only there: 2 + 1 + 2 x 1.
TEST(GridSearch, ConditionalParametersExpandOnlyWhereTheyApply) {
  const std::vector<ParameterSpace> space = {
      Values("optimizer.type", {"sgd", "adamw", "adam"}),
      When(Values("optimizer.momentum", {"0.5", "0.9"}), "optimizer.type", {"sgd"}),
      When(Values("optimizer.beta1", {"0.9"}), "optimizer.type", {"adamw", "adam"})};
  EXPECT_EQ(GridSize(space), 4);
  const std::vector<std::vector<Hyperparameter>> expected = {
      {{"optimizer.type", "sgd"}, {"optimizer.momentum", "0.5"}},
      {{"optimizer.type", "sgd"}, {"optimizer.momentum", "0.9"}},
      {{"optimizer.type", "adamw"}, {"optimizer.beta1", "0.9"}},
      {{"optimizer.type", "adam"}, {"optimizer.beta1", "0.9"}}};
  EXPECT_EQ(GridPoints(space, 10), expected);
  EXPECT_EQ(GridPoints(space, 2).size(), 2u);
  // Without conditions the arithmetic and the listing agree.
  const std::vector<ParameterSpace> plain = {Values("a", {"1", "2"}), Values("b", {"x", "y", "z"})};
  const auto listed = GridPoints(plain, 6);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(GridPoint(plain, i), listed[static_cast<size_t>(i)]);
  // Nested: a condition on a conditional parameter holds only where that one applies.
  const std::vector<ParameterSpace> nested = {
      Values("a", {"1", "2"}), When(Values("b", {"x", "y"}), "a", {"1"}), When(Values("c", {"7", "8", "9"}), "b", {"y"})};
  EXPECT_EQ(GridSize(nested), 1 * 1 + 1 * 3 + 1);  // a=1 b=x; a=1 b=y c=7..9; a=2
}

TEST(GridSearch, AConditionalGridTooLargeToCountSaysSo) {
  std::vector<ParameterSpace> space = {Values("a", {"1", "2"})};
  for (int i = 0; i < 7; ++i)
    space.push_back(When(Values("p" + std::to_string(i), {"0", "1", "2", "3", "4", "5", "6", "7"}), "a", {"1"}));
  EXPECT_EQ(GridSize(space), std::numeric_limits<int64_t>::max()) << "8^7 + 1 points is past the counting limit";
}

// Random and quasi-random draws leave out what does not apply, whatever they drew for it.
TEST(RandomSearch, ConditionalParametersAppearOnlyWhereTheyApply) {
  const std::vector<ParameterSpace> space = {
      Values("optimizer.type", {"sgd", "adamw"}), LearningRate(),
      When(Range("optimizer.momentum", ParameterSpace::Kind::kUniform, 0.5, 0.99), "optimizer.type", {"sgd"})};
  std::set<size_t> sizes;
  for (int64_t i = 0; i < 50; ++i) {
    for (const std::vector<Hyperparameter>& point : {RandomPoint(space, 3, i), QuasiRandomPoint(space, 3, i)}) {
      const bool sgd = point[0].value == "sgd";
      ASSERT_EQ(point.size(), sgd ? 3u : 2u);
      EXPECT_EQ(point[1].path, "optimizer.lr");
      if (sgd) {
        EXPECT_EQ(point[2].path, "optimizer.momentum");
      }
      sizes.insert(point.size());
    }
  }
  EXPECT_EQ(sizes.size(), 2u) << "both branches were drawn";
}

TEST(GridSearch, RejectsADistribution) {
  SweepSpec spec;
  spec.strategy = "grid";
  spec.parameters = {Range("optimizer.lr", ParameterSpace::Kind::kUniform, 0, 1)};
  auto strategy = MakeSearchStrategy(spec, nullptr);
  ASSERT_FALSE(strategy.ok());
  EXPECT_NE(strategy.status().message().find("grid search needs"), std::string::npos);
}

TEST(SearchStrategy, UnknownStrategyIsAnError) {
  SweepSpec spec;
  spec.strategy = "bayes";
  auto strategy = MakeSearchStrategy(spec, nullptr);
  ASSERT_FALSE(strategy.ok());
  EXPECT_EQ(strategy.status().code(), StatusCode::kInvalidArgument);
}

SweepSpec RandomSpec(int64_t seed) {
  SweepSpec spec;
  spec.strategy = "random";
  spec.max_trials = 200;
  spec.seed = seed;
  spec.parameters = {Range("optimizer.lr", ParameterSpace::Kind::kLogUniform, 1e-4, 1e-1),
                     Range("optimizer.beta1", ParameterSpace::Kind::kUniform, 0.8, 0.99),
                     Range("train.batch_size", ParameterSpace::Kind::kIntUniform, 16, 18),
                     Values("model.activation", {"relu", "gelu"})};
  return spec;
}

TEST(RandomSearch, DrawsWithinEachDistribution) {
  auto strategy = MakeSearchStrategy(RandomSpec(7), nullptr);
  ASSERT_TRUE(strategy.ok());
  const auto trials = Created((*strategy)->Handle(SweepStarted{}));
  ASSERT_EQ(trials.size(), 200u);
  std::set<std::string> batch_sizes, activations;
  int small_lr = 0;
  for (const auto& t : trials) {
    const double lr = std::stod(t.hyperparameters[0].value);
    EXPECT_GE(lr, 1e-4);
    EXPECT_LE(lr, 1e-1);
    small_lr += lr < 1e-2;  // log-uniform: two thirds of the draws lie below 1e-2
    const double beta1 = std::stod(t.hyperparameters[1].value);
    EXPECT_GE(beta1, 0.8);
    EXPECT_LE(beta1, 0.99);
    batch_sizes.insert(t.hyperparameters[2].value);
    activations.insert(t.hyperparameters[3].value);
  }
  EXPECT_EQ(batch_sizes, (std::set<std::string>{"16", "17", "18"}));
  EXPECT_EQ(activations, (std::set<std::string>{"relu", "gelu"}));
  EXPECT_GT(small_lr, 110);
  EXPECT_LT(small_lr, 155);
}

// exp(log(3)) is 3.0000000000000004: unclamped, a log-uniform draw left [min, max] (the fuzzer's
// regression tests/fuzz/regressions/sweep-log-uniform-single-point.yaml).
TEST(RandomSearch, DrawsOfASinglePointRangeAreThatPoint) {
  for (double x : {0.1, 3.0, 7.0, 1e6}) {
    for (auto kind : {ParameterSpace::Kind::kLogUniform, ParameterSpace::Kind::kUniform}) {
      for (int64_t index = 0; index < 3; ++index) {
        const auto point = RandomPoint({Range("optimizer.lr", kind, x, x)}, 1, index);
        EXPECT_EQ(std::stod(point[0].value), x) << point[0].value;
      }
    }
  }
}

TEST(RandomSearch, SameSeedSameDrawsOtherSeedOtherDraws) {
  auto a = MakeSearchStrategy(RandomSpec(7), nullptr);
  auto b = MakeSearchStrategy(RandomSpec(7), nullptr);
  auto c = MakeSearchStrategy(RandomSpec(8), nullptr);
  const auto ta = Created((*a)->Handle(SweepStarted{}));
  const auto tb = Created((*b)->Handle(SweepStarted{}));
  const auto tc = Created((*c)->Handle(SweepStarted{}));
  EXPECT_EQ(ta[5].hyperparameters, tb[5].hyperparameters);
  EXPECT_NE(ta[5].hyperparameters, tc[5].hyperparameters);
}

TEST(QuasiRandomSearch, DrawsWithinEachDistributionDeterminedByTheSeed) {
  SweepSpec spec = RandomSpec(7);
  spec.strategy = "quasi_random";
  spec.parameters.push_back(Values("model.type", {"mlp"}));  // a constant stays as it is
  spec.parameters.back().kind = ParameterSpace::Kind::kConstant;
  auto a = MakeSearchStrategy(spec, nullptr);
  ASSERT_TRUE(a.ok()) << a.status().message();
  const auto trials = Created((*a)->Handle(SweepStarted{}));
  ASSERT_EQ(trials.size(), 200u);
  std::set<std::string> batch_sizes, activations;
  for (const auto& t : trials) {
    const double lr = std::stod(t.hyperparameters[0].value);
    EXPECT_GE(lr, 1e-4);
    EXPECT_LE(lr, 1e-1);
    const double beta1 = std::stod(t.hyperparameters[1].value);
    EXPECT_GE(beta1, 0.8);
    EXPECT_LE(beta1, 0.99);
    batch_sizes.insert(t.hyperparameters[2].value);
    activations.insert(t.hyperparameters[3].value);
    EXPECT_EQ(t.hyperparameters[4].value, "mlp");
  }
  EXPECT_EQ(batch_sizes, (std::set<std::string>{"16", "17", "18"}));
  EXPECT_EQ(activations, (std::set<std::string>{"relu", "gelu"}));
  EXPECT_EQ(QuasiRandomPoint(spec.parameters, 7, 5), trials[5].hyperparameters);
  EXPECT_NE(QuasiRandomPoint(spec.parameters, 8, 5), trials[5].hyperparameters);
}

// The point of a low-discrepancy sequence: n points leave no gap larger than about 1/n, where n
// random draws leave about n/e of n equal cells empty.
TEST(QuasiRandomSearch, FillsTheSpaceMoreEvenlyThanRandomDraws) {
  const std::vector<ParameterSpace> line = {Range("x", ParameterSpace::Kind::kUniform, 0, 1)};
  for (int64_t seed = 1; seed <= 5; ++seed) {
    std::vector<int> cells(64, 0);
    for (int64_t i = 0; i < 64; ++i) ++cells[static_cast<size_t>(std::stod(QuasiRandomPoint(line, seed, i)[0].value) * 64)];
    EXPECT_EQ(std::count(cells.begin(), cells.end(), 1), 64) << "seed " << seed << ": one point in each 64th";
  }
  const std::vector<ParameterSpace> square = {Range("x", ParameterSpace::Kind::kUniform, 0, 1),
                                              Range("y", ParameterSpace::Kind::kUniform, 0, 1)};
  const auto empty_cells = [&](auto point) {
    std::set<int> filled;
    for (int64_t i = 0; i < 64; ++i) {
      const auto p = point(i);
      filled.insert(static_cast<int>(std::stod(p[0].value) * 8) * 8 + static_cast<int>(std::stod(p[1].value) * 8));
    }
    return 64 - static_cast<int>(filled.size());
  };
  int quasi_empty = 0, random_empty = 0;
  for (int64_t seed = 1; seed <= 20; ++seed) {
    quasi_empty += empty_cells([&](int64_t i) { return QuasiRandomPoint(square, seed, i); });
    random_empty += empty_cells([&](int64_t i) { return RandomPoint(square, seed, i); });
  }
  // 64 points in an 8x8 grid, over 20 seeds: random draws leave ~23 cells a seed empty, Halton's
  // bases 2 and 3 ~15 (its columns hold 8 points in 8 of the 9 ninths of y, which eighths cut unevenly).
  EXPECT_LT(quasi_empty * 4, random_empty * 3) << "quasi " << quasi_empty << ", random " << random_empty;
}

TEST(FormatDouble, RoundTripsAndStaysAFloat) {
  EXPECT_EQ(FormatDouble(1.0), "1.0");
  EXPECT_EQ(FormatDouble(0.001), "0.001");
  const double x = 0.0023983682048180684;
  EXPECT_EQ(std::stod(FormatDouble(x)), x);
}

TEST(FixedSearch, FinishesWhenEveryTrialHasExitedOnce) {
  SweepSpec spec;
  spec.strategy = "grid";
  spec.parameters = {Values("a", {"1", "2"})};
  auto strategy = std::move(MakeSearchStrategy(spec, nullptr).value());
  strategy->Handle(SweepStarted{});
  EXPECT_FALSE(Finishes(strategy->Handle(ValidationReported{0, 10, 0.5})));
  EXPECT_FALSE(Finishes(strategy->Handle(TrialExited{0, TrialExited::Kind::kFailed})));
  EXPECT_FALSE(Finishes(strategy->Handle(TrialExited{0, TrialExited::Kind::kFailed})));  // a repeat counts once
  EXPECT_TRUE(Finishes(strategy->Handle(TrialExited{1, TrialExited::Kind::kCompleted})));
}

TEST(FixedSearch, SnapshotThenRestoreGivesTheSameNextActions) {
  SweepSpec spec = RandomSpec(3);
  spec.max_trials = 3;
  auto original = std::move(MakeSearchStrategy(spec, nullptr).value());
  original->Handle(SweepStarted{});
  original->Handle(TrialExited{0, TrialExited::Kind::kCompleted});
  original->Handle(TrialExited{1, TrialExited::Kind::kFailed});
  const nlohmann::json snapshot = original->Snapshot();

  auto restored = MakeSearchStrategy(spec, &snapshot);
  ASSERT_TRUE(restored.ok()) << restored.status().message();
  EXPECT_EQ((*restored)->Snapshot(), snapshot);
  EXPECT_TRUE(Created((*restored)->Handle(SweepStarted{})).empty());  // already started: nothing twice
  const auto a = original->Handle(TrialExited{2, TrialExited::Kind::kCompleted});
  const auto b = (*restored)->Handle(TrialExited{2, TrialExited::Kind::kCompleted});
  EXPECT_TRUE(Finishes(a));
  EXPECT_TRUE(Finishes(b));
}

TEST(FixedSearch, RejectsASnapshotOfAnotherSweep) {
  SweepSpec spec = RandomSpec(3);
  spec.max_trials = 3;
  const nlohmann::json other = {{"strategy", "random"}, {"trials", 5}, {"started", true}, {"exited", {4}}};
  auto restored = MakeSearchStrategy(spec, &other);
  ASSERT_FALSE(restored.ok());
  EXPECT_NE(restored.status().message().find("does not belong"), std::string::npos);
}

}  // namespace
}  // namespace orchard::coordinator
