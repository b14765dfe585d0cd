// Early stopping: a sampler's trials (random or TPE search) stopped at their validation reports when they
// fall behind, by one of two rules. Pure and deterministic, like every strategy (search_strategy.h).
//
//   ASHA (asynchronous successive halving): rungs at min_steps * eta^k steps. The first report of a
//   trial at or past a rung records its value there; it goes on only if it is in the top 1/eta of
//   the values recorded at that rung so far (at least the best one always goes on). Nobody waits
//   for stragglers: a decision uses what has been recorded when the report arrives.
//   Median stopping: from min_steps on, a trial whose best value so far is worse than the median of
//   the other trials' best values at the same step stops, once min_trials others have reported there.
#pragma once

#include <map>
#include <memory>
#include <set>

#include "coordinator/search/search_strategy.h"

namespace orchard::coordinator {

// What a rule makes of one report.
struct Verdict {
  enum class Kind { kNothingNew, kContinue, kStop };
  Kind kind = Kind::kNothingNew;
  int64_t rung = -1;  // kContinue: the highest rung just passed; kStop: the rung it failed at (-1: none)
};

// A rule over validation values normalised so that lower is better.
class StoppingRule {
 public:
  virtual ~StoppingRule() = default;
  // Records `trial`'s value at `step` and judges it.
  virtual Verdict Report(int64_t trial, int64_t step, double loss) = 0;
  // The lowest step above `reported_step` at or past which a report is judged.
  virtual int64_t NextDecisionStep(int64_t reported_step) const = 0;
  virtual nlohmann::json Snapshot() const = 0;
  virtual Status Restore(const nlohmann::json& snapshot) = 0;
};

class AshaRule final : public StoppingRule {
 public:
  AshaRule(int64_t min_steps, double reduction_factor) : min_steps_(min_steps), eta_(reduction_factor) {}
  Verdict Report(int64_t trial, int64_t step, double loss) override;
  int64_t NextDecisionStep(int64_t reported_step) const override;
  nlohmann::json Snapshot() const override;
  Status Restore(const nlohmann::json& snapshot) override;
  // Step of rung k.
  int64_t Milestone(size_t rung) const;

 private:
  int64_t min_steps_;
  double eta_;
  std::vector<std::map<int64_t, double>> rungs_;  // rung -> trial -> value recorded there
};

class MedianRule final : public StoppingRule {
 public:
  MedianRule(int64_t min_steps, int64_t min_trials) : min_steps_(min_steps), min_trials_(min_trials) {}
  Verdict Report(int64_t trial, int64_t step, double loss) override;
  // Every report from min_steps on is judged.
  int64_t NextDecisionStep(int64_t reported_step) const override;
  nlohmann::json Snapshot() const override;
  Status Restore(const nlohmann::json& snapshot) override;

 private:
  int64_t min_steps_;
  int64_t min_trials_;
  std::map<int64_t, std::map<int64_t, double>> best_;  // trial -> step -> best value up to that step
};

class EarlyStoppingSearch final : public SearchStrategy {
 public:
  // `mode`: "min" or "max", the sweep's; values are negated for max so the rule sees lower = better.
  // `sampler` decides which trials run and hears every event, including the reports.
  EarlyStoppingSearch(std::string name, std::unique_ptr<SearchStrategy> sampler, std::unique_ptr<StoppingRule> rule,
                      std::string mode);
  std::vector<SearchAction> Handle(const SearchEvent& event) override;
  nlohmann::json Snapshot() const override;
  int64_t PlannedTrials() const override { return sampler_->PlannedTrials(); }
  Status Restore(const nlohmann::json& snapshot) override;
  int64_t NextDecisionStep(int64_t trial, int64_t reported_step) const override;

 private:
  std::string name_;
  std::unique_ptr<SearchStrategy> sampler_;
  std::unique_ptr<StoppingRule> rule_;
  bool maximize_;
  std::set<int64_t> stopped_;
};

}  // namespace orchard::coordinator
