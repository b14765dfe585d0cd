#include "core/recipe.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/yaml_fields.h"

namespace orchard {
namespace {

constexpr int64_t kMaxCount = int64_t{1} << 40;
constexpr int64_t kMaxWidth = 1 << 20;

// The text of a --set value that reads back as `node`: scalars are quoted where YAML needs it
// ("a: b", "#x", "").
std::string ToFlowYaml(const YAML::Node& node) {
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream in(path);
  for (std::string part; std::getline(in, part, '.');) parts.push_back(part);
  return parts;
}

// Sets the dotted `path` of `root` to `value`, creating mappings on the way.
Status SetPath(YAML::Node root, const std::string& path, const YAML::Node& value) {
  std::vector<std::string> parts = SplitPath(path);
  if (parts.empty() || std::any_of(parts.begin(), parts.end(), [](auto& p) { return p.empty(); })) {
    return InvalidArgument("'" + path + "' is not a dotted field name such as optimizer.lr");
  }
  YAML::Node cur = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = cur[parts[i]];
    if (next.IsDefined() && !next.IsNull() && !next.IsMap()) {
      return InvalidArgument("cannot set '" + path + "': '" + parts[i] + "' is not a mapping");
    }
    if (!next.IsDefined() || next.IsNull()) cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
    cur.reset(cur[parts[i]]);
  }
  cur[parts.back()] = value;
  return OkStatus();
}

// "optimizer.lr=0.01" -> path and YAML value.
Status ApplyOverride(YAML::Node root, const std::string& assignment, Diagnostics* diag) {
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    return InvalidArgument(
        Printable("--set " + assignment + ": expected FIELD=VALUE, e.g. optimizer.lr=0.01"));
  }
  std::string path = assignment.substr(0, eq);
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(Printable("--set " + assignment + ": the value is not valid YAML: " + e.msg));
  }
  Status s = SetPath(root, path, value);
  if (!s.ok()) return InvalidArgument(Printable("--set " + assignment + ": " + s.message()));
  diag->AddOverrideOrigin(path, "--set " + assignment);
  return OkStatus();
}

std::string ResolvePath(const std::string& recipe_file, const std::string& path) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  std::filesystem::path base = std::filesystem::path(recipe_file).parent_path();
  return (base / path).lexically_normal().string();
}

void ReadModel(Fields f, const std::string& recipe_file, ModelSpec* m) {
  if (!f.node().IsMap()) return;  // the section itself is wrong; that error is already recorded
  m->type = f.Choice("type", std::nullopt, {"mlp", "cnn", "transformer", "torchscript"});
  if (m->type == "mlp") {
    m->mlp.hidden = f.Integers("hidden", m->mlp.hidden, 1, kMaxWidth);
    m->mlp.activation = f.Choice("activation", "relu", {"relu", "gelu", "tanh"});
    m->mlp.dropout = f.Number("dropout", 0.0, 0.0, 0.95);
  } else if (m->type == "cnn") {
    m->cnn.channels = f.Integer("channels", m->cnn.channels, 1, 4096);
    m->cnn.stages = f.Integer("stages", m->cnn.stages, 0, 6);
    m->cnn.blocks = f.Integer("blocks", m->cnn.blocks, 1, 16);
    m->cnn.dropout = f.Number("dropout", 0.0, 0.0, 0.95);
  } else if (m->type == "transformer") {
    TransformerSpec& t = m->transformer;
    t.layers = f.Integer("layers", t.layers, 1, 128);
    t.heads = f.Integer("heads", t.heads, 1, 128);
    t.width = f.Integer("width", t.width, 8, 65536);
    t.context = f.Integer("context", t.context, 2, 65536);
    t.dropout = f.Number("dropout", 0.0, 0.0, 0.95);
    if (t.width % t.heads != 0) {
      f.Error("width", "must be divisible by model.heads (" + std::to_string(t.heads) +
                           "), found " + std::to_string(t.width));
    }
  } else if (m->type == "torchscript") {
    m->torchscript.path = ResolvePath(recipe_file, f.String("path", std::nullopt));
  }
  f.RejectUnknown();
}

