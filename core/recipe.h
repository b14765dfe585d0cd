// The recipe: what to train and how, parsed from YAML and validated before anything runs.
//
//   StatusOr<Recipe> recipe = LoadRecipe("recipes/digits.yaml", {"optimizer.lr=0.01"});
//
// Every error names the file, line and field, what was expected and what was found; all errors of a
// recipe are reported together. Plain value types, thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/search_space.h"
#include "core/status.h"

namespace orchard {

struct MlpSpec {
  std::vector<int64_t> hidden = {64, 64};
  std::string activation = "relu";  // relu | gelu | tanh
  double dropout = 0.0;
};

// A small residual network for 1- or 3-channel images.
struct CnnSpec {
  int64_t channels = 16;  // width of the first stage; each later stage doubles it
  int64_t stages = 2;     // stages after the first downsample by 2
  int64_t blocks = 1;     // residual blocks per stage
  double dropout = 0.0;
};

// A decoder-only byte-level language model.
struct TransformerSpec {
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t width = 128;
  int64_t context = 64;
  double dropout = 0.0;
};

// A scripted module loaded from a file; forward(inputs) must return logits or predictions.
struct TorchScriptSpec {
  std::string path;
};

struct ModelSpec {
  std::string type;  // mlp | cnn | transformer | torchscript
  MlpSpec mlp;
  CnnSpec cnn;
  TransformerSpec transformer;
  TorchScriptSpec torchscript;
};

struct DataSpec {
  std::string type;                // synthetic | csv | idx | text | digits
  std::string task;                // classification | regression | language_model (derived for text)
  // synthetic
  int64_t samples = 4096;
  int64_t features = 16;
  int64_t classes = 4;
  double noise = 0.5;
  // csv / idx / text / digits (digits: optional, defaults to the copy scripts/setup extracts)
  std::string path;                // csv file, idx image file, text corpus
  std::string labels_path;         // idx label file
  std::string label_column = "label";
  std::vector<int64_t> shape;      // reshape each csv row's features, e.g. [1, 8, 8]
  bool normalize = true;           // standardise features with the training split's statistics
  // text
  int64_t context = 0;             // 0: the transformer's context
  // all
  double validation_fraction = 0.2;
  int64_t seed = 0;                // generates synthetic data and picks the held-out samples; independent of train.seed
  bool shuffle = true;
};

struct OptimizerSpec {
  std::string type = "adamw";  // sgd | adam | adamw
  double lr = 1e-3;
  double momentum = 0.0;       // sgd
  bool nesterov = false;       // sgd
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  std::string impl = "fused";  // fused: Orchard's multi-tensor kernels | torch: LibTorch's torch::optim
};

struct ScheduleSpec {
  std::string type = "constant";  // constant | linear | cosine | step
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.0;      // linear/cosine: final lr as a fraction of optimizer.lr
  int64_t step_size = 1000;       // step: decay every step_size steps
  double gamma = 0.1;             // step: multiply by gamma
};

struct TrainSpec {
  int64_t steps = 0;             // exactly one of steps and epochs is set
  int64_t epochs = 0;
  int64_t batch_size = 32;
  int64_t grad_accumulation = 1;
  double grad_clip = 0.0;        // 0: no clipping
  int64_t eval_interval = 0;     // 0: evaluate only at the end
  int64_t seed = 0;
  std::string device = "auto";   // auto | cpu | cuda | cuda:N
  std::string precision = "fp32";  // fp32 | bf16 (bf16 autocast on GPU only)
  int64_t threads = 0;           // intra-op CPU threads; 0: all cores
};

struct CheckpointSpec {
  int64_t interval = 0;  // steps between checkpoints; 0: only at the end and on preemption
  int64_t keep = 3;      // latest k kept
};

// Data-parallel training of a trial with several ranks (sweep.ranks, or ranks started by mpirun).
struct DistributedSpec {
  double bucket_mb = 25;          // gradients are all-reduced in buckets of about this size
  bool overlap = true;            // launch each bucket as backward fills it; false: all after backward
  double timeout_seconds = 300;   // a collective slower than this fails the attempt instead of hanging
};

struct MetricsSpec {
  int64_t log_interval = 0;             // steps between progress lines and train metrics; 0: ~20 a run
  std::string file = "metrics.jsonl";   // JSON lines, relative to the run's output directory
};

struct Recipe {
  std::string file;  // where it was read from (for messages)
  std::string name;
  ModelSpec model;
  DataSpec data;
  OptimizerSpec optimizer;
  ScheduleSpec schedule;
  TrainSpec train;
  CheckpointSpec checkpoint;
  DistributedSpec distributed;
  MetricsSpec metrics;
  bool has_sweep = false;
  SweepSpec sweep;
  std::vector<std::string> overrides;  // the --set key=value pairs that were applied, in order
};

// Reads, applies `overrides` ("optimizer.lr=0.01", values in YAML syntax) and validates a recipe.
// On failure the status message lists every problem, one per line, as
// "FILE:LINE:COL: FIELD: expected ..., found ...".
StatusOr<Recipe> LoadRecipe(const std::string& path, const std::vector<std::string>& overrides);

// Same as LoadRecipe for text already in memory; `file` names it in messages.
StatusOr<Recipe> ParseRecipe(const std::string& text, const std::string& file,
                             const std::vector<std::string>& overrides);

// The recipe one trial of a sweep trains, as YAML that reads back as that trial's recipe from any
// directory: `overrides` applied (the sweep's, then the trial's hyperparameters), the sweep block
// removed and relative file paths resolved against `file`. Comments and layout are not kept.
// ParseRecipe's errors for a recipe that does not parse.
StatusOr<std::string> TrialRecipeYaml(const std::string& text, const std::string& file,
                                      const std::vector<std::string>& overrides);

}  // namespace orchard
