// The `sweep:` block of a recipe: the search space and how to search it.
//
//   sweep:
//     strategy: random          # grid | random | asha | median | hyperband | tpe | pbt
//     metric: val_loss
//     mode: min
//     max_trials: 16
//     parameters:
//       optimizer.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
//       model.hidden: {values: [[64], [128, 128]]}
//
// Parameter names are dotted recipe fields, the same keys `orchard-train --set` takes. Plain values.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace orchard {

// A condition of a parameter that exists only for some values of another (`when:` in the recipe).
struct ParameterCondition {
  std::string path;                 // an earlier parameter of the sweep, a list of values or a constant
  std::vector<std::string> values;  // those of its values (YAML flow text) under which the parameter applies
};

struct ParameterSpace {
  enum class Kind { kConstant, kValues, kUniform, kLogUniform, kIntUniform };
  std::string path;  // e.g. "optimizer.lr"
  Kind kind = Kind::kConstant;
  double min = 0;
  double max = 0;
  // kConstant: one; kValues: each candidate. YAML flow text, applied as "path=value" overrides.
  std::vector<std::string> values;
  // Every one must hold for the parameter to apply; a trial where one fails has the field removed
  // from its recipe. Empty: it always applies.
  std::vector<ParameterCondition> when;
};

// Whether `p` applies given the values the earlier parameters took: `value_of(path)` is the value a
// trial has for that parameter, or null when it has none (the parameter did not apply).
bool Applies(const ParameterSpace& p, const std::function<const std::string*(const std::string&)>& value_of);

// The "path=" overrides (remove the field) for the conditional parameters a trial has no value for
// because their conditions fail; `value_of` gives the trial's values. Appended to the sweep's
// overrides and the trial's values, they make the trial's recipe.
std::vector<std::string> RemovedConditionalFields(const std::vector<ParameterSpace>& parameters,
                                                  const std::function<const std::string*(const std::string&)>& value_of);

// Ways to make `p` apply, for checking its values: each a list of "path", "value" overrides that sets
// the parameters it depends on, ancestors first. Each value a condition allows appears in one of
// them (the other conditions at their first value); ancestors further up take their first value.
// One empty list when `p` always applies.
std::vector<std::vector<std::pair<std::string, std::string>>> EnablingAssignments(
    const ParameterSpace& p, const std::vector<ParameterSpace>& parameters);

// The fields of a trial in which parameters[index] takes `value`, with `enabling` (one of its
// EnablingAssignments) set: those, the value, and for every other conditional parameter in order its
// first value where its conditions hold or removal (an empty value) where they fail. Paths with YAML
// flow text, applied in order: what checking a candidate value needs to see the trial a sweep makes.
std::vector<std::pair<std::string, std::string>> CandidateTrialFields(
    const std::vector<ParameterSpace>& parameters, size_t index, const std::string& value,
    const std::vector<std::pair<std::string, std::string>>& enabling);

// Calls `visit` with each point of the grid over `parameters` in order (the first parameter varying
// slowest): for each parameter its value, or null where it does not apply; stops when `visit`
// returns false. A parameter that does not apply adds no points, so only valid combinations are
// visited. Every parameter must be a list of values or a constant.
void ForEachGridPoint(const std::vector<ParameterSpace>& parameters,
                      const std::function<bool(const std::vector<const std::string*>&)>& visit);