void ReadData(Fields f, const std::string& recipe_file, DataSpec* d) {
  if (!f.node().IsMap()) return;  // the section itself is wrong; that error is already recorded
  d->type = f.Choice("type", std::nullopt, {"synthetic", "csv", "idx", "text", "digits"});
  if (d->type == "synthetic") {
    d->task = f.Choice("task", "classification", {"classification", "regression"});
    d->samples = f.Integer("samples", d->samples, 2, kMaxCount);
    d->features = f.Integer("features", d->features, 1, kMaxWidth);
    if (d->task == "classification") d->classes = f.Integer("classes", d->classes, 2, kMaxWidth);
    d->noise = f.Number("noise", d->noise, 0.0, 1e6);
  } else if (d->type == "csv") {
    d->task = f.Choice("task", "classification", {"classification", "regression"});
    d->path = ResolvePath(recipe_file, f.String("path", std::nullopt));
    d->label_column = f.String("label", d->label_column);
    d->shape = f.Integers("shape", {}, 1, kMaxWidth);
    d->normalize = f.Bool("normalize", true);
  } else if (d->type == "idx") {
    d->task = "classification";
    d->path = ResolvePath(recipe_file, f.String("images", std::nullopt));
    d->labels_path = ResolvePath(recipe_file, f.String("labels", std::nullopt));
    d->normalize = f.Bool("normalize", true);
  } else if (d->type == "text") {
    d->task = "language_model";
    d->path = ResolvePath(recipe_file, f.String("path", std::nullopt));
    d->context = f.Integer("context", 0, 0, 65536);
  } else if (d->type == "digits") {
    d->task = "classification";
    d->path = ResolvePath(recipe_file, f.String("path", ""));
    d->normalize = f.Bool("normalize", true);
  }
  d->validation_fraction = f.Number("validation_fraction", d->validation_fraction, 0.0, 0.9);
  d->seed = f.Integer("seed", 0, 0, INT64_MAX);
  d->shuffle = f.Bool("shuffle", true);
  if (!d->shape.empty() && d->shape.size() != 3) {
    f.Error("shape", "expected [channels, height, width], found " +
                         std::to_string(d->shape.size()) + " dimensions");
  }
  f.RejectUnknown();
}

void ReadOptimizer(Fields f, OptimizerSpec* o) {
  o->type = f.Choice("type", o->type, {"sgd", "adam", "adamw"});
  o->lr = f.Number("lr", o->lr, 1e-12, 1e6);
  if (o->type == "sgd") {
    o->momentum = f.Number("momentum", 0.0, 0.0, 0.999999);
    o->nesterov = f.Bool("nesterov", false);
    if (o->nesterov && o->momentum == 0.0) {
      f.Error("nesterov", "needs optimizer.momentum > 0");
    }
  } else {
    o->beta1 = f.Number("beta1", o->beta1, 0.0, 0.999999);
    o->beta2 = f.Number("beta2", o->beta2, 0.0, 0.999999999);
    o->eps = f.Number("eps", o->eps, 1e-30, 1.0);
  }
  o->weight_decay = f.Number("weight_decay", o->type == "adamw" ? 0.01 : 0.0, 0.0, 10.0);
  o->impl = f.Choice("impl", o->impl, {"fused", "torch"});
  f.RejectUnknown();
}

void ReadSchedule(Fields f, ScheduleSpec* s) {
  s->type = f.Choice("type", s->type, {"constant", "linear", "cosine", "step"});
  s->warmup_steps = f.Integer("warmup_steps", 0, 0, kMaxCount);
  if (s->type == "linear" || s->type == "cosine") {
    s->min_lr_ratio = f.Number("min_lr_ratio", 0.0, 0.0, 1.0);
  } else if (s->type == "step") {
    s->step_size = f.Integer("step_size", s->step_size, 1, kMaxCount);
    s->gamma = f.Number("gamma", s->gamma, 0.0, 1.0);
  }
  f.RejectUnknown();
}

