// Hyperparameter importance for the dashboard: how much of the spread of a sweep's results each
// parameter explains on its own.
//
//   std::vector<ImportanceSample> samples;  // one per finished trial: its values and its metric
//   ImportanceReport report = HyperparameterImportance(sweep.parameters, samples, sweep.seed);
//   for (const ParameterImportance& p : report.parameters) Show(p.path, p.importance);
//
// Method: fANOVA (Hutter, Hoos and Leyton-Brown, 2014), as Optuna's FanovaImportanceEvaluator. A
// seeded random forest of regression trees is fit to the samples; for each tree the variance of
// its prediction over the search space (each parameter uniform over its range) is split exactly
// into the variance of each parameter's main effect (the prediction averaged over all the other
// parameters, as a function of that one) and the rest (interactions). A parameter's importance is
// its main effect's share of the tree's variance, averaged over the trees.
//
// The space each parameter ranges over, and what a sample's value becomes:
//  - uniform: [min, max], the value as a number;
//  - log_uniform: [log10 min, log10 max], log10 of the value (a split halves the orders of magnitude);
//  - int_uniform: [ceil(min) - 0.5, floor(max) + 0.5], the value, so every integer has the same weight;
//  - values: [-0.5, n - 0.5], the index of the value's text in `values` (n = the number of values);
//    a text not among them counts as one more value of its own, after the listed ones.
// Constant parameters, lists of a single value, ranges with max <= min and integer ranges holding a
// single integer vary nothing and are left out. Numbers outside the range count as its nearest bound.
// A sample missing a varying parameter, with a number that does not parse (or a log_uniform
// value <= 0), or with a non-finite objective, is left out.
//
// Pure and deterministic: the same space, samples (in the same order) and seed give the same report.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/search_space.h"

namespace orchard::coordinator {

// One finished trial.
struct ImportanceSample {
  std::map<std::string, std::string> hyperparameters;  // path -> value as YAML flow text ("0.01", "adam")
  double objective = 0;                                 // the sweep's metric; its direction does not matter
};

struct ParameterImportance {
  std::string path;
  double importance = 0;  // share of the objective's variance this parameter explains alone, in [0, 1]
};

struct ImportanceReport {
  std::string method;   // one sentence naming the method, or saying why there is no estimate
  int64_t samples = 0;  // samples used
  // Most important first (ties by path); every varying parameter once; the shares sum to <= 1, the
  // remainder being the interactions'. Empty when there are fewer than kMinImportanceSamples usable
  // samples or no varying parameter; `method` then says which.
  std::vector<ParameterImportance> parameters;
};

inline constexpr int64_t kMinImportanceSamples = 4;

// The importance of each parameter of `space` for the objective of `samples`. Never fails: a result
// it cannot estimate is an empty list with the reason in `method`. Parameters in a sample that are
// not in `space` are ignored. `seed` seeds the forest (bootstrap draws and feature subsets).
ImportanceReport HyperparameterImportance(const std::vector<ParameterSpace>& space,
                                          const std::vector<ImportanceSample>& samples, uint64_t seed = 0);

}  // namespace orchard::coordinator
