// Fused trials against one trial per slot, side by side in one run: the same sweep (random search
// over learning rate and weight decay, 32 trials by default) run twice by the real CLI (`orchard run`)
// on this machine's slots, once with sweep.fuse: off (each trial its own trainer and model) and then
// with each sweep.fuse setting asked for (groups of up to K trials, or auto; each group one trainer
// and one fused model). The figure is trials per hour: trials over the wall time from `orchard run`'s start to its
// exit, the median over --repeats runs of each setting (taken in turns, so a slow spell of a shared
// machine falls on all of them). The sweeps draw the same hyperparameters (same seed), so their best
// results are shown too.
//
//   build/bin/orchard-bench-fused [--model mlp|cnn] [--trials 32] [--slots 2] [--fuse 4,8,16,auto] [--repeats 3]
//                                 [--device cpu]
//
// --model mlp is quickstart's (recipes/quickstart.yaml: hidden [64, 64], 8192 samples of 32
// features, 800 steps of 64); cnn is digits' (recipes/digits.yaml: a residual CNN of 16 channels,
// 15 epochs of 32 on the 8x8 digits). --device cuda trains on the GPU (the program is the same).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/sweep_runs.h"
#include "core/file_tree.h"

namespace {

namespace fs = std::filesystem;
using orchard::bench::Bench;
using orchard::bench::RunLocalSweep;
using orchard::bench::SweepFigures;
using orchard::bench::Trainers;
using orchard::bench::TrialStates;

// Quickstart's model and data (recipes/quickstart.yaml), or digits' (recipes/digits.yaml).
std::string Recipe(const std::string& model, int trials, const std::string& device) {
  const std::string training =
      model == "mlp" ? "name: bench-fused-mlp\n"
                       "model: {type: mlp, hidden: [64, 64], activation: relu}\n"
                       "data: {type: synthetic, task: classification, samples: 8192, features: 32, classes: 8, noise: 1.5,\n"
                       "       validation_fraction: 0.2}\n"
                       "optimizer: {type: adamw, lr: 3.0e-3, weight_decay: 0.01}\n"
                       "schedule: {type: cosine, warmup_steps: 50}\n"
                       "train: {steps: 800, batch_size: 64, grad_clip: 1.0, eval_interval: 100, seed: 1, device: " + device + "}\n"
                       "checkpoint: {interval: 200, keep: 2}\n"
                     : "name: bench-fused-cnn\n"
                       "model: {type: cnn, channels: 16, stages: 1, blocks: 1}\n"
                       "data: {type: digits, validation_fraction: 0.2, seed: 0}\n"
                       "optimizer: {type: adamw, lr: 3.0e-3, weight_decay: 0.01}\n"
                       "schedule: {type: cosine, warmup_steps: 30}\n"
                       "train: {epochs: 15, batch_size: 32, eval_interval: 100, seed: 0, device: " + device + "}\n"
                       "checkpoint: {keep: 2}\n";
  return training +
         "sweep:\n"
         "  strategy: random\n"
         "  metric: val_loss\n"
         "  max_trials: " + std::to_string(trials) + "\n"
         "  seed: 7\n"
         "  parameters:\n"
         "    optimizer.lr: {distribution: log_uniform, min: 1.0e-4, max: 3.0e-2}\n"
         "    optimizer.weight_decay: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}\n";
}

std::string Fixed(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", seconds);
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"orchard-bench-fused: trials per hour of a sweep with fused trials against one trial per slot."};
  std::string model = "mlp", device = "cpu";
  int trials = 32, slots = 2, repeats = 3;
  std::vector<std::string> fuse = {"4", "8", "16", "auto"};
  bool keep_state = false;
  app.add_option("--model", model, "The sweep's trials: mlp (quickstart's) or cnn (digits')")
      ->check(CLI::IsMember({"mlp", "cnn"}));
  app.add_option("--trials", trials, "Trials in each sweep")->check(CLI::Range(2, 100000));
  app.add_option("--slots", slots, "CPU slots of the local worker (trials, or fused groups, at once)")->check(CLI::Range(1, 1024));
  app.add_option("--fuse", fuse, "The sweep.fuse settings to measure, comma-separated: group sizes (2 to 256) or auto")
      ->delimiter(',')
      ->check(CLI::IsMember({"auto"}) | CLI::Range(2, 256));
  app.add_option("--repeats", repeats, "Runs of each setting; the median wall time counts")->check(CLI::Range(1, 100));
  app.add_option("--device", device, "train.device of the trials")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_flag("--keep-state", keep_state, "Keep each sweep's state directory and print where");
  CLI11_PARSE(app, argc, argv);

