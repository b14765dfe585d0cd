// Population-based training (Jaderberg et al., 2017): a population of trials trains at once; every
// `interval` steps a member in the bottom quantile takes over the checkpoint of a member of the top
// quantile (exploit) and continues from it with that member's hyperparameters perturbed (explore).
// Pure and deterministic, like every strategy (search_strategy.h).
//
// Members are ranked by their latest validation value among those that have reported (failed ones
// leave the ranking); a member is judged at its first report `interval` steps after its last
// judgement, except at its last step. One in the bottom floor(n * quantile) pauses (it checkpoints and
// exits); once its trainer is gone it is resumed from the latest checkpoint of a member then in the
// top quantile and still training, chosen uniformly (if there is none, from its own), with new
// hyperparameters: each numeric one multiplied by 0.8 or 1.2 (integers moved by
// at least 1), each list value moved to a neighbouring entry, each clamped to its range, and with
// probability resample_probability drawn afresh from its space instead. The coordinator copies the
// checkpoint and records the hop in the member's lineage. The sweep ends when every member has.
#pragma once

#include <random>
#include <vector>

#include "coordinator/search/search_strategy.h"

namespace orchard::coordinator {

class PopulationBasedSearch final : public SearchStrategy {
 public:
  explicit PopulationBasedSearch(const SweepSpec& sweep);

  std::vector<SearchAction> Handle(const SearchEvent& event) override;
  nlohmann::json Snapshot() const override;
  Status Restore(const nlohmann::json& snapshot) override;
  int64_t PlannedTrials() const override { return static_cast<int64_t>(members_.size()); }
  int64_t NextDecisionStep(int64_t trial, int64_t reported_step) const override;

 private:
  enum class Phase { kRunning, kPausing, kDone, kFailed };
  struct Member {
    std::vector<Hyperparameter> hyperparameters;
    Phase phase = Phase::kRunning;
    bool has_value = false;
    double value = 0;        // latest, lower is better
    int64_t step = 0;        // of that value
    int64_t judged_at = 0;   // the next report at or past this step is judged
    // Reports at or below this step are history: a resumed attempt sends its metrics file again.
    int64_t resumed_at = -1;
  };

  // The trials in the top or bottom quantile of the ranking, best first.
  std::vector<int64_t> Ranked() const;
  int64_t QuantileSize(size_t ranked) const;
  std::vector<SearchAction> Judge(int64_t trial);
  // A paused member takes over a top member's checkpoint, with explored hyperparameters.
  std::vector<SearchAction> Exploit(int64_t trial);

  std::vector<ParameterSpace> parameters_;
  int64_t seed_;
  int64_t interval_;
  int64_t max_steps_;  // train.steps; 0 when unknown (training by epochs)
  double quantile_;
  double resample_probability_;
  bool maximize_;
  bool started_ = false;
  int64_t explorations_ = 0;  // each draws from its own stream: no generator state to save
  std::vector<Member> members_;
};

// `from` perturbed as PBT explores (see above), with randomness from `rng`. Pure; for tests too.
std::vector<Hyperparameter> PerturbHyperparameters(const std::vector<ParameterSpace>& parameters,
                                                   const std::vector<Hyperparameter>& from, double resample_probability,
                                                   std::mt19937_64& rng);

}  // namespace orchard::coordinator
