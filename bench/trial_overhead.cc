// Per-trial overhead of a sweep on the local worker against Ray Tune's, side by side in one run. Each
// trial trains a tiny MLP for a handful of steps, so the wall time from submitting the sweep to its
// end is mostly the orchestration's own cost: leasing, starting a trainer, relaying its metrics,
// recording its exit. Orchard runs twice: with a warm trainer (zygote) and with an exec per trial.
//
//   build/bin/orchard-bench-trials [--trials 200] [--slots 2] [--no-peer]
//
// The Ray Tune peer (bench/peer_ray_tune.py) gets the same number of trials and CPUs; neither side's
// clock includes starting its cluster (the coordinator and worker here, ray.init() there).
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "cli/local_cluster.h"
#include "core/file_tree.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "worker/agent/trainer_binary.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A tiny classification task: data generation, 5 steps and one evaluation take milliseconds, so what
// remains of a trial's time is overhead. The end-of-run checkpoint is kept (interval 0 only drops
// the periodic ones) because every real trial writes one.
std::string Recipe(int trials) {
  return "name: bench-trials\n"
         "model: {type: mlp, hidden: [16]}\n"
         "data: {type: synthetic, samples: 256, features: 8, classes: 2, validation_fraction: 0.25}\n"
         "optimizer: {type: adamw, lr: 1.0e-3}\n"
         "train: {steps: 5, batch_size: 16, eval_interval: 0, seed: 1}\n"
         "checkpoint: {interval: 0, keep: 1}\n"
         "sweep:\n"
         "  strategy: random\n"
         "  metric: val_loss\n"
         "  mode: min\n"
         "  max_trials: " +
         std::to_string(trials) +
         "\n"
         "  parameters:\n"
         "    optimizer.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}\n";
}

// A fresh directory under the system's temp directory, removed with the object.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string pattern = (fs::temp_directory_path() / (prefix + "XXXXXX")).string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a directory like " + pattern);
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code error;
    error = orchard::RemoveTree(path_);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Runs the sweep on an embedded coordinator and one local worker (as `orchard run` does) and returns
// the seconds from submit to the sweep's end.
double RunOrchard(int trials, int slots, bool warm) {
  TempDir state("orchard-bench-trials-");
  orchard::coordinator::CoordinatorOptions coordinator_options;
  coordinator_options.state_dir = state.path().string();
  orchard::worker::AgentOptions agent_options;
  agent_options.trainer_binary = orchard::worker::DefaultTrainerBinary();
  agent_options.warm_start = warm;
  agent_options.cpu_slots = slots;
  agent_options.threads_per_slot = 1;
  agent_options.quiet = true;
  auto cluster = orchard::cli::LocalCluster::Start(coordinator_options, agent_options);
  if (!cluster.ok()) throw std::runtime_error("cannot start the coordinator: " + cluster.status().message());

  auto stub = orchard::v1::SweepService::NewStub(
      grpc::CreateChannel((*cluster)->address(), grpc::InsecureChannelCredentials()));
  auto call = [&](auto method, const auto& request, auto* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    const grpc::Status status = ((*stub).*method)(&context, request, response);
    if (!status.ok()) throw std::runtime_error("the coordinator answered: " + status.error_message());
  };
  // The clock starts with the worker registered, like Ray's with its cluster up.
  for (orchard::v1::ListWorkersResponse workers; workers.workers_size() == 0;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    call(&orchard::v1::SweepService::Stub::ListWorkers, orchard::v1::ListWorkersRequest(), &workers);
  }

  orchard::v1::SubmitSweepRequest submit;
  submit.set_recipe_yaml(Recipe(trials));
  submit.set_recipe_file("bench/trial_overhead.yaml");
  orchard::v1::SubmitSweepResponse submitted;
  const auto start = Clock::now();
  call(&orchard::v1::SweepService::Stub::SubmitSweep, submit, &submitted);
  (*cluster)->WorkSubmitted();
  orchard::v1::GetSweepRequest get;
  get.set_sweep_id(submitted.sweep().id());
  orchard::v1::Sweep sweep = submitted.sweep();
  // 20 ms polls: fine enough against runs of seconds, and too few to load the coordinator.
  while (sweep.state() == orchard::v1::SWEEP_RUNNING) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    call(&orchard::v1::SweepService::Stub::GetSweep, get, &sweep);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  const orchard::Status agent_status = (*cluster)->Stop();
  if (!agent_status.ok()) throw std::runtime_error("the local worker failed: " + agent_status.message());
  const auto completed = sweep.trials_by_state().find("completed");
  const int64_t done = completed == sweep.trials_by_state().end() ? 0 : completed->second;
  if (sweep.state() != orchard::v1::SWEEP_COMPLETED || done != trials)
    throw std::runtime_error("only " + std::to_string(done) + " of " + std::to_string(trials) +
                             " trials completed (sweep state " + orchard::v1::SweepState_Name(sweep.state()) + ")");
  return seconds;
}

