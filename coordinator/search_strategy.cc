#include "coordinator/search_strategy.h"

#include <algorithm>

#include "coordinator/early_stopping.h"
#include "coordinator/fixed_search.h"
#include "coordinator/trial_sampler.h"

namespace orchard::coordinator {

StatusOr<std::unique_ptr<SearchStrategy>> MakeSearchStrategy(const SweepSpec& sweep,
                                                             const nlohmann::json* snapshot) {
  std::unique_ptr<FixedSearch> strategy;
  if (sweep.strategy == "grid") {
    const int64_t grid = GridSize(sweep.parameters);
    if (grid == 0)
      return InvalidArgument("grid search needs {values: [...]} or a constant for every parameter");
    const int64_t trials = sweep.max_trials > 0 ? std::min(sweep.max_trials, grid) : grid;
    strategy = std::make_unique<FixedSearch>("grid", trials, [parameters = sweep.parameters](int64_t i) {
      return GridPoint(parameters, i);
    });
  } else if (sweep.strategy == "random") {
    strategy = std::make_unique<FixedSearch>(
        "random", sweep.max_trials,
        [parameters = sweep.parameters, seed = sweep.seed](int64_t i) { return RandomPoint(parameters, seed, i); });
  } else if (sweep.strategy == "asha" || sweep.strategy == "median") {
    auto sampler = std::make_unique<FixedSearch>(
        "random", sweep.max_trials,
        [parameters = sweep.parameters, seed = sweep.seed](int64_t i) { return RandomPoint(parameters, seed, i); });
    std::unique_ptr<StoppingRule> rule;
    if (sweep.strategy == "asha") rule = std::make_unique<AshaRule>(sweep.min_steps, sweep.reduction_factor);
    else rule = std::make_unique<MedianRule>(sweep.min_steps, sweep.min_trials);
    auto search = std::make_unique<EarlyStoppingSearch>(sweep.strategy, std::move(sampler), std::move(rule), sweep.mode);
    if (snapshot) RETURN_IF_ERROR(search->Restore(*snapshot));
    return std::unique_ptr<SearchStrategy>(std::move(search));
  } else {
    return InvalidArgument("unknown search strategy '" + sweep.strategy + "'; expected grid, random, asha or median");
  }
  if (snapshot) RETURN_IF_ERROR(strategy->Restore(*snapshot));
  return std::unique_ptr<SearchStrategy>(std::move(strategy));
}

}  // namespace orchard::coordinator
