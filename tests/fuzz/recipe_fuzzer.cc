// libFuzzer target for the recipe parser and the sweep's search space.
//
// An input is a recipe; its lines that start with "#set " (a YAML comment, so the recipe still
// parses the same) also become `--set` overrides, at most three, e.g.
//
//   model: {type: mlp}
//   #set optimizer.lr=0.5
//
// Beyond "never crash, hang or throw", it checks what the validator promises about a sweep it
// accepts: a search strategy can be made from it and restored from its snapshot, and each value a
// trial can receive (a listed value, or a draw from a distribution) makes a valid recipe on its own.
// A broken promise aborts, so libFuzzer saves the input like any other crash.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/search/search_strategy.h"
#include "coordinator/search/trial_sampler.h"
#include "core/recipe.h"
#include "core/search_space.h"

namespace orchard {
namespace {

constexpr std::string_view kOverridePrefix = "#set ";
constexpr size_t kMaxOverrides = 3;
// Bounds on the checks of each input, so that a large sweep stays a fast input.
constexpr size_t kMaxCheckedParameters = 8;
constexpr size_t kMaxCheckedValues = 4;
constexpr int64_t kCheckedDraws = 3;
constexpr int64_t kMaxStartedTrials = 64;

void Require(bool condition, const std::string& what) {
  if (condition) return;
  std::fprintf(stderr, "recipe_fuzzer: broken promise: %s\n", what.c_str());
  std::abort();
}

std::vector<std::string> OverridesIn(const std::string& text) {
  std::vector<std::string> overrides;
  size_t start = 0;
  while (start < text.size() && overrides.size() < kMaxOverrides) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    if (line.substr(0, kOverridePrefix.size()) == kOverridePrefix) {
      overrides.emplace_back(line.substr(kOverridePrefix.size()));
    }
    start = end + 1;
  }
  return overrides;
}

// A trial runs the recipe with the sweep's value for `path`; the sweep itself plays no part in it
// ("sweep=" removes it), exactly as the validator checks each candidate.
void RequireValidTrialValue(const std::string& text, const std::vector<std::string>& overrides,
                            const std::string& path, const std::string& value) {
  std::vector<std::string> trial = overrides;
  trial.push_back("sweep=");
  trial.push_back(path + "=" + value);
  StatusOr<Recipe> recipe = ParseRecipe(text, "fuzz.yaml", trial);
  Require(recipe.ok(), "the sweep accepted " + path + "=" + value + " but a trial with it fails: " +
                           recipe.status().message());
}

void CheckDraw(const ParameterSpace& space, const coordinator::Hyperparameter& drawn, const std::string& text,
               const std::vector<std::string>& overrides);

// A point has each parameter whose conditions its earlier values meet, in order, each a valid
// draw (checked with the values it depends on), and none of the others.
void CheckPoint(const std::vector<ParameterSpace>& parameters, const std::vector<coordinator::Hyperparameter>& point,
                const std::string& text, const std::vector<std::string>& overrides) {
  std::vector<coordinator::Hyperparameter> so_far;
  size_t next = 0;
  for (const ParameterSpace& p : parameters) {
    if (!coordinator::AppliesTo(p, so_far)) continue;
    Require(next < point.size(), "a point misses " + p.path + ", whose conditions hold");
    // The values of the parameters it depends on, and of those they depend on.
    std::vector<std::string> with_parents = overrides;
    std::vector<const ParameterSpace*> pending = {&p};
    while (!pending.empty()) {
      const ParameterSpace* child = pending.back();
      pending.pop_back();
      for (const ParameterCondition& condition : child->when) {
        for (const coordinator::Hyperparameter& h : so_far)
          if (h.path == condition.path) with_parents.push_back(h.path + "=" + h.value);
        for (const ParameterSpace& parent : parameters)
          if (parent.path == condition.path) pending.push_back(&parent);
      }
    }
    CheckDraw(p, point[next], text, with_parents);
    so_far.push_back(point[next++]);
  }
  Require(next == point.size(), "a point has " + std::to_string(point.size() - next) + " parameters whose conditions fail");
}

bool IsListed(const ParameterSpace& space, const std::string& value) {
  for (const std::string& v : space.values) {
    if (v == value) return true;
  }
  return false;
}

void CheckDraw(const ParameterSpace& space, const coordinator::Hyperparameter& drawn,
               const std::string& text, const std::vector<std::string>& overrides) {
  Require(drawn.path == space.path, "a draw for " + space.path + " names " + drawn.path);
  switch (space.kind) {
    case ParameterSpace::Kind::kConstant:
    case ParameterSpace::Kind::kValues:
      Require(IsListed(space, drawn.value), space.path + " drew the unlisted value " + drawn.value);
      return;
    case ParameterSpace::Kind::kUniform:
    case ParameterSpace::Kind::kLogUniform:
    case ParameterSpace::Kind::kIntUniform: {
      char* end = nullptr;
      double number = std::strtod(drawn.value.c_str(), &end);
      Require(end != drawn.value.c_str() && *end == '\0', space.path + " drew " + drawn.value);
      Require(space.min <= number && number <= space.max,
              space.path + " drew " + drawn.value + " outside [" + FormatDouble(space.min) + ", " +
                  FormatDouble(space.max) + "]");
      // Integer ranges may hold values a field rejects (a width not divisible by the heads), so
      // only continuous draws must always be valid: a float field accepts every number between two
      // it accepts.
      if (space.kind != ParameterSpace::Kind::kIntUniform) {
        RequireValidTrialValue(text, overrides, space.path, drawn.value);
      }
      return;
    }
  }
}

void CheckSweep(const Recipe& recipe, const std::string& text,
                const std::vector<std::string>& overrides) {
  const SweepSpec& sweep = recipe.sweep;
  const int64_t grid = GridSize(sweep.parameters);
  Require(grid >= 0, "negative grid size " + std::to_string(grid));
  if (sweep.strategy == "grid") {
    Require(grid >= 1 && grid <= 100000, "accepted a grid of " + std::to_string(grid) + " points");
  }

  for (size_t i = 0; i < sweep.parameters.size() && i < kMaxCheckedParameters; ++i) {
    const ParameterSpace& space = sweep.parameters[i];
    if (space.kind == ParameterSpace::Kind::kConstant || space.kind == ParameterSpace::Kind::kValues) {
      Require(!space.values.empty(), space.path + " has no values");
      // A conditional parameter's values are valid with the values that make it apply.
      std::vector<std::string> enabled = overrides;
      const auto ways = EnablingAssignments(space, sweep.parameters);
      for (const auto& [parent, value] : ways.front()) enabled.push_back(parent + "=" + value);
      for (size_t v = 0; v < space.values.size() && v < kMaxCheckedValues; ++v) {
        RequireValidTrialValue(text, enabled, space.path, space.values[v]);
      }
    }
  }

  auto strategy = coordinator::MakeSearchStrategy(sweep, nullptr);
  Require(strategy.ok(), "a validated sweep makes no strategy: " + strategy.status().message());
  const int64_t planned = (*strategy)->PlannedTrials();
  Require(planned >= 0, "planned " + std::to_string(planned) + " trials");
  const nlohmann::json snapshot = (*strategy)->Snapshot();
  auto restored = coordinator::MakeSearchStrategy(sweep, &snapshot);
  Require(restored.ok(), "cannot restore a fresh snapshot: " + restored.status().message());
  Require((*restored)->Snapshot() == snapshot, "a restored strategy snapshots differently");

  if (planned <= kMaxStartedTrials) {
    (*strategy)->Handle(coordinator::SweepStarted{});
  }
  if (sweep.parameters.size() > kMaxCheckedParameters) return;
  for (int64_t index : {int64_t{0}, planned / 2, planned - 1}) {
    if (index < 0 || index >= planned) continue;
    std::vector<coordinator::Hyperparameter> point =
        sweep.strategy == "grid" ? coordinator::GridPoints(sweep.parameters, index + 1).back()
                                 : coordinator::RandomPoint(sweep.parameters, sweep.seed, index);
    CheckPoint(sweep.parameters, point, text, overrides);
  }
  // TPE's proposals too: the created trials report made-up values and exit until the sweep ends, and
  // every trial after the random startup ones is a proposal from those results.
  if (sweep.sampler == "tpe" && planned <= kMaxStartedTrials) {
    auto tpe = coordinator::MakeSearchStrategy(sweep, nullptr);
    std::vector<coordinator::CreateTrial> queue;
    for (const auto& action : (*tpe)->Handle(coordinator::SweepStarted{}))
      if (const auto* create = std::get_if<coordinator::CreateTrial>(&action)) queue.push_back(*create);
    for (size_t next = 0; next < queue.size(); ++next) {
      const coordinator::CreateTrial trial = queue[next];
      if (trial.trial >= sweep.tpe_startup_trials && trial.trial < sweep.tpe_startup_trials + kCheckedDraws)
        CheckPoint(sweep.parameters, trial.hyperparameters, text, overrides);
      (*tpe)->Handle(coordinator::ValidationReported{trial.trial, 1, static_cast<double>((trial.trial * 7919) % 13)});
      for (const auto& action : (*tpe)->Handle(coordinator::TrialExited{trial.trial, coordinator::TrialExited::Kind::kCompleted}))
        if (const auto* create = std::get_if<coordinator::CreateTrial>(&action)) queue.push_back(*create);
    }
    Require(static_cast<int64_t>(queue.size()) == planned, "tpe created " + std::to_string(queue.size()) + " trials of " +
                                                               std::to_string(planned));
  }
  // Draws beyond the planned trials too: the bounds hold for every index.
  for (int64_t index = 0; index < kCheckedDraws && sweep.strategy == "random"; ++index) {
    CheckPoint(sweep.parameters, coordinator::RandomPoint(sweep.parameters, sweep.seed ^ 1, index), text, overrides);
  }
}

// One problem a line, each naming where it comes from: the file (with line and column where the
// recipe has them) or the override.
void RequireErrorsSayWhere(const std::string& message) {
  Require(!message.empty(), "an error without a message");
  size_t start = 0;
  while (start <= message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    std::string_view line(message.data() + start, end - start);
    Require(line.starts_with("fuzz.yaml:") || line.starts_with("--set "),
            "an error line that names neither the file nor an override: \"" + std::string(line) +
                "\" in:\n" + message);
    start = end + 1;
  }
}

}  // namespace
}  // namespace orchard

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> overrides = orchard::OverridesIn(text);
  orchard::StatusOr<orchard::Recipe> recipe = orchard::ParseRecipe(text, "fuzz.yaml", overrides);
  if (!recipe.ok()) {
    orchard::RequireErrorsSayWhere(recipe.status().message());
    return 0;
  }
  if (recipe->has_sweep) orchard::CheckSweep(*recipe, text, overrides);
  return 0;
}