void ReadTrain(Fields f, TrainSpec* t) {
  if (f.NotAMapping()) return;  // already reported; "set steps or epochs" would repeat it
  if (f.Has("steps") == f.Has("epochs")) {
    f.Error(f.Has("steps") ? "epochs" : "steps", "set exactly one of train.steps and train.epochs");
  }
  t->steps = f.Integer("steps", 0, 1, kMaxCount);
  t->epochs = f.Integer("epochs", 0, 1, 1000000);
  t->batch_size = f.Integer("batch_size", t->batch_size, 1, 1 << 24);
  t->grad_accumulation = f.Integer("grad_accumulation", 1, 1, 4096);
  t->grad_clip = f.Number("grad_clip", 0.0, 0.0, 1e9);
  t->eval_interval = f.Integer("eval_interval", 0, 0, kMaxCount);
  t->seed = f.Integer("seed", 0, 0, INT64_MAX);
  t->device = f.String("device", "auto");
  if (t->device != "auto" && t->device != "cpu" && t->device != "cuda" &&
      t->device.rfind("cuda:", 0) != 0) {
    f.Error("device", "expected auto, cpu, cuda or cuda:N, found \"" + t->device + "\"");
  }
  t->precision = f.Choice("precision", "fp32", {"fp32", "bf16"});
  if (t->precision == "bf16" && t->device == "cpu") {
    f.Error("precision", "bf16 autocast needs a GPU; use fp32 with device cpu");
  }
  t->threads = f.Integer("threads", 0, 0, 1024);
  f.RejectUnknown();
}

void ReadCheckpoint(Fields f, CheckpointSpec* c) {
  c->interval = f.Integer("interval", 0, 0, kMaxCount);
  c->keep = f.Integer("keep", c->keep, 1, 1000000);
  f.RejectUnknown();
}

void ReadDistributed(Fields f, DistributedSpec* d) {
  d->bucket_mb = f.Number("bucket_mb", d->bucket_mb, 0.001, 4096);
  d->overlap = f.Bool("overlap", d->overlap);
  d->timeout_seconds = f.Number("timeout_seconds", d->timeout_seconds, 0.1, 86400);
  f.RejectUnknown();
}

void ReadMetrics(Fields f, MetricsSpec* m) {
  m->log_interval = f.Integer("log_interval", 0, 0, kMaxCount);
  m->file = f.String("file", m->file);
  f.RejectUnknown();
}

std::vector<std::string> MetricsOfTask(const std::string& task) {
  if (task == "classification") return {"val_loss", "val_accuracy", "train_loss"};
  if (task == "language_model") return {"val_loss", "val_perplexity", "train_loss"};
  return {"val_loss", "train_loss"};
}

// Everything but the sweep; also used to check each candidate value of a sweep parameter.
void ReadTrainingFields(const YAML::Node& root, const std::string& file, Recipe* r,
                        Diagnostics* diag) {
  Fields top(root, "", diag);
  r->name = top.String("name", std::filesystem::path(file).stem().string());
  // An absent section is one error, not one more for each required field inside it.
  Fields model = top.Map("model");
  if (top.Has("model")) {
    ReadModel(model, file, &r->model);
  } else {
    top.Error("model", "is required but missing (e.g. model: {type: mlp})");
  }
  if (top.Has("data")) {
    ReadData(top.Map("data"), file, &r->data);
  } else {
    top.Error("data", "is required but missing (e.g. data: {type: synthetic})");
  }
  ReadOptimizer(top.Map("optimizer"), &r->optimizer);
  ReadSchedule(top.Map("schedule"), &r->schedule);
  ReadTrain(top.Map("train"), &r->train);
  ReadCheckpoint(top.Map("checkpoint"), &r->checkpoint);
  ReadDistributed(top.Map("distributed"), &r->distributed);
  ReadMetrics(top.Map("metrics"), &r->metrics);
  top.Skip("sweep");
  top.RejectUnknown();

  // Combinations the model and the data must agree on.
  const std::string& mt = r->model.type;
  const std::string& dt = r->data.type;
  if (mt == "transformer" && dt != "text" && !dt.empty()) {
    model.Error("type", "a transformer is a byte-level language model and needs data.type text, "
                        "found data.type " + dt);
  }
  if (dt == "text" && (mt == "mlp" || mt == "cnn")) {
    model.Error("type", "text data needs model.type transformer (or torchscript), found " + mt);
  }
  bool images = dt == "idx" || dt == "digits" || (dt == "csv" && r->data.shape.size() == 3);
  if (mt == "cnn" && !images && !dt.empty()) {
    model.Error("type", "a cnn needs image data: data.type idx or digits, or csv with "
                        "data.shape [channels, height, width]");
  }
}

