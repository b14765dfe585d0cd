// TPE search: a tree-structured Parzen estimator (Bergstra et al., 2011) proposes each new trial's
// hyperparameters from the results of the trials that have exited. Univariate: each parameter is
// modelled and chosen on its own, like Optuna's TPESampler(multivariate=False) (Optuna 5 defaults to
// a joint model of all parameters; bench/search_strategies.cc compares with both).
//
//   SweepSpec sweep = recipe.sweep;  // strategy: tpe, tpe: {startup_trials: 10, candidates: 24}
//   TpeSearch tpe(sweep);
//   for (const SearchAction& action : tpe.Handle(SweepStarted{})) Apply(action);  // the first trials
//   tpe.Handle(ValidationReported{/*trial=*/0, /*step=*/100, /*value=*/0.91});
//   for (const SearchAction& action : tpe.Handle(TrialExited{0, TrialExited::Kind::kCompleted}))
//     Apply(action);  // the next trial, proposed with trial 0's result in hand
//
// Trials and their order. TPE learns from results, so it does not create all max_trials trials up
// front as random search does: it keeps InFlight() trials created but not yet exited, creating the
// next one whenever one exits (any kind but kPaused), and finishes the sweep once all max_trials
// have exited. InFlight() is sweep.max_concurrent when that is set, else tpe_startup_trials: the
// strategy does not know how many slots the workers have, and every trial in flight is a trial
// proposed without the results of the others in flight, so a bound keeps the later proposals
// informed while still filling the slots of a small cluster. Set max_concurrent to the slots you
// want busy; 1 makes the search sequential, as Optuna's study.optimize runs by default.
//
// Proposals. Trials 0 .. tpe_startup_trials-1 are RandomPoint draws, the same as random search with
// the same seed. Every later trial comes from TPE over the observations so far (or from RandomPoint
// when there is none yet, e.g. every earlier trial failed before reporting):
//  - An observation is an exited trial with a validation report: its latest value (by step, negated
//    when the sweep's mode is max, so lower is better; NaN or infinite counts as the worst value)
//    and that report's step. A trial that exited without any report carries no value and is left
//    out, whatever its kind. Trials still running are not observations.
//  - Ranking, as Optuna ranks pruned trials: completed trials first, by value; then every other
//    exit (stopped by ASHA or median, failed or canceled after reporting), by later step first, then
//    value. The best n_below = min(ceil(n / 10), 25) of n observations form l(x), the rest g(x).
//  - Numeric parameters are modelled in the space they are drawn in (log_uniform in log space,
//    int_uniform over [min - 0.5, max + 0.5]) by a Parzen estimator: equal-weight Gaussians
//    truncated to the range, one at each observation and one prior at the range's centre with the
//    range's width as sigma. An observation's sigma is the larger gap to its sorted neighbours (of
//    several, the outermost take their inner gap; a lone one, the gaps to the bounds), clipped to [width / min(100, components + 1), width]. Integers are
//    scored by the mass of [v - 0.5, v + 0.5]. A list of values is modelled by each value's count
//    plus one; a constant stays constant.
//  - For each parameter, tpe_candidates candidates are drawn from l(x) and the one with the largest
//    log l(x) - log g(x) is taken (the first such on ties).
// Values are written as RandomPoint writes them and clamped to [min, max].
//
// Randomness comes from a generator per trial number derived from the sweep's seed, so the state
// is only the created trials' values and results: Snapshot() holds those, and a strategy restored
// from it makes exactly the proposals the saved one would have made.
//
// Not thread-safe, like every strategy: the coordinator applies one event at a time.
#pragma once

#include <vector>

#include "coordinator/search/search_strategy.h"
#include "core/search_space.h"

namespace orchard::coordinator {

class TpeSearch final : public SearchStrategy {
 public:
  // Reads parameters, seed, mode, max_trials, max_concurrent, tpe_startup_trials and tpe_candidates.
  explicit TpeSearch(const SweepSpec& sweep);

  std::vector<SearchAction> Handle(const SearchEvent& event) override;
  nlohmann::json Snapshot() const override;
  Status Restore(const nlohmann::json& snapshot) override;
  int64_t PlannedTrials() const override { return max_trials_; }

  // Trials kept created but not yet exited (see above).
  int64_t InFlight() const { return in_flight_; }

 private:
  struct Trial {
    // Per parameter, the value written as a number: the value itself for a distribution (not its
    // logarithm), the position in the list for values, 0 for a constant.
    std::vector<double> x;
    bool exited = false;
    TrialExited::Kind kind = TrialExited::Kind::kCompleted;
    bool reported = false;
    int64_t step = 0;
    double loss = 0;  // the latest report's value, lower is better
  };

  // Creates trials until InFlight() are out or max_trials exist.
  void CreateTrials(std::vector<SearchAction>& actions);
  // Trial `index`'s hyperparameters from the observations so far.
  std::vector<Hyperparameter> Propose(int64_t index) const;
  // The numbers behind the text of a created trial's values.
  std::vector<double> Numbers(const std::vector<Hyperparameter>& point) const;

  std::vector<ParameterSpace> parameters_;
  int64_t seed_;
  bool maximize_;
  int64_t max_trials_;
  int64_t in_flight_;
  int64_t startup_trials_;
  int64_t candidates_;
  bool started_ = false;
  std::vector<Trial> trials_;  // every created trial, by number
  int64_t exited_count_ = 0;
};

}  // namespace orchard::coordinator
