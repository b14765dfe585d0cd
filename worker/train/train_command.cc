#include "worker/train/train_command.h"

#include <CLI/CLI.hpp>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

#include "core/build_info.h"
#include "core/data_fingerprint.h"
#include "core/provenance.h"
#include "core/recipe.h"
#include "core/sha256.h"
#include "worker/train/torchscript_export.h"
#include "worker/train/trainer.h"

namespace orchard::train {
namespace {

const char* OutcomeName(TrainResult::Outcome o) {
  switch (o) {
    case TrainResult::Outcome::kCompleted: return "completed";
    case TrainResult::Outcome::kPreempted: return "preempted";
    case TrainResult::Outcome::kDiverged: return "diverged";
  }
  return "unknown";
}

nlohmann::json Summary(const TrainResult& r) {
  return {{"outcome", OutcomeName(r.outcome)}, {"message", r.message}, {"start_step", r.start_step},
          {"steps", r.steps}, {"total_steps", r.total_steps}, {"first_train_loss", r.first_train_loss},
          {"final_train_loss", r.final_train_loss}, {"final_eval", r.final_eval},
          {"samples_per_second", r.samples_per_second}, {"step_time_ms", r.step_time_ms},
          {"parameter_count", r.parameter_count}, {"device", r.device},
          {"parameter_digest", r.parameter_digest}, {"last_checkpoint", r.last_checkpoint},
          {"ranks", r.ranks}, {"buckets", r.buckets}};
}

StatusOr<std::string> ReadRecipeText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot read the recipe file (does it exist?)");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// What the command knows of the run's origins; Train adds the libraries and the device. A data file
// that cannot be read is left out here: loading it fails next, with the better message.
Provenance DescribeOrigins(const Recipe& recipe, const std::string& text, const std::string& origin,
                           const std::vector<std::string>& overrides, int64_t epoch) {
  Provenance p;
  p.attempt = epoch;
  p.recipe_file = origin;
  // The recipe parsed, so this cannot fail.
  p.resolved_recipe = TrialRecipeYaml(text, origin, overrides).value();
  p.recipe_sha256 = Sha256Hex(p.resolved_recipe);
  FingerprintCache cache(DefaultFingerprintCacheFile());
  for (const std::string& file : InputFiles(recipe)) {
    StatusOr<FileFingerprint> fingerprint = cache.Fingerprint(file);
    if (fingerprint.ok()) p.data.push_back(*fingerprint);
  }
  (void)cache.Save();  // a cache that cannot be written costs only a hash next time
  const BuildInfo& build = ThisBuild();
  p.orchard_version = build.version;
  p.commit = build.commit;
  p.dirty = build.dirty;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) p.host = host;
  p.train_seed = recipe.train.seed;
  p.data_seed = recipe.data.seed;
  return p;
}

}  // namespace