// Whether PBT may change `path` between a member's checkpoint and its resume from it.
bool PbtMayVary(const std::string& path) {
  for (const char* fixed : {"model.", "data.", "checkpoint.", "metrics.", "distributed."})
    if (path.rfind(fixed, 0) == 0) return false;
  for (const char* fixed : {"name", "optimizer.type", "optimizer.impl", "train.steps", "train.epochs", "train.seed",
                            "train.device", "train.precision"})
    if (path == fixed) return false;
  return true;
}

void ReadSweep(Fields f, const YAML::Node& root, const std::string& file, const Recipe& base,
               SweepSpec* s) {
  s->strategy = f.Choice("strategy", "random", {"grid", "random", "asha", "median", "hyperband", "tpe", "pbt"});
  const bool stops_early = s->strategy == "asha" || s->strategy == "median" || s->strategy == "hyperband";
  std::vector<std::string> metrics = MetricsOfTask(base.data.task);
  s->metric = f.Choice("metric", "val_loss", metrics);
  s->mode = f.Choice("mode", s->metric == "val_accuracy" ? "max" : "min", {"min", "max"});
  if (s->strategy == "hyperband") {
    if (f.Has("max_trials"))
      f.Error("max_trials", "hyperband's brackets fix the number of trials (from early_stopping.min_steps, "
                            "max_steps and reduction_factor); remove max_trials");
    f.Skip("max_trials");
  } else {
    s->max_trials = f.Integer("max_trials", s->strategy == "grid" ? 0 : 10, s->strategy == "grid" ? 0 : 1, 1000000);
  }
  s->max_concurrent = f.Integer("max_concurrent", 0, 0, 1000000);
  s->ranks = f.Integer("ranks", 1, 1, 4096);
  s->seed = f.Integer("seed", 0, 0, INT64_MAX);
  s->max_restarts = f.Integer("max_restarts", SweepSpec{}.max_restarts, 0, 1000);
  if (s->strategy == "asha" || s->strategy == "median") {
    s->sampler = f.Choice("sampler", "random", {"random", "tpe"});
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
      if (s->max_steps <= s->min_steps) {
        stopping.Error("max_steps", "must be above min_steps (" + std::to_string(s->min_steps) +
                                        "): hyperband halves trials between the two");
      } else {
        const auto brackets = HyperbandBrackets(s->min_steps, s->max_steps, s->reduction_factor, kMaxHyperbandTrials);
        if (brackets.empty() || brackets.back().milestones.size() != 1)
          stopping.Error("max_steps", "hyperband would run more than " + std::to_string(kMaxHyperbandTrials) +
                                          " trials between min_steps " + std::to_string(s->min_steps) + " and max_steps " +
                                          std::to_string(s->max_steps) + "; raise min_steps or reduction_factor");
      }
    }
    stopping.RejectUnknown();
  }
  if (s->sampler == "tpe") {
    Fields tpe = f.Map("tpe");
    s->tpe_startup_trials = tpe.Integer("startup_trials", 10, 1, 1000000);
    s->tpe_candidates = tpe.Integer("candidates", 24, 1, 100000);
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
      for (const char* key : {"values", "value", "distribution", "min", "max"}) p.Skip(key);
      p.RejectUnknown();  // names a misspelt key, with a suggestion
      continue;
    }
    p.RejectUnknown();
    if (s->strategy == "grid" && space.kind != ParameterSpace::Kind::kValues &&
        space.kind != ParameterSpace::Kind::kConstant) {
      p.Error("", "grid search needs {values: [...]} for every parameter");
    }

    // A candidate must make a valid recipe: this catches unknown fields and wrong types early.
    for (const std::string& candidate : candidates) {
      YAML::Node value;
      try {
        value = YAML::Load(candidate);
      } catch (const YAML::Exception& e) {
        p.Error("", "the value " + candidate + " does not read back as YAML: " + e.msg);
        break;
      }
      YAML::Node trial = YAML::Clone(root);
      trial.remove("sweep");
      Diagnostics inner(file);
      Status set = SetPath(trial, path, value);
      if (!set.ok()) {
        p.Error("", set.message());
        break;
      }
      inner.AddOverrideOrigin(path, "value " + Describe(value));
      Recipe scratch;
      ReadTrainingFields(trial, file, &scratch, &inner);
      if (!inner.ok()) {
        const bool floats_for_integers =
            (space.kind == ParameterSpace::Kind::kUniform ||
             space.kind == ParameterSpace::Kind::kLogUniform) &&
            std::floor(space.min) == space.min && std::floor(space.max) == space.max;
        p.Error("", "not a valid value for the recipe: " + inner.errors().front() +
                        (floats_for_integers ? " (uniform and log_uniform draw floats; an integer "
                                               "field needs int_uniform)"
                                             : ""));
        break;
      }
    }
    s->parameters.push_back(std::move(space));
  }
  const int64_t grid = GridSize(s->parameters);
  if (s->strategy == "grid" && diag->ok() && grid > 100000) {
    f.Error("parameters", "the grid has " +
                              (grid == INT64_MAX ? "at least 2^63" : std::to_string(grid)) +
                              " points; more than 100000 is surely a mistake");
  }
}

}  // namespace