// Runs a shell command and returns its stdout; throws when it fails.
std::string Capture(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe.get())) > 0;) out.append(buffer, n);
  if (pclose(pipe.release()) != 0) throw std::runtime_error("failed: " + command);
  return out;
}

std::string LastLine(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text.substr(text.rfind('\n') + 1);  // npos + 1 == 0: the whole text
}

// Ray Tune's seconds for the same number of trials on the same CPUs. Ray's chatter goes to a log
// that is only shown on failure.
double RunRay(int trials, int slots) {
  const std::string source = ORCHARD_SOURCE_DIR;
  const std::string python = LastLine(Capture("bash " + source + "/bench/setup_ray_venv.sh"));
  TempDir logs("orchard-bench-ray-");
  const std::string log = (logs.path() / "ray.log").string();
  const std::string command = python + " " + source + "/bench/peer_ray_tune.py --trials " + std::to_string(trials) +
                              " --cpus " + std::to_string(slots) + " 2>" + log;
  std::string out;
  try {
    out = Capture(command);
  } catch (const std::runtime_error&) {
    std::fprintf(stderr, "%s", Capture("tail -n 40 " + log).c_str());
    throw;
  }
  const auto result = nlohmann::json::parse(LastLine(out), nullptr, false);
  if (!result.is_object() || !result.contains("seconds"))
    throw std::runtime_error("the Ray Tune peer printed no result: " + out);
  std::printf("ray %s: cluster start %.2f s (not counted)\n", result.value("ray_version", "?").c_str(),
              result.value("init_seconds", 0.0));
  return result["seconds"].get<double>();
}

void PrintFigure(const char* side, int trials, double seconds) {
  std::printf("%-14s %d trials in %.2f s: %.2f trials/s, %.1f ms per trial\n", side, trials, seconds,
              trials / seconds, 1000 * seconds / trials);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Per-trial overhead: sweeps of tiny trials on Orchard's local worker against Ray Tune."};
  int trials = 200, slots = 2;
  bool no_peer = false;
  app.add_option("--trials", trials, "Trials per sweep")->check(CLI::Range(1, 100000));
  app.add_option("--slots", slots, "CPU slots of the worker (and CPUs given to Ray)")->check(CLI::Range(1, 256));
  app.add_flag("--no-peer", no_peer, "Skip Ray Tune");
  CLI11_PARSE(app, argc, argv);

  try {
    const double warm = RunOrchard(trials, slots, /*warm=*/true);
    PrintFigure("orchard warm", trials, warm);
    const double cold = RunOrchard(trials, slots, /*warm=*/false);
    PrintFigure("orchard cold", trials, cold);
    std::printf("warm start saves %.1f ms per trial (cold %.1f ms, warm %.1f ms, %d slots)\n",
                1000 * (cold - warm) / trials, 1000 * cold / trials, 1000 * warm / trials, slots);
    if (no_peer) return 0;
    const double ray = RunRay(trials, slots);
    PrintFigure("ray tune", trials, ray);
    // trials/s: more is better, so the ratio is ours over the peer's.
    for (const auto& [name, ours] : {std::pair{"trial_overhead_warm", warm}, std::pair{"trial_overhead_cold", cold}})
      std::printf("BENCH %s ours=%.2f peer=%.2f unit=trials/s ratio=%.2f\n", name, trials / ours, trials / ray,
                  ray / ours);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "orchard-bench-trials: %s\n", error.what());
    return 1;
  }
  return 0;
}
