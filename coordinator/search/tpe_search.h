// TPE search: a tree-structured Parzen estimator (Bergstra et al., 2011) proposes each new trial's
// hyperparameters from the results of the trials that have exited. By default all parameters are
// modelled jointly and trials still running count among the worst (the constant liar), as Optuna 5's
// TPESampler() does; `tpe: {multivariate: false}` models each parameter on its own and
// `tpe: {constant_liar: false}` ignores running trials (bench/search_strategies.cc compares the
// joint and the per-parameter models with Optuna's).
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
//    out, whatever its kind.
//  - Ranking, as Optuna ranks pruned trials: completed trials first, by value; then every other
//    exit (stopped by ASHA or median, failed or canceled after reporting), by later step first, then
//    value. The best n_below = min(ceil(n / 10), 25) of n observations form l(x), the rest g(x).
//    With the constant liar, every trial still running (created, not exited) joins g(x) too, so a
//    proposal made while others run keeps away from where they are.
//  - A Parzen estimator over the modelled parameters (all of them together, or one at a time) is a
//    weighted mixture with one component per trial and a prior. A component is a product of one
//    kernel per parameter:
//      numbers, in the space they are drawn in (log_uniform in log space, int_uniform over
//      [min - 0.5, max + 0.5]): a Gaussian truncated to the range, centred at the trial's value,
//      sigma the larger gap to its sorted neighbours among the group's values (of several, the
//      outermost take their inner gap; a lone one, the gaps to the bounds), clipped to
//      [width / min(100, components + 1), width]; integers are scored by the mass of [v - 0.5, v + 0.5];
//      lists of values: 1 / components on every value plus 1 on the trial's own, normalised.
//    The prior's kernels are the range's centre with the range's width as sigma, and a uniform list.
//    Weights: the prior 1; trials in number order 1 for the newest 25, and a ramp from 1/n up to 1
//    over the older ones (Optuna's default weights).
//  - tpe_candidates candidates are drawn from l(x) (a component by weight, then each parameter from
//    it) and the one with the largest log l(x) - log g(x) is taken (the first such on ties).
//    Constants and single-point ranges are not modelled: they keep their one value.
//  - Conditional spaces (`when:`): parameters with the same conditions form a subspace, modelled
//    (jointly, or one at a time) on the observations in which it applied; the unconditional subspace
//    is chosen first, then each other whose conditions the values chosen so far meet, in the order
//    of its first parameter. A subspace with no such observation yet is drawn at random.
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
  // Reads parameters, seed, mode, max_trials, max_concurrent and the tpe_ fields.
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
    // logarithm), the position in the list for values, 0 for a constant; NaN where the parameter's
    // conditions did not hold.
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
  bool multivariate_;
  bool constant_liar_;
  bool started_ = false;
  std::vector<Trial> trials_;  // every created trial, by number
  int64_t exited_count_ = 0;
};

}  // namespace orchard::coordinator