StatusOr<Recipe> ParseRecipe(const std::string& text, const std::string& file,
                             const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return InvalidArgument(Printable(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                                     std::to_string(e.mark.column + 1) + ": not valid YAML: " + e.msg));
  }
  Diagnostics diag(file);
  if (!root.IsMap()) {
    diag.Error(root.Mark(), "recipe", "expected a mapping with model, data, train, ..., found " +
                                          Describe(root));
    return diag.ToStatus();
  }
  for (const std::string& o : overrides) RETURN_IF_ERROR(ApplyOverride(root, o, &diag));

  Recipe recipe;
  recipe.file = file;
  recipe.overrides = overrides;
  ReadTrainingFields(root, file, &recipe, &diag);
  if (root["sweep"].IsDefined() && !root["sweep"].IsNull()) {
    recipe.has_sweep = true;
    ReadSweep(Fields(root["sweep"], "sweep", &diag), root, file, recipe, &recipe.sweep);
  }
  RETURN_IF_ERROR(diag.ToStatus());
  return recipe;
}

StatusOr<std::string> TrialRecipeYaml(const std::string& text, const std::string& file,
                                      const std::vector<std::string>& overrides) {
  RETURN_IF_ERROR(ParseRecipe(text, file, overrides).status());
  YAML::Node root = YAML::Load(text);
  Diagnostics diag(file);
  for (const std::string& o : overrides) RETURN_IF_ERROR(ApplyOverride(root, o, &diag));
  root.remove("sweep");
  // The fields ReadModel and ReadData resolve against the recipe file.
  for (const auto& [section, key] : {std::pair{"model", "path"}, {"data", "path"}, {"data", "images"}, {"data", "labels"}}) {
    const YAML::Node& read_only = root;  // const lookups add no keys
    const YAML::Node mapping = read_only[section];
    if (!mapping.IsDefined() || !mapping.IsMap()) continue;
    const YAML::Node path = mapping[key];
    if (!path.IsDefined() || !path.IsScalar()) continue;
    root[section][key] = ResolvePath(file, path.as<std::string>());
  }
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

StatusOr<Recipe> LoadRecipe(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot read the recipe file (does it exist?)");
  std::stringstream text;
  text << in.rdbuf();
  return ParseRecipe(text.str(), path, overrides);
}

}  // namespace orchard
