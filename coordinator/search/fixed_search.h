// Grid and random search: every trial is decided up front, none is stopped early, and the sweep
// finishes when the last trial exits. Parallelism is the scheduler's business (max_concurrent).
#pragma once

#include <functional>

#include "coordinator/search/search_strategy.h"

namespace orchard::coordinator {

class FixedSearch final : public SearchStrategy {
 public:
  // `point(i)` gives trial i's hyperparameters; `trials` of them are run.
  FixedSearch(std::string name, int64_t trials, std::function<std::vector<Hyperparameter>(int64_t)> point);

  std::vector<SearchAction> Handle(const SearchEvent& event) override;
  nlohmann::json Snapshot() const override;
  int64_t PlannedTrials() const override { return trials_; }
  Status Restore(const nlohmann::json& snapshot) override;

 private:
  std::string name_;
  int64_t trials_;
  std::function<std::vector<Hyperparameter>(int64_t)> point_;
  bool started_ = false;
  std::vector<bool> exited_;
  int64_t exited_count_ = 0;
};

}  // namespace orchard::coordinator
