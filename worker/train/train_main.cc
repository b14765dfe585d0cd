// orchard-train: trains one configuration of a recipe, with no coordinator.
//
//   orchard-train recipes/digits.yaml --set optimizer.lr=0.01 --out runs/digits
//
// Exit codes (trainer.h): 0 completed, 1 failed, 2 bad input, 3 diverged, 4 preempted.
//
//   orchard-train --zygote
// is the warm trainer the worker agent keeps: LibTorch loaded once, one forked child per trial
// (zygote.h).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/recipe.h"
#include "worker/train/trainer.h"
#include "worker/train/zygote.h"

namespace {

std::atomic<bool> stop_requested{false};

void RequestStop(int) { stop_requested.store(true); }

const char* OutcomeName(orchard::train::TrainResult::Outcome o) {
  switch (o) {
    case orchard::train::TrainResult::Outcome::kCompleted: return "completed";
    case orchard::train::TrainResult::Outcome::kPreempted: return "preempted";
    case orchard::train::TrainResult::Outcome::kDiverged: return "diverged";
  }
  return "unknown";
}

nlohmann::json Summary(const orchard::train::TrainResult& r) {
  return {{"outcome", OutcomeName(r.outcome)}, {"message", r.message}, {"start_step", r.start_step},
          {"steps", r.steps}, {"total_steps", r.total_steps}, {"first_train_loss", r.first_train_loss},
          {"final_train_loss", r.final_train_loss}, {"final_eval", r.final_eval},
          {"samples_per_second", r.samples_per_second}, {"step_time_ms", r.step_time_ms},
          {"parameter_count", r.parameter_count}, {"device", r.device},
          {"parameter_digest", r.parameter_digest}, {"last_checkpoint", r.last_checkpoint}};
}

orchard::StatusOr<orchard::Recipe> LoadRecipeAs(const std::string& path, const std::string& origin,
                                               const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) return orchard::NotFound(path + ": cannot read the recipe");
  std::stringstream text;
  text << in.rdbuf();
  return orchard::ParseRecipe(text.str(), origin, overrides);
}

}  // namespace

// The whole command line of one training run (args exclude the program name); returns its exit code.
int RunTrainCommand(const std::vector<std::string>& args) {
  using namespace orchard::train;
  std::vector<const char*> argv = {"orchard-train"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  const int argc = static_cast<int>(argv.size());
  CLI::App app{"orchard-train: train one configuration of an Orchard recipe with LibTorch (no coordinator)."};
  app.footer("Exit codes: 0 completed, 1 failed, 2 bad recipe or flags, 3 diverged, 4 preempted (SIGTERM/SIGINT:\n"
             "a checkpoint was written; run again with --resume to continue).\n"
             "orchard-train --zygote serves as the worker agent's warm trainer (JSON lines on stdin/stdout).");
  std::string recipe_path, out_dir, summary_path, recipe_origin;
  std::vector<std::string> overrides;
  bool resume = false, validate_only = false, quiet = false;
  app.add_option("recipe", recipe_path, "Recipe YAML file")->required();
  app.add_option("--set", overrides, "Override a recipe field, e.g. --set optimizer.lr=0.01 (repeatable)");
  app.add_option("--out", out_dir, "Output directory for metrics.jsonl and checkpoints/ (default runs/<recipe name>)");
  app.add_flag("--resume", resume, "Continue from the latest complete checkpoint in the output directory, if any");
  app.add_flag("--validate", validate_only, "Only validate the recipe and exit");
  app.add_flag("-q,--quiet", quiet, "No progress lines");
  app.add_option("--summary", summary_path, "Write the run's result as JSON to this file");
  app.add_option("--recipe-origin", recipe_origin,
                 "Name the recipe as this path in messages and resolve its relative paths against it (the worker "
                 "uses it for a recipe submitted from another directory)");
  try {
    app.parse(argc, argv.data());
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitBadInput;
  }

  auto recipe = recipe_origin.empty() ? orchard::LoadRecipe(recipe_path, overrides) : LoadRecipeAs(recipe_path, recipe_origin, overrides);
  if (!recipe.ok()) {
    std::cerr << "orchard-train: invalid recipe; nothing was run:\n" << recipe.status().message() << "\n";
    return kExitBadInput;
  }
  if (validate_only) {
    std::cout << recipe_path << ": valid (" << recipe->model.type << " on " << recipe->data.type << " data"
              << (recipe->has_sweep ? ", sweep of " + std::to_string(recipe->sweep.parameters.size()) + " parameters" : "")
              << ")\n";
    return kExitCompleted;
  }

  struct sigaction action = {};
  action.sa_handler = RequestStop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  TrainOptions options;
  options.output_dir = out_dir.empty() ? "runs/" + recipe->name : out_dir;
  options.resume = resume;
  options.progress = quiet ? nullptr : &std::cout;
  options.stop_requested = &stop_requested;
  auto result = Train(*recipe, options);
  if (!result.ok()) {
    std::cerr << "orchard-train: " << result.status().message() << "\n";
    const auto code = result.status().code();
    return code == orchard::StatusCode::kInvalidArgument || code == orchard::StatusCode::kNotFound ||
                   code == orchard::StatusCode::kFailedPrecondition
               ? kExitBadInput
               : kExitFailed;
  }
  if (!summary_path.empty()) std::ofstream(summary_path) << Summary(*result).dump(2) << "\n";
  switch (result->outcome) {
    case TrainResult::Outcome::kDiverged:
      std::cerr << "orchard-train: " << result->message << "\n";
      return kExitDiverged;
    case TrainResult::Outcome::kPreempted:
      return kExitPreempted;
    case TrainResult::Outcome::kCompleted:
      break;
  }
  if (!quiet) {
    std::cout << "done: " << result->steps << " steps";
    for (const auto& [name, value] : result->final_eval) std::cout << ", " << name << " " << value;
    if (result->samples_per_second > 0) std::cout << ", " << static_cast<long>(result->samples_per_second) << " samples/s";
    std::cout << "; checkpoint "
              << result->last_checkpoint << ", metrics " << options.output_dir << "/" << recipe->metrics.file << "\n";
  }
  return kExitCompleted;
}

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--zygote") return orchard::train::ServeZygote(RunTrainCommand);
  return RunTrainCommand(std::vector<std::string>(argv + 1, argv + argc));
}