  const fs::path orchard = fs::path(argv[0]).parent_path() / "orchard";
  const fs::path dir = orchard::bench::MakeTempDir("orchard-bench-fused-");
  const std::string recipe = (dir / "recipe.yaml").string();
  std::ofstream(recipe) << Recipe(model, trials, device);
  std::printf("== fused_%s: %d trials of %s on %s, %d slot(s); one trial per slot, then groups of %s\n", model.c_str(),
              trials, model.c_str(), device.c_str(), slots, [&] {
                std::string settings;
                for (const std::string& k : fuse) settings += (settings.empty() ? "" : ", ") + k;
                return settings;
              }().c_str());
  try {
    std::vector<std::string> settings = {"off"};
    settings.insert(settings.end(), fuse.begin(), fuse.end());
    std::vector<std::vector<SweepFigures>> runs(settings.size());
    for (int r = 0; r < repeats; ++r) {
      for (size_t i = 0; i < settings.size(); ++i) {
        runs[i].push_back(RunLocalSweep(orchard.string(), recipe, {"sweep.fuse=" + settings[i]}, slots,
                                        "orchard-bench-fused-" + settings[i] + "-", keep_state));
        // A sweep that did not complete would time something else.
        if (runs[i].back().state != "completed")
          throw std::runtime_error("the fuse: " + settings[i] + " sweep ended " + runs[i].back().state + " (" +
                                   TrialStates(runs[i].back()) + ")");
      }
    }
    std::vector<std::pair<std::string, SweepFigures>> rows;
    std::printf("%-6s %-10s %-16s %-12s %9s %12s %14s  %s\n", "fuse", "sweep", "trials", "trainers", "wall s", "trials/h",
                "best val_acc", "each run's wall s");
    for (size_t i = 0; i < settings.size(); ++i) {
      std::vector<SweepFigures> sorted = runs[i];
      std::sort(sorted.begin(), sorted.end(), [](const SweepFigures& a, const SweepFigures& b) { return a.seconds < b.seconds; });
      const SweepFigures& f = sorted[sorted.size() / 2];
      std::string each;
      for (const SweepFigures& run : runs[i]) each += (each.empty() ? "" : " ") + Fixed(run.seconds);
      std::printf("%-6s %-10s %-16s %-12s %9.1f %12.0f %14.4f  %s\n", settings[i].c_str(), f.state.c_str(),
                  TrialStates(f).c_str(), Trainers(f).c_str(), f.seconds, 3600.0 * trials / f.seconds, f.best, each.c_str());
      rows.emplace_back(settings[i], f);
    }
    // On a shared machine a slow spell moves all of one round's runs together: each round's own
    // speedup (its one-per-slot time over its fused time) shows how much of a spread that is.
    for (size_t i = 1; i < settings.size(); ++i) {
      std::vector<double> paired;
      for (int r = 0; r < repeats; ++r) paired.push_back(runs[0][r].seconds / runs[i][r].seconds);
      std::string each;
      for (double ratio : paired) each += " " + Fixed(ratio) + "x";
      std::sort(paired.begin(), paired.end());
      std::printf("fuse %s, each round's speedup:%s (median %sx)\n", settings[i].c_str(), each.c_str(),
                  Fixed(paired[paired.size() / 2]).c_str());
    }
    const SweepFigures& alone = rows.front().second;
    for (size_t i = 1; i < rows.size(); ++i) {
      const SweepFigures& fused = rows[i].second;
      const double ours = 3600.0 * trials / fused.seconds, peer = 3600.0 * trials / alone.seconds;
      Bench("fused_" + model + "_" + device + "_" + rows[i].first + "_vs_one_per_slot", ours, peer, "trials/h", ours / peer);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "orchard-bench-fused: %s\n", e.what());
    orchard::RemoveTree(dir);
    return 1;
  }
  orchard::RemoveTree(dir);
  return 0;
}
