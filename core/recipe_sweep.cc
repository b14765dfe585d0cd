// The sweep block of a recipe: strategy, search space and their checks.
#include <algorithm>
#include <cmath>
#include <set>

#include "core/fusion.h"
#include "core/recipe_internal.h"

namespace orchard::recipe_internal {
namespace {

// Whether PBT may change `path` between a member's checkpoint and its resume from it.
bool PbtMayVary(const std::string& path) {
  for (const char* fixed : {"model.", "data.", "checkpoint.", "metrics.", "distributed."})
    if (path.rfind(fixed, 0) == 0) return false;
  for (const char* fixed : {"name", "optimizer.type", "optimizer.impl", "train.steps", "train.epochs", "train.seed",
                            "train.device", "train.precision"})
    if (path == fixed) return false;
  return true;
}

// `fuse` (auto or a group size) when the recipe's model and ranks can be fused; errors on
// sweep.fuse where not.
int64_t CheckFusableModel(Fields& f, const Recipe& base, const SweepSpec& s, int64_t fuse) {
  if (base.model.type != "mlp" && base.model.type != "cnn")
    f.Error("fuse", "trains a group of trials as one batched model, which Orchard builds for model.type mlp and cnn (not "
                    "yet " + base.model.type + "); set fuse: off");
  if (s.ranks > 1)
    f.Error("fuse", "fuses single-rank trials, but sweep.ranks is " + std::to_string(s.ranks) + "; set fuse: off or ranks: 1");
  if (base.optimizer.impl != "fused")
    f.Error("fuse", "steps a group's members in one pass of Orchard's fused optimizer, but optimizer.impl is " +
                        base.optimizer.impl + "; set optimizer.impl: fused or fuse: off");
  if (s.gpu_memory_gib > 0 || s.gpu_fraction > 0)
    f.Error("fuse", "trains a group on one slot, which a share of a GPU (sweep.gpu_memory_gib, gpu_fraction) cannot hold "
                    "(the group's memory grows with its members); keep one of the two");
  return fuse;
}

// sweep.fuse: off (1), auto (kFuseAuto) or the most trials one group trains together.
int64_t ReadFuse(Fields& f, const Recipe& base, const SweepSpec& s) {
  if (!f.Has("fuse")) return 1;
  const YAML::Node node = f.node()["fuse"];
  f.Skip("fuse");
  const std::string text = node.IsScalar() ? node.Scalar() : "";
  if (text == "off") return 1;
  if (text == "auto") return CheckFusableModel(f, base, s, kFuseAuto);
  int64_t fuse = 0;
  try {
    size_t used = 0;
    fuse = std::stoll(text, &used);
    if (used != text.size()) fuse = 0;
  } catch (const std::exception&) {
    fuse = 0;
  }
  if (fuse < 1 || fuse > kMaxFuseMembers) {
    f.Error("fuse", "expected off, auto or the most trials one group trains together (1 to " +
                        std::to_string(kMaxFuseMembers) + "), found " + Describe(node));
    return 1;
  }
  return fuse == 1 ? 1 : CheckFusableModel(f, base, s, fuse);
}

// The conditions of `when:` ({parent: value} or {parent: [values]}), each on an earlier parameter of
// the sweep that is a list of values or a constant, naming only values it has.
std::vector<ParameterCondition> ReadConditions(Fields& p, const YAML::Node& when,
                                               const std::vector<ParameterSpace>& earlier, Diagnostics* diag) {
  std::vector<ParameterCondition> conditions;
  if (!when.IsMap() || when.size() == 0) {
    p.Error("when", "expected a mapping from earlier parameters to the values under which this one applies, "
                    "e.g. {optimizer.type: sgd} or {model.type: [cnn]}, found " + Describe(when));
    return conditions;
  }
  for (const auto& condition : when) {
    const std::string parent = KeyText(condition.first);
    const std::string field = p.FieldPath("when") + "." + parent;
    const auto found = std::find_if(earlier.begin(), earlier.end(), [&](const ParameterSpace& e) { return e.path == parent; });
    if (found == earlier.end()) {
      diag->Error(condition.first.Mark(), field,
                  "names no parameter listed above this one; a condition is on an earlier parameter of the sweep");
      continue;
    }
    if (found->kind != ParameterSpace::Kind::kValues && found->kind != ParameterSpace::Kind::kConstant) {
      diag->Error(condition.first.Mark(), field,
                  "is a distribution; a condition needs a parameter with {values: [...]} (or {value: ...})");
      continue;
    }
    ParameterCondition parsed{parent, {}};
    const YAML::Node values = condition.second;
    std::vector<YAML::Node> listed;
    if (values.IsSequence()) {
      for (const YAML::Node& v : values) listed.push_back(v);
    } else {
      listed.push_back(values);
    }
    for (const YAML::Node& v : listed) {
      const std::string text = ToFlowYaml(v);
      if (std::find(found->values.begin(), found->values.end(), text) == found->values.end()) {
        std::string choices;
        for (const std::string& c : found->values) choices += (choices.empty() ? "" : ", ") + c;
        diag->Error(v.Mark(), field, text + " is not one of " + parent + "'s values (" + choices + ")");
        continue;
      }
      parsed.values.push_back(text);
    }
    if (listed.empty()) diag->Error(values.Mark(), field, "lists no values; name at least one of " + parent + "'s values");
    if (!parsed.values.empty()) conditions.push_back(std::move(parsed));
  }
  return conditions;
}

}  // namespace

void ReadSweep(Fields f, const YAML::Node& root, const std::string& file, const Recipe& base,
               SweepSpec* s) {
  s->strategy =
      f.Choice("strategy", "random", {"grid", "random", "quasi_random", "asha", "median", "hyperband", "tpe", "pbt"});
  const bool stops_early = s->strategy == "asha" || s->strategy == "median" || s->strategy == "hyperband";
  std::vector<std::string> metrics = MetricsOfTask(base.data.task);
  s->metric = f.Choice("metric", "val_loss", metrics);
  s->mode = f.Choice("mode", s->metric == "val_accuracy" ? "max" : "min", {"min", "max"});
  if (s->strategy == "hyperband") {
    // 0: one pass over the brackets; more repeats them (checked against the layout below).
    s->max_trials = f.Integer("max_trials", 0, 1, kMaxHyperbandTrials);
  } else {
    s->max_trials = f.Integer("max_trials", s->strategy == "grid" ? 0 : 10, s->strategy == "grid" ? 0 : 1, 1000000);
  }
  s->max_concurrent = f.Integer("max_concurrent", 0, 0, 1000000);
  s->ranks = f.Integer("ranks", 1, 1, 4096);
  s->gpu_memory_gib = f.Number("gpu_memory_gib", 0.0, 0.0, 1024.0 * 1024.0);
  s->gpu_fraction = f.Number("gpu_fraction", 0.0, 0.0, 1.0);
  if (s->gpu_memory_gib > 0 && s->gpu_fraction > 0)
    f.Error("gpu_fraction", "and sweep.gpu_memory_gib both ask for a share of a GPU; keep one of the two");
  if ((s->gpu_memory_gib > 0 || s->gpu_fraction > 0) && s->ranks > 1)
    f.Error(s->gpu_fraction > 0 ? "gpu_fraction" : "gpu_memory_gib",
            "shares one GPU between single-rank trials, but sweep.ranks is " + std::to_string(s->ranks) +
                " (every rank takes a whole GPU); remove the share or set ranks: 1");
  s->fuse = ReadFuse(f, base, *s);
  s->seed = f.Integer("seed", 0, 0, INT64_MAX);
  s->max_restarts = f.Integer("max_restarts", SweepSpec{}.max_restarts, 0, 1000);
  s->unplaceable_timeout_seconds =
      f.Integer("unplaceable_timeout_seconds", SweepSpec{}.unplaceable_timeout_seconds, 0, 30 * 24 * 3600);
  s->decision_timeout_seconds = f.Integer("decision_timeout_seconds", SweepSpec{}.decision_timeout_seconds, 0, 24 * 3600);
  if (s->strategy == "asha" || s->strategy == "median") {
    s->sampler = f.Choice("sampler", "random", {"random", "quasi_random", "tpe"});
  } else {
    if (f.Has("sampler"))
      f.Error("sampler", "applies to strategy asha or median (which trials to try next); " + s->strategy +
                             " draws its own, so remove it");
    f.Skip("sampler");
    s->sampler = s->strategy == "tpe" ? "tpe" : "random";
  }
  const int64_t first_report = std::max<int64_t>(1, base.train.eval_interval);
  if (stops_early) {
    Fields stopping = f.Map("early_stopping");
    s->min_steps = stopping.Integer("min_steps", first_report, 1, kMaxCount);
    if (s->strategy != "median") s->reduction_factor = stopping.Number("reduction_factor", 3.0, 2.0, 100.0);
    if (s->strategy == "median") s->min_trials = stopping.Integer("min_trials", 3, 1, 1000000);
    if (s->strategy == "hyperband") {
      if (base.train.steps == 0 && !stopping.Has("max_steps"))
        stopping.Error("max_steps", "is required when training runs for train.epochs: set it to the steps a whole "
                                    "trial runs (epochs x batches per epoch)");
      s->max_steps = stopping.Integer("max_steps", base.train.steps > 0 ? base.train.steps : s->min_steps + 1, 1, kMaxCount);
      s->step_budget = stopping.Integer("step_budget", 0, 0, kMaxCount);
      if (s->max_steps <= s->min_steps) {
        stopping.Error("max_steps", "must be above min_steps (" + std::to_string(s->min_steps) +
                                        "): hyperband halves trials between the two");
      } else {
        const auto brackets = HyperbandBrackets(s->min_steps, s->max_steps, s->reduction_factor, kMaxHyperbandTrials);
        if (brackets.empty() || brackets.back().milestones.size() != 1) {
          stopping.Error("max_steps", "hyperband would run more than " + std::to_string(kMaxHyperbandTrials) +
                                          " trials between min_steps " + std::to_string(s->min_steps) + " and max_steps " +
                                          std::to_string(s->max_steps) + "; raise min_steps or reduction_factor");
        } else {
          const int64_t pass_trials = brackets.back().first_trial + brackets.back().trials;
          if (s->max_trials > 0 && s->max_trials < brackets.front().trials)
            f.Error("max_trials", "is below hyperband's first bracket (" + std::to_string(brackets.front().trials) +
                                      " trials); leave it out for one pass over the brackets (" +
                                      std::to_string(pass_trials) + " trials), or set it higher to repeat them");
          int64_t pass_steps = 0;
          for (const HyperbandBracket& bracket : brackets) pass_steps += PlannedSteps(bracket, s->reduction_factor);
          const int64_t first_steps = PlannedSteps(brackets.front(), s->reduction_factor);
          if (s->step_budget > 0 && s->step_budget < first_steps)
            stopping.Error("step_budget", "is below hyperband's first bracket (" + std::to_string(first_steps) +
                                              " steps planned); leave it out for one pass over the brackets (" +
                                              std::to_string(pass_steps) + " steps), or set it higher to repeat them");
          else if (s->max_trials <= 0 && s->step_budget / pass_steps > kMaxHyperbandTrials / pass_trials)
            stopping.Error("step_budget", "would repeat the brackets past " + std::to_string(kMaxHyperbandTrials) +
                                              " trials; lower it or set max_trials");
        }
      }
    }
    stopping.RejectUnknown();
  }
  if (s->sampler == "tpe") {
    Fields tpe = f.Map("tpe");
    s->tpe_startup_trials = tpe.Integer("startup_trials", 10, 1, 1000000);
    s->tpe_candidates = tpe.Integer("candidates", 24, 1, 100000);
    s->tpe_multivariate = tpe.Bool("multivariate", true);
    s->tpe_constant_liar = tpe.Bool("constant_liar", true);
    tpe.RejectUnknown();
  }
  if (s->strategy == "pbt") {
    Fields pbt = f.Map("pbt");
    s->pbt_interval = pbt.Integer("interval", first_report, 1, kMaxCount);
    s->pbt_quantile = pbt.Number("quantile", 0.25, 0.01, 0.5);
    s->pbt_resample_probability = pbt.Number("resample_probability", 0.25, 0.0, 1.0);
    s->max_steps = base.train.steps;  // members are not judged at their last step
    pbt.RejectUnknown();
    if (s->max_trials < 2) f.Error("max_trials", "pbt needs a population of at least 2 (max_trials is its size)");
    if (base.checkpoint.interval == 0)
      f.Error("strategy", "pbt copies the latest checkpoint of a better member, but checkpoint.interval is 0 "
                          "(checkpoints only at the end); set checkpoint.interval, e.g. to pbt.interval");
  }
  if ((stops_early || s->strategy == "pbt") && base.train.eval_interval == 0)
    f.Error("strategy", s->strategy + " decides at the trials' validation reports, but train.eval_interval is 0 "
                        "(evaluate only at the end); set train.eval_interval, e.g. to " +
                        (s->strategy == "pbt" ? std::string("pbt.interval") : std::string("early_stopping.min_steps")));
  Fields params = f.Map("parameters");
  if (!f.Has("parameters")) {
    f.Error("parameters", "is required but missing: a mapping from recipe fields (e.g. "
                          "optimizer.lr) to their search space");
  }
  f.RejectUnknown();

  Diagnostics* diag = f.diagnostics();
  if (!params.node().IsMap()) return;
  params.RejectRepeated();
  struct CandidateCheck {
    size_t index;                         // into s->parameters
    Fields fields;                        // the parameter's, for its errors
    std::vector<std::string> candidates;  // the values a trial can receive, as override text
  };
  std::vector<CandidateCheck> checks;
  for (const auto& entry : params.node()) {
    std::string path = KeyText(entry.first);
    if (path == "sweep" || path.rfind("sweep.", 0) == 0) {
      diag->Error(entry.first.Mark(), params.FieldPath(path),
                  "a sweep cannot vary its own settings; name a training field such as optimizer.lr");
      continue;
    }
    if (s->strategy == "pbt" && !PbtMayVary(path)) {
      diag->Error(entry.first.Mark(), params.FieldPath(path),
                  "pbt copies checkpoints between members and changes their hyperparameters mid-run, so "
                  "what a checkpoint holds must stay the same (the model, the data, the optimizer type, the "
                  "run's length, seed and checkpoints); search fields such as optimizer.lr, "
                  "optimizer.weight_decay, train.grad_clip or schedule.warmup_steps");
      continue;
    }
    if (s->fuse != 1) {
      if (const Status fusable = CheckFusableField(path); !fusable.ok()) {
        diag->Error(entry.first.Mark(), params.FieldPath(path),
                    "sweep.fuse trains trials that share shapes and batches as one model: " + fusable.message() +
                        "; or set sweep.fuse: off");
        continue;
      }
    }
    if (!entry.second.IsMap()) {
      diag->Error(entry.second.Mark(), params.FieldPath(path),
                  "expected a mapping such as {values: [...]} or {distribution: uniform, min: 0, "
                  "max: 1}, found " + Describe(entry.second));
      continue;
    }
    Fields p(entry.second, params.FieldPath(path), diag);
    const size_t errors_before = diag->errors().size();
    ParameterSpace space;
    space.path = path;
    // The values a trial can receive, as the text of its "path=value" override; each is checked
    // against the recipe below.
    std::vector<std::string> candidates;
    if (p.Has("values")) {
      YAML::Node values = entry.second["values"];
      p.Skip("values");
      if (!values.IsSequence() || values.size() == 0) {
        p.Error("values", "expected a non-empty list, found " + Describe(values));
        continue;
      }
      space.kind = ParameterSpace::Kind::kValues;
      for (const YAML::Node& v : values) space.values.push_back(ToFlowYaml(v));
      candidates = space.values;
    } else if (p.Has("value")) {
      space.kind = ParameterSpace::Kind::kConstant;
      p.Skip("value");
      space.values.push_back(ToFlowYaml(entry.second["value"]));
      candidates = space.values;
    } else if (p.Has("distribution")) {
      std::string dist = p.Choice("distribution", std::nullopt,
                                  {"uniform", "log_uniform", "int_uniform"});
      space.kind = dist == "log_uniform"   ? ParameterSpace::Kind::kLogUniform
                   : dist == "int_uniform" ? ParameterSpace::Kind::kIntUniform
                                           : ParameterSpace::Kind::kUniform;
      if (dist == "int_uniform") {
        // Bounds are kept as doubles, which hold every integer up to 2^53 exactly.
        constexpr int64_t kMaxExact = int64_t{1} << 53;
        space.min = static_cast<double>(p.Integer("min", std::nullopt, -kMaxExact, kMaxExact));
        space.max = static_cast<double>(p.Integer("max", std::nullopt, -kMaxExact, kMaxExact));
      } else {
        double lowest = dist == "log_uniform" ? 1e-300 : -1e300;
        space.min = p.Number("min", std::nullopt, lowest, 1e300);
        space.max = p.Number("max", std::nullopt, lowest, 1e300);
      }
      if (space.min > space.max) {
        p.Error("max", "must not be below min (" + Describe(entry.second["min"]) + ")");
      }
      // The bounds as the sampler writes its draws (a float always has a point or an exponent).
      if (diag->errors().size() == errors_before) {
        for (double bound : {space.min, space.max}) {
          candidates.push_back(dist == "int_uniform" ? std::to_string(static_cast<int64_t>(bound))
                                                     : FormatDouble(bound));
        }
      }
    } else {
      p.Error("", "expected {values: [...]}, {value: ...} or {distribution: uniform, min: ..., "
                  "max: ...}, found " + Describe(entry.second));
      for (const char* key : {"values", "value", "distribution", "min", "max", "when"}) p.Skip(key);
      p.RejectUnknown();  // names a misspelt key, with a suggestion
      continue;
    }
    if (p.Has("when")) {
      p.Skip("when");
      if (s->strategy == "pbt") {
        p.Error("when", "pbt changes a member's hyperparameters mid-run and cannot add or drop one; remove the "
                        "condition or use another strategy");
      } else {
        space.when = ReadConditions(p, entry.second["when"], s->parameters, diag);
      }
    }
    p.RejectUnknown();
    if (s->strategy == "grid" && space.kind != ParameterSpace::Kind::kValues &&
        space.kind != ParameterSpace::Kind::kConstant) {
      p.Error("", "grid search needs {values: [...]} for every parameter");
    }

    checks.push_back({s->parameters.size(), p, std::move(candidates)});
    s->parameters.push_back(std::move(space));
  }
  // A candidate must make a valid recipe: this catches unknown fields and wrong types early. Each is
  // checked in the trial a sweep would make of it: under each value that makes it apply, with the
  // other conditional parameters set where theirs hold and removed where they fail.
  for (CandidateCheck& check : checks) {
    const ParameterSpace& space = s->parameters[check.index];
    const auto enabling = EnablingAssignments(space, s->parameters);
    for (size_t c = 0; c < check.candidates.size() * enabling.size(); ++c) {
      const std::string& candidate = check.candidates[c / enabling.size()];
      try {
        (void)YAML::Load(candidate);
      } catch (const YAML::Exception& e) {
        check.fields.Error("", "the value " + candidate + " does not read back as YAML: " + e.msg);
        break;
      }
      YAML::Node trial = YAML::Clone(root);
      trial.remove("sweep");
      Diagnostics inner(file);
      Status set = OkStatus();
      for (const auto& [field, text] : CandidateTrialFields(s->parameters, check.index, candidate, enabling[c % enabling.size()])) {
        set = SetPath(trial, field, text.empty() ? YAML::Node() : YAML::Load(text));
        if (!set.ok()) break;
        inner.AddOverrideOrigin(field, field == space.path ? "value " + Describe(YAML::Load(text))
                                                           : "value " + (text.empty() ? "(removed)" : text) +
                                                                 " in the trial where " + space.path + " is " + candidate);
      }
      if (!set.ok()) {
        check.fields.Error("", set.message());
        break;
      }
      Recipe scratch;
      ReadTrainingFields(trial, file, &scratch, &inner);
      if (!inner.ok()) {
        const bool floats_for_integers =
            (space.kind == ParameterSpace::Kind::kUniform || space.kind == ParameterSpace::Kind::kLogUniform) &&
            std::floor(space.min) == space.min && std::floor(space.max) == space.max;
        check.fields.Error("", "not a valid value for the recipe: " + inner.errors().front() +
                                   (floats_for_integers ? " (uniform and log_uniform draw floats; an integer "
                                                          "field needs int_uniform)"
                                                        : ""));
        break;
      }
    }
  }
  if (s->strategy != "grid" || !diag->ok()) return;
  const int64_t grid = GridSize(s->parameters);
  if (grid > 100000) {
    f.Error("parameters", "the grid has " +
                              (grid == INT64_MAX ? "more than " + std::to_string(kMaxCountedGrid) : std::to_string(grid)) +
                              " points; more than 100000 is surely a mistake");
  }
}

}  // namespace orchard::recipe_internal
