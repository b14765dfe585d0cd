// Hyperband (Li et al., 2018): brackets of successive halving, each starting its trials with a
// different budget, so that neither "many configurations, short runs" nor "few, long runs" is bet on
// alone. Pure and deterministic, like every strategy (search_strategy.h).
//
// The brackets are HyperbandBrackets (core/search_space.h), each trial drawn at random. One pass over
// them by default; with sweep.max_trials or sweep.step_budget the pass repeats, with new trials, while
// the next bracket fits in max_trials and its planned steps (PlannedSteps) in what is left of the
// step budget (the paper's "repeat until the budget is spent"). Within a bracket the halving is
// synchronous: a trial that reports at or past its rung's step is paused (it checkpoints and leaves
// its slot); once every live trial of the bracket has reported there, the best floor(n / eta) (at
// least one) resume from their checkpoints toward the next rung and the others stop. The last rung
// is max_steps, run to the end. Brackets proceed independently and at once; the scheduler's
// max_concurrent bounds how many trials run.
#pragma once

#include <map>
#include <set>
#include <vector>

#include "coordinator/search/search_strategy.h"

namespace orchard::coordinator {

class HyperbandSearch final : public SearchStrategy {
 public:
  using Bracket = HyperbandBracket;

  // The sweep's layout must fit kMaxHyperbandTrials (the recipe validator refuses more).
  explicit HyperbandSearch(const SweepSpec& sweep);

  // The brackets of `sweep`: HyperbandBrackets once, or repeated up to sweep.max_trials and
  // sweep.step_budget (each where above 0).
  static std::vector<Bracket> Layout(const SweepSpec& sweep);

  std::vector<SearchAction> Handle(const SearchEvent& event) override;
  nlohmann::json Snapshot() const override;
  Status Restore(const nlohmann::json& snapshot) override;
  int64_t PlannedTrials() const override;
  int64_t NextDecisionStep(int64_t trial, int64_t reported_step) const override;

  const std::vector<Bracket>& brackets() const { return brackets_; }

 private:
  // kStopping: stopped by the halving, its TrialExited (kStopped) not yet heard. kDone: ended for good.
  enum class Phase { kRunning, kPausing, kPaused, kStopping, kDone };
  struct Member {
    size_t bracket = 0;
    Phase phase = Phase::kRunning;
    bool resume_when_paused = false;  // promoted while its pause was on the way
  };
  struct Progress {
    size_t rung = 0;                  // the rung its live trials are heading for
    std::map<int64_t, double> values; // trial -> value recorded at that rung (lower is better)
  };

  // The rung is complete when every live trial of the bracket has a value there: promote or stop.
  std::vector<SearchAction> MaybeHalve(size_t bracket);
  std::vector<SearchAction> Exited(int64_t trial, TrialExited::Kind kind);
  bool AllDone() const;

  std::vector<ParameterSpace> parameters_;
  int64_t seed_;
  double eta_;
  bool maximize_;
  std::vector<Bracket> brackets_;
  bool started_ = false;
  std::vector<Member> members_;
  std::vector<Progress> progress_;  // per bracket
};

}  // namespace orchard::coordinator
