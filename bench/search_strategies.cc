// Search strategies against their peers, in three parts.
//
//  tpe: Orchard's TPE against Optuna's TPESampler (bench/peer_optuna_tpe.py) on Branin, Hartmann-6
//    and Rosenbrock-10: the same evaluations, random startup trials and candidates, with 1 and then 4
//    trials in flight, over many seeds; the figure is the median over seeds of the best value found,
//    as regret (best minus the function's minimum), with a 95% bootstrap interval. Both sides run
//    the objective in their own process, so only the search differs. Random search is shown beside
//    them.
//  digits: ASHA against random search on the digits task (recipes/digits-asha.yaml): the same
//    search space, trials and seed, each sweep run by the real CLI (`orchard run`) on this machine in
//    its own state directory; the figures come from the sweep's SQLite file: the steps every trial
//    trained (sum of last_step) and the best val_accuracy any trial reached. ASHA runs --runs
//    times, and once more with --load processes spinning on the CPU beside it: trainers wait at each
//    rung for the decision, so the steps should be the same every time.
//  quasi: quasi-random search (a scrambled Halton sequence) against random search on Branin and
//    Hartmann-6, the same evaluations and seeds as the tpe part; median regret over seeds.
//
//   PY=$(bash bench/setup_optuna_venv.sh | tail -n1)
//   build/bin/orchard-bench-search --part all --python "$PY" [--seeds 1000] [--evaluations 50]
//       [--functions branin,hartmann6,rosenbrock10] [--in-flight 1,4]
//   build/bin/orchard-bench-search --part quasi                       # no Python needed
//       [--trials 16] [--seed 1] [--slots 1] [--runs 3] [--load 2]
//
// Each comparison ends with a line `BENCH <name> ours=... peer=... unit=... ratio=...`, ratio > 1
// when Orchard's side is better.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "coordinator/search/search_strategy.h"
#include "bench/sweep_runs.h"
#include "core/file_tree.h"
#include "tests/util/search_simulation.h"

