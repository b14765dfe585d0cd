// Training throughput of orchard-train's runtime against the same training in plain PyTorch (Python,
// the same venv), side by side in one run, on this machine's CPU (or GPU with --device cuda).
//
//   build/bin/orchard-bench-train [--repeats 3] [--threads 2] [--device cpu|cuda]
//
// Each comparison ends with a BENCH line; the figure is the median over the repeats.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "core/file_tree.h"
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
  orchard::RemoveTree(options.output_dir);
  auto result = orchard::train::Train(*recipe, options);
  orchard::RemoveTree(options.output_dir);
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

// The transformer's text: generated, so that the bench runs where no particular file exists (GPU
// nodes of other distributions); its size gives the peer's sample count below.
constexpr size_t kCorpusBytes = 35149;
std::string WriteCorpus() {
  const std::string path = "/tmp/orchard-bench-train-corpus.txt";
  const char* words[] = {"the ", "model ", "learns ", "a ", "sweep ", "of ", "trials ", "and ", "keeps ", "best. "};
  std::string text;
  uint32_t state = 7;
  while (text.size() < kCorpusBytes) {
    state = state * 1664525u + 1013904223u;
    text += words[(state >> 16) % 10];
  }
  text.resize(kCorpusBytes);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Training throughput: orchard-train's runtime against plain PyTorch on the same work."};
  int repeats = 3, threads = 2;
  app.add_option("--repeats", repeats, "Runs of each side; the median is reported")->check(CLI::Range(1, 20));
  app.add_option("--threads", threads, "Intra-op CPU threads for both sides")->check(CLI::Range(1, 256));
  std::string device = "cpu";
  app.add_option("--device", device, "Where both sides train")->check(CLI::IsMember({"cpu", "cuda"}));
  CLI11_PARSE(app, argc, argv);

  const std::vector<Case> cases = {
      {"train_mlp_" + device,
       "model: {type: mlp, hidden: [64, 64]}\n"
       "data: {type: synthetic, samples: 8192, features: 16, classes: 4, validation_fraction: 0.01}\n"
       "optimizer: {type: adamw, lr: 0.001}\nschedule: {type: cosine}\n"
       "train: {steps: 3000, batch_size: 64, grad_clip: 1.0, device: " + device + "}\n",
       {{"model", "mlp"}, {"hidden", {64, 64}}, {"features", 16}, {"classes", 4}, {"samples", 8192},
        {"batch_size", 64}, {"steps", 3000}, {"lr", 0.001}, {"grad_clip", 1.0}, {"device", device}}},
      {"train_transformer_" + device,
       "model: {type: transformer, layers: 2, heads: 4, width: 128, context: 64}\n"
       "data: {type: text, path: " + WriteCorpus() + ", validation_fraction: 0.01}\n"
       "optimizer: {type: adamw, lr: 0.001}\nschedule: {type: cosine}\n"
       "train: {steps: 60, batch_size: 32, grad_clip: 1.0, device: " + device + "}\n",
       {{"model", "transformer"}, {"layers", 2}, {"heads", 4}, {"width", 128}, {"context", 64}, {"samples", 540},
        {"batch_size", 32}, {"steps", 60}, {"lr", 0.001}, {"grad_clip", 1.0}, {"device", device}}},
  };
  for (const Case& c : cases) {
    std::vector<double> ours, peer;
    for (int r = 0; r < repeats; ++r) {  // interleaved, so drifts in machine load hit both sides
      try {
        ours.push_back(RunOurs(c, threads, r));
        peer.push_back(RunPeer(c, threads));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "orchard-bench-train: %s: %s\n", c.name.c_str(), e.what());
        return 1;
      }
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
