#include "coordinator/search/search_strategy.h"

#include <algorithm>
#include <memory>

#include "coordinator/search/early_stopping.h"
#include "coordinator/search/fixed_search.h"
#include "coordinator/search/hyperband.h"
#include "coordinator/search/population_based.h"
#include "coordinator/search/tpe_search.h"
#include "coordinator/search/trial_sampler.h"

namespace orchard::coordinator {
namespace {

std::unique_ptr<SearchStrategy> RandomSearch(const SweepSpec& sweep) {
  return std::make_unique<FixedSearch>(
      "random", sweep.max_trials,
      [parameters = sweep.parameters, seed = sweep.seed](int64_t i) { return RandomPoint(parameters, seed, i); });
}

std::unique_ptr<SearchStrategy> QuasiRandomSearch(const SweepSpec& sweep) {
  return std::make_unique<FixedSearch>(
      "quasi_random", sweep.max_trials,
      [parameters = sweep.parameters, seed = sweep.seed](int64_t i) { return QuasiRandomPoint(parameters, seed, i); });
}

StatusOr<std::unique_ptr<SearchStrategy>> Fresh(const SweepSpec& sweep) {
  if (sweep.strategy == "grid") {
    const int64_t grid = GridSize(sweep.parameters);
    if (grid == 0)
      return InvalidArgument("grid search needs {values: [...]} or a constant for every parameter");
    const int64_t trials = sweep.max_trials > 0 ? std::min(sweep.max_trials, grid) : grid;
    const bool conditional = std::any_of(sweep.parameters.begin(), sweep.parameters.end(),
                                         [](const ParameterSpace& p) { return !p.when.empty(); });
    if (!conditional) {
      return std::unique_ptr<SearchStrategy>(std::make_unique<FixedSearch>(
          "grid", trials, [parameters = sweep.parameters](int64_t i) { return GridPoint(parameters, i); }));
    }
    // Conditions make a point's index unreachable by arithmetic: the points are listed once.
    auto points = std::make_shared<const std::vector<std::vector<Hyperparameter>>>(GridPoints(sweep.parameters, trials));
    return std::unique_ptr<SearchStrategy>(
        std::make_unique<FixedSearch>("grid", trials, [points](int64_t i) { return points->at(static_cast<size_t>(i)); }));
  }
  if (sweep.strategy == "random") return RandomSearch(sweep);
  if (sweep.strategy == "quasi_random") return QuasiRandomSearch(sweep);
  if (sweep.strategy == "tpe") return std::unique_ptr<SearchStrategy>(std::make_unique<TpeSearch>(sweep));
  if (sweep.strategy == "asha" || sweep.strategy == "median") {
    std::unique_ptr<SearchStrategy> sampler;
    if (sweep.sampler == "random") sampler = RandomSearch(sweep);
    else if (sweep.sampler == "quasi_random") sampler = QuasiRandomSearch(sweep);
    else if (sweep.sampler == "tpe") sampler = std::make_unique<TpeSearch>(sweep);
    else return InvalidArgument("unknown sampler '" + sweep.sampler + "'; expected random, quasi_random or tpe");
    std::unique_ptr<StoppingRule> rule;
    if (sweep.strategy == "asha") rule = std::make_unique<AshaRule>(sweep.min_steps, sweep.reduction_factor);
    else rule = std::make_unique<MedianRule>(sweep.min_steps, sweep.min_trials);
    return std::unique_ptr<SearchStrategy>(
        std::make_unique<EarlyStoppingSearch>(sweep.strategy, std::move(sampler), std::move(rule), sweep.mode));
  }
  if (sweep.strategy == "hyperband") return std::unique_ptr<SearchStrategy>(std::make_unique<HyperbandSearch>(sweep));
  if (sweep.strategy == "pbt") return std::unique_ptr<SearchStrategy>(std::make_unique<PopulationBasedSearch>(sweep));
  return InvalidArgument("unknown search strategy '" + sweep.strategy +
                         "'; expected grid, random, quasi_random, asha, median, hyperband, tpe or pbt");
}

}  // namespace

int64_t SearchStrategy::NextDecisionStep(int64_t, int64_t) const { return kNoDecision; }

StatusOr<std::unique_ptr<SearchStrategy>> MakeSearchStrategy(const SweepSpec& sweep,
                                                             const nlohmann::json* snapshot) {
  ASSIGN_OR_RETURN(std::unique_ptr<SearchStrategy> strategy, Fresh(sweep));
  if (snapshot) RETURN_IF_ERROR(strategy->Restore(*snapshot));
  return strategy;
}

}  // namespace orchard::coordinator