namespace {

namespace fs = std::filesystem;
using orchard::SweepSpec;
using orchard::bench::Bench;
using orchard::bench::Capture;
using orchard::bench::Clock;
using orchard::bench::MakeTempDir;
using orchard::bench::Quote;
using orchard::bench::RunLocalSweep;
using orchard::bench::Seconds;
using orchard::bench::SweepFigures;
using orchard::bench::TrialStates;

// ---- tpe ----

struct TpeOptions {
  std::string python;
  int seeds = 1000;
  int evaluations = 50;
  int startup = 10;
  int candidates = 24;
  std::vector<int> in_flight = {1, 4};
  std::vector<std::string> functions = {"branin", "hartmann6", "rosenbrock10"};
};

using MakeSweep = std::function<SweepSpec(const std::string&, int64_t, int64_t)>;

// Orchard's best value for each seed 1..N of `strategy` on one function, `in_flight` trials at a
// time; `adjust` changes the sweep further (TPE's options).
std::vector<double> OrchardBests(const MakeSweep& make, const orchard::testing::Objective& objective, const std::string& strategy,
                                 const TpeOptions& o, int in_flight, const std::function<void(SweepSpec&)>& adjust = {}) {
  std::vector<double> bests;
  for (int seed = 1; seed <= o.seeds; ++seed) {
    SweepSpec spec = make(strategy, seed, o.evaluations);
    spec.tpe_startup_trials = o.startup;
    spec.tpe_candidates = o.candidates;
    spec.max_concurrent = in_flight;
    if (adjust) adjust(spec);
    auto search = orchard::coordinator::MakeSearchStrategy(spec, nullptr);
    if (!search.ok()) throw std::runtime_error(search.status().message());
    bests.push_back(orchard::testing::Simulate(**search, objective).Best());
  }
  return bests;
}

// Optuna's best value for each seed (the peer script's JSON line).
std::vector<double> OptunaBests(const std::string& function, int in_flight, bool multivariate, bool constant_liar,
                                const TpeOptions& o) {
  const std::string command = Quote(o.python) + " " + Quote(std::string(ORCHARD_SOURCE_DIR) + "/bench/peer_optuna_tpe.py") +
                              " --function " + function + " --seeds " + std::to_string(o.seeds) + " --evaluations " +
                              std::to_string(o.evaluations) + " --startup " + std::to_string(o.startup) +
                              " --candidates " + std::to_string(o.candidates) + " --in-flight " + std::to_string(in_flight) +
                              (multivariate ? " --multivariate" : "") + (constant_liar ? " --constant-liar" : "");
  const std::string out = Capture(command);
  const size_t line = out.rfind('{');
  if (line == std::string::npos) throw std::runtime_error("no JSON line from " + command + ":\n" + out);
  return nlohmann::json::parse(out.substr(line)).at("bests").get<std::vector<double>>();
}

// The median regret over seeds and its 95% bootstrap interval: a median over a few dozen seeds
// moves by a quarter between seed sets on Rosenbrock-10, so a comparison needs to show how far.
struct Regret {
  double median = 0, low = 0, high = 0;
};

Regret RegretOf(const std::vector<double>& bests, double minimum) {
  std::vector<double> regrets;
  for (double best : bests) regrets.push_back(best - minimum);
  std::mt19937_64 rng(1);  // fixed, so that a run's intervals are reproducible
  std::uniform_int_distribution<size_t> pick(0, regrets.size() - 1);
  std::vector<double> medians, resample(regrets.size());
  for (int r = 0; r < 1000; ++r) {
    for (double& x : resample) x = regrets[pick(rng)];
    medians.push_back(orchard::testing::Median(resample));
  }
  std::sort(medians.begin(), medians.end());
  return {orchard::testing::Median(regrets), medians[25], medians[974]};
}

std::string Cell(const Regret& r) {
  char text[64];
  std::snprintf(text, sizeof text, "%.4g [%.4g, %.4g]", r.median, r.low, r.high);
  return text;
}

// The test functions both parts minimise.
struct Function {
  std::string name;
  double minimum;
  MakeSweep make;
  orchard::testing::Objective objective;
};

const std::vector<Function>& AllFunctions() {
  static const std::vector<Function> functions = {
      {"branin", orchard::testing::kBraninMinimum, orchard::testing::BraninSweep, orchard::testing::Branin},
      {"hartmann6", orchard::testing::kHartmann6Minimum, orchard::testing::Hartmann6Sweep, orchard::testing::Hartmann6},
      {"rosenbrock10", orchard::testing::kRosenbrock10Minimum, orchard::testing::Rosenbrock10Sweep,
       orchard::testing::Rosenbrock10}};
  return functions;
}

void RunTpe(const TpeOptions& o) {
  const auto univariate = [](SweepSpec& spec) { spec.tpe_multivariate = false; };
  for (int in_flight : o.in_flight) {
    std::printf("== tpe_vs_optuna: median regret over %d seeds after %d evaluations (%d random first, %d candidates), "
                "%d trial(s) in flight, with its 95%% bootstrap interval\n", o.seeds, o.evaluations, o.startup,
                o.candidates, in_flight);
    std::printf("%-13s %-42s %s\n", "function", "sampler", "median regret [95% interval]");
    std::vector<std::pair<std::string, std::pair<double, double>>> regrets;
    for (const Function& f : AllFunctions()) {
      if (std::find(o.functions.begin(), o.functions.end(), f.name) == o.functions.end()) continue;
      const auto row = [&](const char* sampler, const std::vector<double>& bests) {
        const Regret r = RegretOf(bests, f.minimum);
        std::printf("%-13s %-42s %s\n", f.name.c_str(), sampler, Cell(r).c_str());
        std::fflush(stdout);
        return r.median;
      };
      const double tpe = row("orchard tpe (default: multivariate, liar)", OrchardBests(f.make, f.objective, "tpe", o, in_flight));
      const double optuna = row("optuna TPESampler() (multivariate, liar)", OptunaBests(f.name, in_flight, true, true, o));
      // With one trial at a time nothing is running while Optuna proposes: the liar changes nothing.
      const double optuna_no_liar =
          in_flight > 1 ? row("optuna, constant_liar=False", OptunaBests(f.name, in_flight, true, false, o)) : optuna;
      const double tpe_univariate =
          row("orchard tpe, univariate", OrchardBests(f.make, f.objective, "tpe", o, in_flight, univariate));
      const double optuna_univariate = row("optuna, multivariate=False", OptunaBests(f.name, in_flight, false, true, o));
      row("orchard random", OrchardBests(f.make, f.objective, "random", o, in_flight));
      const std::string suffix = f.name + "_inflight" + std::to_string(in_flight);
      regrets.push_back({"tpe_vs_optuna_default_" + suffix, {tpe, optuna}});
      if (in_flight > 1) regrets.push_back({"tpe_vs_optuna_without_liar_" + suffix, {tpe, optuna_no_liar}});
      regrets.push_back({"tpe_univariate_vs_optuna_univariate_" + suffix, {tpe_univariate, optuna_univariate}});
    }
    for (const auto& [name, r] : regrets) Bench(name, r.first, r.second, "regret", r.second / r.first);
  }
}

// ---- quasi ----

void RunQuasi(const TpeOptions& o) {
  std::printf("== quasi_random_vs_random: median regret over %d seeds of the best of %d evaluations, with its 95%% "
              "bootstrap interval\n", o.seeds, o.evaluations);
  std::printf("%-10s %-30s %-30s\n", "function", "quasi_random", "random");
  std::vector<std::pair<std::string, std::pair<double, double>>> regrets;
  for (const Function& f : AllFunctions()) {
    if (f.name == "rosenbrock10") continue;  // the quasi part's figures are on the two smaller spaces
    const Regret quasi = RegretOf(OrchardBests(f.make, f.objective, "quasi_random", o, /*in_flight=*/1), f.minimum);
    const Regret random = RegretOf(OrchardBests(f.make, f.objective, "random", o, /*in_flight=*/1), f.minimum);
    std::printf("%-10s %-30s %-30s\n", f.name.c_str(), Cell(quasi).c_str(), Cell(random).c_str());
    regrets.push_back({"quasi_random_vs_random_" + f.name, {quasi.median, random.median}});
  }
  for (const auto& [name, r] : regrets) Bench(name, r.first, r.second, "regret", r.second / r.first);
}

// ---- digits ----

struct DigitsOptions {
  std::string orchard;
  std::string recipe;
  int trials = 16;
  int seed = 1;
  int slots = 1;
  int runs = 1;   // ASHA sweeps run unloaded
  int load = 0;   // >0: one more ASHA sweep with this many processes spinning beside it
  bool keep_state = false;
};

// Processes that keep the CPU busy while they live: the "loaded machine".
class BusyLoad {
 public:
  explicit BusyLoad(int processes) {
    for (int i = 0; i < processes; ++i) {
      const pid_t pid = fork();
      if (pid == 0) {
        volatile uint64_t spins = 0;  // volatile: the loop is not optimised away
        for (;;) spins = spins + 1;
      }
      if (pid > 0) pids_.push_back(pid);
    }
  }
  ~BusyLoad() {
    for (pid_t pid : pids_) kill(pid, SIGKILL);
    for (pid_t pid : pids_) waitpid(pid, nullptr, 0);
  }
  BusyLoad(const BusyLoad&) = delete;
  BusyLoad& operator=(const BusyLoad&) = delete;

