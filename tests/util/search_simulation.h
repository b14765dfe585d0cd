// Whole sweeps of a search strategy simulated in memory against synthetic objectives, shared by the
// strategies' tests and bench/search_strategies.cc so that both measure the same thing.
//
//   auto strategy = MakeSearchStrategy(spec, nullptr).value();  // spec.parameters: x1, x2 as Branin's
//   SimulatedSweep sweep = Simulate(*strategy, Branin);
//   double regret = sweep.Best() - kBraninMinimum;
//
// Header-only; pure functions.
#pragma once

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <numbers>
#include <string>
#include <tuple>
#include <vector>

#include "coordinator/search/search_strategy.h"

namespace orchard::testing {

using coordinator::Hyperparameter;
using Objective = std::function<double(const std::vector<Hyperparameter>&)>;

inline double NumberAt(const std::vector<Hyperparameter>& point, size_t i) { return std::stod(point[i].value); }

// Branin over x1 in [-5, 10] and x2 in [0, 15] (the first two hyperparameters); minimum 0.397887,
// at three points.
constexpr double kBraninMinimum = 0.397887;
inline double Branin(const std::vector<Hyperparameter>& point) {
  const double x1 = NumberAt(point, 0), x2 = NumberAt(point, 1);
  const double pi = std::numbers::pi;
  const double b = 5.1 / (4 * pi * pi), c = 5 / pi, t = 1 / (8 * pi);
  return std::pow(x2 - b * x1 * x1 + c * x1 - 6, 2) + 10 * (1 - t) * std::cos(x1) + 10;
}

// Hartmann-6 over [0, 1]^6 (the first six hyperparameters); minimum -3.32237.
constexpr double kHartmann6Minimum = -3.32237;
inline double Hartmann6(const std::vector<Hyperparameter>& point) {
  static constexpr double kAlpha[4] = {1.0, 1.2, 3.0, 3.2};
  static constexpr double kA[4][6] = {
      {10, 3, 17, 3.5, 1.7, 8}, {0.05, 10, 17, 0.1, 8, 14}, {3, 3.5, 1.7, 10, 17, 8}, {17, 8, 0.05, 10, 0.1, 14}};
  static constexpr double kP[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                      {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                      {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                      {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
  double sum = 0;
  for (int i = 0; i < 4; ++i) {
    double inner = 0;
    for (int j = 0; j < 6; ++j) inner += kA[i][j] * std::pow(NumberAt(point, j) - kP[i][j], 2);
    sum += kAlpha[i] * std::exp(-inner);
  }
  return -sum;
}

// Rosenbrock over [-5, 10]^10 (the first ten hyperparameters): a long curved valley that couples
// each coordinate with the next; minimum 0 at (1, ..., 1).
constexpr double kRosenbrock10Minimum = 0;
inline double Rosenbrock10(const std::vector<Hyperparameter>& point) {
  double sum = 0;
  for (size_t j = 0; j + 1 < 10; ++j) {
    const double x = NumberAt(point, j), next = NumberAt(point, j + 1);
    sum += 100 * std::pow(next - x * x, 2) + std::pow(1 - x, 2);
  }
  return sum;
}

// What a simulated sweep did.
struct SimulatedSweep {
  std::vector<coordinator::CreateTrial> created;  // in creation order
  std::map<int64_t, double> values;               // trial -> its objective
  int64_t most_in_flight = 0;                     // trials created and not yet exited, at most
  bool finished = false;

  double Best() const {
    double best = std::numeric_limits<double>::infinity();
    for (const auto& [trial, value] : values) best = std::min(best, value);
    return best;
  }
};

// Runs a whole sweep: trials are evaluated in the order they were created, each reporting
// objective(hyperparameters) once, at step 1, and then completing; the trials the strategy creates
// meanwhile join the queue. Lower is better for Best(); use a sweep with mode min.
inline SimulatedSweep Simulate(coordinator::SearchStrategy& strategy, const Objective& objective) {
  using namespace coordinator;
  SimulatedSweep sweep;
  std::deque<CreateTrial> queue;
  const auto apply = [&](const std::vector<SearchAction>& actions) {
    for (const SearchAction& action : actions) {
      if (const auto* create = std::get_if<CreateTrial>(&action)) {
        sweep.created.push_back(*create);
        queue.push_back(*create);
      }
      sweep.finished = sweep.finished || std::holds_alternative<FinishSweep>(action);
    }
    sweep.most_in_flight = std::max<int64_t>(sweep.most_in_flight, static_cast<int64_t>(queue.size()));
  };
  apply(strategy.Handle(SweepStarted{}));
  while (!queue.empty()) {
    const CreateTrial trial = queue.front();
    queue.pop_front();
    const double value = objective(trial.hyperparameters);
    sweep.values[trial.trial] = value;
    apply(strategy.Handle(ValidationReported{trial.trial, 1, value}));
    apply(strategy.Handle(TrialExited{trial.trial, TrialExited::Kind::kCompleted}));
  }
  return sweep;
}

// Sweeps of `strategy` over the spaces the functions are defined on: `evaluations` trials.
inline SweepSpec UniformSweep(const std::string& strategy, int64_t seed, int64_t evaluations,
                              const std::vector<std::tuple<std::string, double, double>>& ranges) {
  SweepSpec spec;
  spec.strategy = strategy;
  spec.seed = seed;
  spec.max_trials = evaluations;
  for (const auto& [path, min, max] : ranges) spec.parameters.push_back({path, ParameterSpace::Kind::kUniform, min, max, {}, {}});
  return spec;
}

// `count` parameters x0, x1, ... each over [min, max].
inline std::vector<std::tuple<std::string, double, double>> Box(int count, double min, double max) {
  std::vector<std::tuple<std::string, double, double>> ranges;
  for (int j = 0; j < count; ++j) ranges.emplace_back("x" + std::to_string(j), min, max);
  return ranges;
}

inline SweepSpec BraninSweep(const std::string& strategy, int64_t seed, int64_t evaluations) {
  return UniformSweep(strategy, seed, evaluations, {{"x1", -5.0, 10.0}, {"x2", 0.0, 15.0}});
}

inline SweepSpec Hartmann6Sweep(const std::string& strategy, int64_t seed, int64_t evaluations) {
  return UniformSweep(strategy, seed, evaluations, Box(6, 0.0, 1.0));
}

inline SweepSpec Rosenbrock10Sweep(const std::string& strategy, int64_t seed, int64_t evaluations) {
  return UniformSweep(strategy, seed, evaluations, Box(10, -5.0, 10.0));
}

inline double Median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  const size_t n = xs.size();
  return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

}  // namespace orchard::testing
