// What the benchmarks that run whole sweeps share: the real CLI's `orchard run` in a state directory
// of its own, timed, and the figures read back from the sweep's SQLite file; and the BENCH line.
//
//   SweepFigures f = RunLocalSweep("build/bin/orchard", "recipe.yaml", {"sweep.fuse=8"}, /*slots=*/2, "bench-fused-");
//   Bench("fused_mlp_trials_per_hour", ours, peer, "trials/h", ours / peer);
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace orchard::bench {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since);

// Single quotes for a shell word.
std::string Quote(const std::string& word);

// Runs `command` through the shell and returns its stdout; throws when it fails.
std::string Capture(const std::string& command);

// A fresh directory under the system's temp directory.
std::filesystem::path MakeTempDir(const std::string& prefix);

// `BENCH <name> ours=... peer=... unit=... ratio=...`, ratio > 1 when Orchard's side is better.
void Bench(const std::string& name, double ours, double peer, const std::string& unit, double ratio);

struct SweepFigures {
  std::string state;
  std::map<std::string, int64_t> trials_by_state;
  int64_t steps = 0;
  double best = 0;        // the best val_accuracy any trial reached at any evaluation
  double best_final = 0;  // the best trial's objective: its value at its last evaluation
  double seconds = 0;     // from starting `orchard run` to its exit
  std::map<int64_t, int64_t> trainers_by_members;  // trainer processes by how many trials each trained (fused groups)
};

// Runs `orchard run RECIPE --set S... --cpu-slots SLOTS` in a fresh state directory (kept when
// `keep_state`, else removed) and reads the figures back; throws, with the run's output, when it fails.
SweepFigures RunLocalSweep(const std::string& orchard, const std::string& recipe, const std::vector<std::string>& sets,
                           int slots, const std::string& prefix, bool keep_state);

// "completed=12 stopped=4".
std::string TrialStates(const SweepFigures& f);
// "2x16": two trainers of 16 trials each; "32x1": one trial each.
std::string Trainers(const SweepFigures& f);

}  // namespace orchard::bench
