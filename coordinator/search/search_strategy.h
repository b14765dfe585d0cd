// Search strategies: pure state machines that decide which trials a sweep runs and when they stop.
//
//   ASSIGN_OR_RETURN(auto strategy, MakeSearchStrategy(recipe.sweep, /*snapshot=*/nullptr));
//   for (const SearchAction& action : strategy->Handle(SweepStarted{})) Apply(action);
//   store.SaveStrategyState(sweep_id, strategy->Snapshot());
//
// A strategy takes events (the sweep started, a trial reported its validation metric, a trial
// exited or paused) and returns operations from a closed set (create a trial with these
// hyperparameters; let a trial continue past a rung, stop it, pause it, resume it, possibly from
// another trial's checkpoint with new hyperparameters; finish the sweep). It holds no clock, does no I/O and draws randomness only from a
// generator seeded by the sweep's seed, so the same events always give the same operations. The
// coordinator saves Snapshot() after every event; a strategy made from that snapshot continues
// exactly where the saved one was. Trials are named by their number within the sweep (0, 1, ...),
// which the strategy assigns. Not thread-safe: the coordinator applies one event at a time.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/search_space.h"
#include "core/status.h"

namespace orchard::coordinator {

// A dotted recipe field and its value in YAML flow syntax, applied as the override "path=value".
struct Hyperparameter {
  std::string path;
  std::string value;
  bool operator==(const Hyperparameter&) const = default;
};

// Events.
struct SweepStarted {};
struct ValidationReported {
  int64_t trial = 0;
  int64_t step = 0;
  double value = 0;  // of the sweep's metric
};
// A paused trial's trainer has exited after its checkpoint (kPaused); the trial waits for a
// ResumeTrial or a StopTrial. Every other kind is final. Every trial that ends is heard of once:
// also one the strategy stopped while it was pending or paused (the coordinator ends it at once
// and reports kStopped).
struct TrialExited {
  enum class Kind { kCompleted, kFailed, kStopped, kCanceled, kPaused };
  int64_t trial = 0;
  Kind kind = Kind::kCompleted;
};
using SearchEvent = std::variant<SweepStarted, ValidationReported, TrialExited>;

// Operations.
struct CreateTrial {
  int64_t trial = 0;
  std::vector<Hyperparameter> hyperparameters;
};
// `rung`: the rung the decision was taken at, for `orchard trials`; -1 when the strategy has none.
// The trial passed a rung and goes on (a record; the trial is not disturbed).
struct ContinueTrial {
  int64_t trial = 0;
  int64_t rung = -1;
};
// The trial is over: its trainer checkpoints and exits, or it never starts, or (paused) stays put.
struct StopTrial {
  int64_t trial = 0;
  int64_t rung = -1;
};
// The trainer checkpoints and exits; the trial holds no slot until a ResumeTrial.
struct PauseTrial {
  int64_t trial = 0;
  int64_t rung = -1;
};
// Queues a paused trial again, to continue from its latest checkpoint. With `clone_from` (a trial
// number, not -1) its checkpoints are first replaced by that trial's latest one (PBT's exploit) and
// the hop is recorded in its lineage; non-empty `hyperparameters` replace its own (PBT's explore).
struct ResumeTrial {
  int64_t trial = 0;
  int64_t clone_from = -1;
  std::vector<Hyperparameter> hyperparameters;
};
struct FinishSweep {};
using SearchAction = std::variant<CreateTrial, ContinueTrial, StopTrial, PauseTrial, ResumeTrial, FinishSweep>;

// SearchStrategy::NextDecisionStep of a trial that will not be judged again. Evaluations happen after
// a step, so a judged step is at least 1; 0 is also what a message that does not carry one reads as.
inline constexpr int64_t kNoDecision = 0;

class SearchStrategy {
 public:
  virtual ~SearchStrategy() = default;

  // Applies one event and returns the operations it calls for, in order.
  virtual std::vector<SearchAction> Handle(const SearchEvent& event) = 0;

  // Everything needed to continue after a restart (see MakeSearchStrategy).
  virtual nlohmann::json Snapshot() const = 0;

  // Continues from a Snapshot() of a strategy made for the same sweep; InvalidArgument when it does
  // not belong to this sweep or is damaged.
  virtual Status Restore(const nlohmann::json& snapshot) = 0;

  // Trials the sweep will have once done (for progress and estimates); -1 when unknown in advance.
  virtual int64_t PlannedTrials() const = 0;

  // The step at or past which `trial`'s next validation report will be judged (a rung, a PBT
  // interval), given that it has reported up to `reported_step`; kNoDecision when none will be. Its
  // trainer waits at that evaluation for the decision, so what it trains does not depend on how fast
  // the decision travels. Strategies that never stop or pause a trial judge nothing.
  virtual int64_t NextDecisionStep(int64_t trial, int64_t reported_step) const;
};

// The strategy `sweep.strategy` names, fresh (snapshot == nullptr) or restored from a Snapshot().
// InvalidArgument for an unknown strategy, a grid over a distribution, or a damaged snapshot.
StatusOr<std::unique_ptr<SearchStrategy>> MakeSearchStrategy(const SweepSpec& sweep,
                                                             const nlohmann::json* snapshot);

}  // namespace orchard::coordinator
