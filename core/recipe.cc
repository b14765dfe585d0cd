#include "core/recipe.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/atomic_file.h"
#include "core/recipe_internal.h"

namespace orchard {

using namespace recipe_internal;

namespace {

constexpr int64_t kMaxWidth = 1 << 20;

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream in(path);
  for (std::string part; std::getline(in, part, '.');) parts.push_back(part);
  return parts;
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

}  // namespace

namespace recipe_internal {

std::string ToFlowYaml(const YAML::Node& node) {
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

Status SetPath(YAML::Node root, const std::string& path, const YAML::Node& value) {
  std::vector<std::string> parts = SplitPath(path);
  if (parts.empty() || std::any_of(parts.begin(), parts.end(), [](auto& p) { return p.empty(); })) {
    return InvalidArgument("'" + path + "' is not a dotted field name such as optimizer.lr");
  }
  YAML::Node cur = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = cur[parts[i]];
    // A null value removes the field ("--set path="), and a field that is not there is removed already.
    if (value.IsNull() && (!next.IsDefined() || !next.IsMap())) return OkStatus();
    if (next.IsDefined() && !next.IsNull() && !next.IsMap()) {
      return InvalidArgument("cannot set '" + path + "': '" + parts[i] + "' is not a mapping");
    }
    if (!next.IsDefined() || next.IsNull()) cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
    cur.reset(cur[parts[i]]);
  }
  if (value.IsNull()) {
    cur.remove(parts.back());
  } else {
    cur[parts.back()] = value;
  }
  return OkStatus();
}

std::vector<std::string> MetricsOfTask(const std::string& task) {
  if (task == "classification") return {"val_loss", "val_accuracy", "train_loss"};
  if (task == "language_model") return {"val_loss", "val_perplexity", "train_loss"};
  return {"val_loss", "train_loss"};
}

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

}  // namespace recipe_internal

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
  const std::optional<std::string> text = ReadWholeFile(path);
  if (!text) return NotFound(path + ": cannot read the recipe file (does it exist?)");
  return ParseRecipe(*text, path, overrides);
}

}  // namespace orchard