int RunTrainCommand(const std::vector<std::string>& args, const TrainCommandEnv& env) {
  std::vector<const char*> argv = {"orchard-train"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  const int argc = static_cast<int>(argv.size());
  CLI::App app{"orchard-train: train one configuration of an Orchard recipe with LibTorch (no coordinator)."};
  app.footer("Exit codes: 0 completed, 1 failed, 2 bad recipe or flags, 3 diverged, 4 preempted (SIGTERM/SIGINT:\n"
             "a checkpoint was written; run again with --resume to continue), 5 fenced (a newer --epoch owns --out).\n"
             "orchard-train --zygote serves as the worker agent's warm trainer (JSON lines on stdin/stdout).");
  std::string recipe_path, out_dir, summary_path, recipe_origin, decision_file;
  std::vector<std::string> overrides;
  bool resume = false, evaluate_only = false, validate_only = false, quiet = false;
  app.add_option("recipe", recipe_path, "Recipe YAML file")->required();
  app.add_option("--set", overrides, "Override a recipe field, e.g. --set optimizer.lr=0.01 (repeatable)");
  app.add_option("--out", out_dir, "Output directory for metrics.jsonl and checkpoints/ (default runs/<recipe name>)");
  app.add_flag("--resume", resume, "Continue from the latest complete checkpoint in the output directory, if any");
  app.add_flag("--evaluate-only", evaluate_only,
               "Do not train: evaluate the latest checkpoint in the output directory once on the recipe's validation "
               "data and record the metrics (with or without --resume)");
  int64_t epoch = 0;
  app.add_option("--epoch", epoch,
                 "Fencing epoch (the worker passes the attempt number): checkpoints of a lower epoch are refused once "
                 "this one has started, and this one stops if a higher one has")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--decisions", decision_file,
                 "The file the worker answers in (decision.json): at an evaluation the sweep's strategy judges, wait "
                 "there for its decision, at most sweep.decision_timeout_seconds (needs --epoch: the attempt number)");
  double gpu_memory_fraction = 0;
  app.add_option("--gpu-memory-fraction", gpu_memory_fraction,
                 "Use at most this share of the GPU's memory (the worker sets it for trials that share a GPU); "
                 "past it the run fails with an error that says so")
      ->check(CLI::Range(0.0, 1.0));
  app.add_flag("--validate", validate_only, "Only validate the recipe and exit");
  app.add_flag("-q,--quiet", quiet, "No progress lines");
  app.add_option("--summary", summary_path, "Write the run's result as JSON to this file");
  app.add_option("--recipe-origin", recipe_origin,
                 "Name the recipe as this path in messages and resolve its relative paths against it (the worker "
                 "uses it for a recipe submitted from another directory)");
  try {
    app.parse(argc, argv.data());
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, *env.out, *env.err);
    return code == 0 ? 0 : kExitBadInput;
  }

  const std::string origin = recipe_origin.empty() ? recipe_path : recipe_origin;
  const StatusOr<std::string> text = ReadRecipeText(recipe_path);
  auto recipe = text.ok() ? ParseRecipe(*text, origin, overrides) : StatusOr<Recipe>(text.status());
  if (!recipe.ok()) {
    *env.err << "orchard-train: invalid recipe; nothing was run:\n" << recipe.status().message() << "\n";
    return kExitBadInput;
  }
  if (validate_only) {
    *env.out << recipe_path << ": valid (" << recipe->model.type << " on " << recipe->data.type << " data"
              << (recipe->has_sweep ? ", sweep of " + std::to_string(recipe->sweep.parameters.size()) + " parameters" : "")
              << ")\n";
    return kExitCompleted;
  }

  TrainOptions options;
  options.output_dir = out_dir.empty() ? "runs/" + recipe->name : out_dir;
  options.resume = resume;
  options.evaluate_only = evaluate_only;
  options.epoch = epoch;
  options.progress = quiet ? nullptr : env.out;
  options.stop_requested = env.stop_requested;
  options.decision_file = decision_file;
  options.gpu_memory_fraction = gpu_memory_fraction;
  ApplyGpuMemoryShare(gpu_memory_fraction);
  // Described before the ranks meet: hashing new data can take longer than a collective may wait.
  Provenance provenance = DescribeOrigins(*recipe, *text, origin, overrides, epoch);
  std::unique_ptr<comm::Communicator> communicator;
  if (env.make_communicator) {
    auto made = env.make_communicator(*recipe, &options.cuda_device);
    if (!made.ok()) {
      *env.err << "orchard-train: cannot set up the ranks' communicator: " << made.status().message() << "\n";
      return made.status().code() == StatusCode::kInvalidArgument ? kExitBadInput : kExitFailed;
    }
    communicator = std::move(*made);
    options.communicator = communicator.get();
  }
  const bool rank_zero = !communicator || communicator->rank() == 0;
  if (rank_zero) options.provenance = &provenance;
  auto result = Train(*recipe, options);
  if (!result.ok()) {
    *env.err << "orchard-train: " << result.status().message() << "\n";
    const auto code = result.status().code();
    if (code == StatusCode::kAborted) return kExitFenced;
    return code == StatusCode::kInvalidArgument || code == StatusCode::kNotFound ||
                   code == StatusCode::kFailedPrecondition
               ? kExitBadInput
               : kExitFailed;
  }
  if (!summary_path.empty() && rank_zero) std::ofstream(summary_path) << Summary(*result).dump(2) << "\n";
  switch (result->outcome) {
    case TrainResult::Outcome::kDiverged:
      *env.err << "orchard-train: " << result->message << "\n";
      return kExitDiverged;
    case TrainResult::Outcome::kPreempted:
      return kExitPreempted;
    case TrainResult::Outcome::kCompleted:
      break;
  }
  if (!quiet && rank_zero && !evaluate_only) {
    *env.out << "done: " << result->steps << " steps";
    for (const auto& [name, value] : result->final_eval) *env.out << ", " << name << " " << value;
    if (result->samples_per_second > 0) *env.out << ", " << static_cast<long>(result->samples_per_second) << " samples/s";
    *env.out << "; checkpoint "
              << result->last_checkpoint << ", metrics " << options.output_dir << "/" << recipe->metrics.file << "\n";
  }
  return kExitCompleted;
}

int RunExportCommand(const std::vector<std::string>& args, const TrainCommandEnv& env) {
  std::vector<const char*> argv = {"orchard-train export"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  CLI::App app{"orchard-train export: write a checkpoint's model as a TorchScript file for serving (torch.jit.load)."};
  app.footer("The file takes raw inputs (the standardisation the model was trained with is part of it) and returns\n"
             "logits for classification, values for regression. Model types: " + std::string(kExportableModelTypes) +
             ".\nExit codes: 0 written, 1 failed, 2 bad recipe, flags, checkpoint or model type.");
  std::string recipe_path, checkpoint_dir, out_file;
  app.add_option("--recipe", recipe_path, "The recipe the checkpoint's run trained (its hyperparameters applied)")->required();
  app.add_option("--checkpoint", checkpoint_dir, "A checkpoint directory (step-<n>)")->required();
  app.add_option("--out", out_file, "The TorchScript file to write, e.g. model.pt")->required();
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, *env.out, *env.err);
    return code == 0 ? 0 : kExitBadInput;
  }
  auto recipe = LoadRecipe(recipe_path, {});
  if (!recipe.ok()) {
    *env.err << "orchard-train export: invalid recipe; nothing was written:\n" << recipe.status().message() << "\n";
    return kExitBadInput;
  }
  const Status exported = ExportTorchScript(*recipe, checkpoint_dir, out_file);
  if (!exported.ok()) {
    *env.err << "orchard-train export: " << exported.message() << "\n";
    return exported.code() == StatusCode::kInternal ? kExitFailed : kExitBadInput;
  }
  *env.out << "wrote " << out_file << " (" << recipe->model.type << " from " << checkpoint_dir << ")\n";
  return kExitCompleted;
}

}  // namespace orchard::train