struct SweepSpec {
  std::string strategy = "random";  // grid | random | asha | median | hyperband | tpe | pbt
  std::string metric = "val_loss";
  std::string mode = "min";         // min | max
  int64_t max_trials = 0;           // 0 with grid: the whole grid
  int64_t max_concurrent = 0;       // 0: as many as there are free slots
  int64_t ranks = 1;                // slots per trial
  // A single-rank trial may take a share of one GPU instead of a whole one: GiB of its memory, or a
  // fraction of it (at most one of the two; 0: a whole GPU). Trials share a GPU while their shares
  // fit in its memory (coordinator/placement/scheduler.h). On CPU slots a share is one slot.
  double gpu_memory_gib = 0;
  double gpu_fraction = 0;
  // The most fresh trials one slot trains together as one fused model (docs/fusion.md); 1 (the
  // recipe's fuse: off): none; kFuseAuto: as many as spread the sweep's waiting trials evenly over
  // the free slots, at most as many as the slot's memory and arithmetic suit (AutoFuseLimit).
  int64_t fuse = 1;
  int64_t seed = 0;
  int64_t max_restarts = 3;         // times a trial is queued again after a crash or a lost worker
  // A trial whose gang no live worker can hold (more ranks than the largest worker's slots) fails
  // after waiting this long; 0: it waits for a large enough worker for good.
  int64_t unplaceable_timeout_seconds = 300;
  // At an evaluation the strategy judges (a rung, a PBT interval) the trainer waits this long for
  // the decision before it trains on (and says so); 0: it never waits.
  int64_t decision_timeout_seconds = 30;
  // How asha and median draw each new trial's hyperparameters: random | tpe. tpe's own sampler is
  // tpe; every other strategy's is random.
  std::string sampler = "random";
  // Early stopping (asha, median, hyperband: early_stopping.h, hyperband.h), from min_steps on.
  int64_t min_steps = 1;
  double reduction_factor = 3;      // asha, hyperband: rungs at min_steps * eta^k; the top 1/eta go on
  int64_t min_trials = 3;           // median: others that must have reported at a step first
  int64_t max_steps = 0;            // the steps of a whole trial (hyperband: its largest budget); 0: unknown
  int64_t step_budget = 0;          // hyperband: repeat the brackets while their planned steps fit; 0: not set
  // TPE (tpe_search.h): random draws first, then the best of `tpe_candidates` proposals each time.
  int64_t tpe_startup_trials = 10;
  int64_t tpe_candidates = 24;
  // One joint model of all parameters (else one per parameter), and trials in flight counted among
  // the worst while proposing (the constant liar).
  bool tpe_multivariate = true;
  bool tpe_constant_liar = true;
  // PBT (population_based.h): every pbt_interval steps a member in the bottom pbt_quantile copies a
  // member of the top quantile and perturbs its hyperparameters (or redraws one with probability
  // pbt_resample_probability). The population is max_trials members.
  int64_t pbt_interval = 0;
  double pbt_quantile = 0.25;
  double pbt_resample_probability = 0.25;
  std::vector<ParameterSpace> parameters;
};

// Number of points of a grid over `parameters` (only valid combinations: see ForEachGridPoint); 0
// when some parameter is not a list of values. Saturates at INT64_MAX instead of overflowing; with
// conditions it counts by visiting the points and gives INT64_MAX past kMaxCountedGrid.
inline constexpr int64_t kMaxCountedGrid = 1000000;
int64_t GridSize(const std::vector<ParameterSpace>& parameters);

// Hyperband's layout (Li et al., 2018): with R = max_steps / min_steps and s_max = floor(log_eta R),
// bracket s (s_max down to 0) has ceil((s_max + 1) / (s + 1) * eta^s) trials and rungs at
// max_steps * eta^(i - s) steps, i = 0..s. Brackets past `max_trials` trials in all are left out,
// so a validator can refuse a layout too large to run without building it.
struct HyperbandBracket {
  int64_t first_trial = 0;          // its trials are numbered first_trial .. first_trial + trials - 1
  int64_t trials = 0;
  std::vector<int64_t> milestones;  // the step of each rung; the last is max_steps
};
std::vector<HyperbandBracket> HyperbandBrackets(int64_t min_steps, int64_t max_steps, double eta, int64_t max_trials);
// The steps a bracket is planned to train: every trial to the first rung, then the best
// floor(n / eta) (at least one) of each rung on from their checkpoints to the next. Nominal: a trial
// is judged at its first evaluation at or past a rung, so with rungs between evaluations it trains up
// to one eval_interval further; trials that fail or are stopped train less.
int64_t PlannedSteps(const HyperbandBracket& bracket, double eta);
// The most trials a hyperband sweep may have, as for max_trials.
inline constexpr int64_t kMaxHyperbandTrials = 1000000;
// sweep.fuse: auto, the members of one group it makes at most, and the most a recipe may ask for.
inline constexpr int64_t kFuseAuto = 0;
inline constexpr int64_t kMaxAutoFuseMembers = 16;
inline constexpr int64_t kMaxFuseMembers = 256;

// Shortest text that reads back as exactly `value`, and as a YAML float ("1.0", not "1"): how a
// draw from a uniform or log-uniform distribution is written into a trial's override.
std::string FormatDouble(double value);

}  // namespace orchard