 private:
  std::vector<pid_t> pids_;
};

SweepFigures RunSweep(const DigitsOptions& o, const std::string& strategy) {
  // Only the strategy differs. Random search rejects an early_stopping block (it would be ignored
  // silently otherwise) and --set cannot remove a field, so it runs a copy of the recipe without one.
  std::string recipe = o.recipe;
  fs::path copy_dir;
  if (strategy != "asha") {
    YAML::Node root = YAML::LoadFile(o.recipe);
    root["sweep"].remove("early_stopping");
    copy_dir = MakeTempDir("orchard-bench-search-recipe-");
    recipe = (copy_dir / "recipe.yaml").string();
    std::ofstream(recipe) << YAML::Dump(root) << "\n";
  }
  const auto figures = [&] {
    return RunLocalSweep(o.orchard, recipe,
                         {"sweep.strategy=" + strategy, "sweep.seed=" + std::to_string(o.seed),
                          "sweep.max_trials=" + std::to_string(o.trials)},
                         o.slots, "orchard-bench-search-" + strategy + "-", o.keep_state);
  };
  if (copy_dir.empty()) return figures();
  // The copy goes with the run's state: kept with it, else removed, even when the run fails.
  try {
    SweepFigures f = figures();
    if (o.keep_state) std::printf("its recipe kept in %s\n", recipe.c_str());
    else orchard::RemoveTree(copy_dir);
    return f;
  } catch (...) {
    if (!o.keep_state) orchard::RemoveTree(copy_dir);
    throw;
  }
}

void RunDigits(const DigitsOptions& o) {
  std::printf("== asha_vs_random_digits: %s, %d trials, sweep seed %d, %d CPU slot(s), ASHA %d time(s)%s\n",
              o.recipe.c_str(), o.trials, o.seed, o.slots, o.runs,
              o.load > 0 ? (" and once beside " + std::to_string(o.load) + " spinning processes").c_str() : "");
  const SweepFigures random = RunSweep(o, "random");
  std::vector<std::pair<std::string, SweepFigures>> rows = {{"random", random}};
  for (int run = 1; run <= o.runs; ++run) rows.emplace_back("asha #" + std::to_string(run), RunSweep(o, "asha"));
  if (o.load > 0) {
    BusyLoad load(o.load);
    rows.emplace_back("asha +load", RunSweep(o, "asha"));
  }
  std::printf("%-11s %-10s %-28s %8s %14s %14s %8s\n", "strategy", "sweep", "trials", "steps", "best val_acc",
              "best final", "wall s");
  for (const auto& [name, f] : rows)
    std::printf("%-11s %-10s %-28s %8lld %14.4f %14.4f %8.1f\n", name.c_str(), f.state.c_str(), TrialStates(f).c_str(),
                static_cast<long long>(f.steps), f.best, f.best_final, f.seconds);
  const SweepFigures& asha = rows[1].second;
  bool same = true;
  std::string steps;
  for (size_t i = 1; i < rows.size(); ++i) {
    steps += (i > 1 ? ", " : "") + std::to_string(rows[i].second.steps);
    same = same && rows[i].second.steps == asha.steps;
  }
  std::printf("ASHA's steps in each run: %s (%s)\n", steps.c_str(), same ? "the same every time" : "they DIFFER");
  const bool met = asha.best >= random.best - 0.005 && 3 * asha.steps <= random.steps;
  std::printf("target (ASHA's best within 0.005 of random's, with at most a third of its steps): %s\n",
              met ? "met" : "NOT met");
  Bench("asha_digits_steps", static_cast<double>(asha.steps), static_cast<double>(random.steps), "steps",
        static_cast<double>(random.steps) / static_cast<double>(std::max<int64_t>(1, asha.steps)));
  Bench("asha_digits_best", asha.best, random.best, "val_accuracy", asha.best / random.best);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Search strategies against their peers: TPE against Optuna's, ASHA against random search on digits"};
  std::string part = "all";
  TpeOptions tpe;
  DigitsOptions digits;
  digits.orchard = (fs::read_symlink("/proc/self/exe").parent_path() / "orchard").string();
  digits.recipe = std::string(ORCHARD_SOURCE_DIR) + "/recipes/digits-asha.yaml";
  app.add_option("--part", part, "tpe, digits, quasi or all")
      ->check(CLI::IsMember({"tpe", "digits", "quasi", "all"}))->capture_default_str();
  app.add_option("--python", tpe.python, "Python with Optuna, for the tpe part: PY=$(bash bench/setup_optuna_venv.sh | tail -n1)");
  app.add_option("--seeds", tpe.seeds, "tpe: seeds per function")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--evaluations", tpe.evaluations, "tpe: evaluations per seed")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--startup", tpe.startup, "tpe: random trials first")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--candidates", tpe.candidates, "tpe: candidates per proposal")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--in-flight", tpe.in_flight, "tpe: trials in flight on both sides, each count in turn")
      ->capture_default_str()->check(CLI::PositiveNumber)->delimiter(',');
  app.add_option("--functions", tpe.functions, "tpe: the functions to minimise")
      ->capture_default_str()->check(CLI::IsMember({"branin", "hartmann6", "rosenbrock10"}))->delimiter(',');
  app.add_option("--orchard", digits.orchard, "digits: the orchard CLI")->capture_default_str();
  app.add_option("--recipe", digits.recipe, "digits: the recipe whose search space both sweeps use")->capture_default_str();
  app.add_option("--trials", digits.trials, "digits: trials per sweep")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--seed", digits.seed, "digits: the sweeps' seed")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--slots", digits.slots, "digits: CPU slots of the local worker")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--runs", digits.runs, "digits: ASHA sweeps to run (their steps should all be the same)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--load", digits.load, "digits: then one more ASHA sweep beside this many CPU-spinning processes")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_flag("--keep-state", digits.keep_state, "digits: keep the sweeps' state directories");
  CLI11_PARSE(app, argc, argv);

  try {
    if (part == "tpe" || part == "all") {
      if (tpe.python.empty()) {
        std::fprintf(stderr, "the tpe part needs --python: PY=$(bash bench/setup_optuna_venv.sh | tail -n1)\n");
        return 2;
      }
      RunTpe(tpe);
    }
    if (part == "quasi" || part == "all") RunQuasi(tpe);
    if (part == "digits" || part == "all") RunDigits(digits);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "orchard-bench-search: %s\n", e.what());
    return 1;
  }
  return 0;
}
