// Training throughput of orchard-train's runtime against the same training in plain PyTorch (Python,
// the same venv), side by side in one run, on this machine's CPU (or GPU with --device cuda).
//
//   build/bin/orchard-bench-train [--repeats 3] [--threads 2]
//
// Each comparison ends with a BENCH line; the figure is the median over the repeats.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>

#include "core/recipe.h"
#include "worker/train/trainer.h"

namespace {

struct Case {
  std::string name;
  std::string recipe;  // orchard recipe (YAML)
  nlohmann::json peer;  // the same configuration for bench/peer_train_pytorch.py
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double RunOurs(const Case& c, int threads, int repeat) {
  auto recipe = orchard::ParseRecipe(c.recipe, "bench/" + c.name + ".yaml", {"train.threads=" + std::to_string(threads)});
  if (!recipe.ok()) throw std::runtime_error(recipe.status().message());
  orchard::train::TrainOptions options;
  options.output_dir = "/tmp/orchard-bench-train-" + c.name + "-" + std::to_string(repeat);
  std::filesystem::remove_all(options.output_dir);
  auto result = orchard::train::Train(*recipe, options);
  std::filesystem::remove_all(options.output_dir);
  if (!result.ok()) throw std::runtime_error(result.status().message());
  return result->samples_per_second;
}

double RunPeer(const Case& c, int threads) {
  nlohmann::json cfg = c.peer;
  cfg["threads"] = threads;
  std::string cmd = std::string(ORCHARD_PYTHON) + " " + ORCHARD_SOURCE_DIR "/bench/peer_train_pytorch.py '" + cfg.dump() + "'";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot run " + cmd);
  char line[256];
  double value = 0;
  while (fgets(line, sizeof line, pipe.get())) std::sscanf(line, "samples_per_second=%lf", &value);
  if (value <= 0) throw std::runtime_error("the PyTorch peer printed no figure: " + cmd);
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Training throughput: orchard-train's runtime against plain PyTorch on the same work."};
  int repeats = 3, threads = 2;
  app.add_option("--repeats", repeats, "Runs of each side; the median is reported")->check(CLI::Range(1, 20));
  app.add_option("--threads", threads, "Intra-op CPU threads for both sides")->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);

  const std::vector<Case> cases = {
      {"train_mlp_cpu",
       "model: {type: mlp, hidden: [64, 64]}\n"
       "data: {type: synthetic, samples: 8192, features: 16, classes: 4, validation_fraction: 0.01}\n"
       "optimizer: {type: adamw, lr: 0.001}\nschedule: {type: cosine}\n"
       "train: {steps: 3000, batch_size: 64, grad_clip: 1.0, device: cpu}\n",
       {{"model", "mlp"}, {"hidden", {64, 64}}, {"features", 16}, {"classes", 4}, {"samples", 8192},
        {"batch_size", 64}, {"steps", 3000}, {"lr", 0.001}, {"grad_clip", 1.0}}},
      {"train_transformer_cpu",
       "model: {type: transformer, layers: 2, heads: 4, width: 128, context: 64}\n"
       "data: {type: text, path: /usr/share/common-licenses/GPL-3, validation_fraction: 0.01}\n"
       "optimizer: {type: adamw, lr: 0.001}\nschedule: {type: cosine}\n"
       "train: {steps: 60, batch_size: 32, grad_clip: 1.0, device: cpu}\n",
       {{"model", "transformer"}, {"layers", 2}, {"heads", 4}, {"width", 128}, {"context", 64}, {"samples", 540},
        {"batch_size", 32}, {"steps", 60}, {"lr", 0.001}, {"grad_clip", 1.0}}},
  };
  for (const Case& c : cases) {
    std::vector<double> ours, peer;
    for (int r = 0; r < repeats; ++r) {  // interleaved, so drifts in machine load hit both sides
      ours.push_back(RunOurs(c, threads, r));
      peer.push_back(RunPeer(c, threads));
      std::printf("%s run %d: orchard %.0f samples/s, PyTorch %.0f samples/s\n", c.name.c_str(), r + 1, ours.back(),
                  peer.back());
      std::fflush(stdout);
    }
    double o = Median(ours), p = Median(peer);
    std::printf("BENCH %s ours=%.0f peer=%.0f unit=samples/s ratio=%.2f\n", c.name.c_str(), o, p, o / p);
    std::fflush(stdout);
  }
  return 0;
}
