// orchard-chaos: runs one sweep twice on this machine, all real processes on loopback: undisturbed,
// then while workers are killed with SIGKILL every few seconds (and started again), the coordinator
// is killed with SIGKILL and restarted, and (with --freezes) a worker is stopped with SIGSTOP, not
// killed, for longer than the lease timeout and then continued, its trainer running on meanwhile. Passes when the disturbed sweep lost nothing:
//   - every trial completed;
//   - each trial's metric series has the same steps (none missing, none twice) and the same values
//     as undisturbed;
//   - each trial's final parameters equal the undisturbed run's (CPU training is deterministic, so a
//     resumed trial must end bit-identical);
//   - no two attempts of a trial overlapped in time: each attempt's trainer last wrote its log before
//     the next attempt was leased. The one exception is a trainer whose worker was frozen: nobody
//     can stop it until its worker runs again, and what keeps it from writing is its fencing epoch,
//     so such an attempt must have ended lost, its trainer stopped as soon as its worker ran again
//     (refused as "fenced" once the next attempt had claimed the trial, or "preempted" just before).
// Prints the figures (trials, kills, restarts, attempts, wall times) and exits 0 on pass, 1 on fail.
//
//   orchard-chaos --trials 20 --workers 3 --kill-every 4 --coordinator-kills 2
#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>

#include "coordinator/store/store.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "tests/util/test_util.h"

namespace orchard {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using testing::Process;

struct ChaosOptions {
  int trials = 20;
  int workers = 3;
  int steps = 400;
  double kill_every = 4;        // seconds between worker kills
  int coordinator_kills = 2;
  int freezes = 0;              // workers stopped with SIGSTOP past the lease timeout, then continued
  double timeout = 1200;        // seconds for each sweep
  std::string dir;              // default: a temporary directory, removed afterwards
  uint32_t seed = 1;
};

struct TrialRun {
  std::string state;
  std::map<std::string, std::vector<std::pair<int64_t, double>>> metrics;  // name -> (step, value) by step
  std::string parameter_digest;
  int64_t attempts = 0;
  int64_t restarts = 0;
};

struct SweepRun {
  double wall_seconds = 0;
  std::map<int64_t, TrialRun> trials;  // by trial number
  std::vector<coordinator::AttemptSpan> spans;
  std::vector<double> last_output;  // per span: when its trainer last wrote its log (seconds since the epoch)
  std::vector<std::string> last_words;  // per span: the end of its log
  int worker_kills = 0;
  int coordinator_kills = 0;
  int freezes = 0;
  bool finished = false;
};

std::string Recipe(const ChaosOptions& o) {
  std::string lrs;
  for (int i = 0; i < o.trials; ++i) lrs += (i ? ", " : "") + std::to_string(0.002 * (i + 1));
  return "name: chaos\n"
         "model: {type: mlp, hidden: [32]}\n"
         "data: {type: synthetic, samples: 512, features: 8, classes: 3}\n"
         "train: {steps: " + std::to_string(o.steps) + ", batch_size: 16, eval_interval: 50, threads: 1}\n"
         "metrics: {log_interval: 10}\n"
         "checkpoint: {interval: 25, keep: 2}\n"
         "sweep:\n"
         "  strategy: grid\n"
         "  metric: val_loss\n"
         "  max_restarts: 1000\n"  // chaos may hit a trial many times; the policy itself is unit-tested
         "  parameters:\n"
         "    optimizer.lr: {values: [" + lrs + "]}\n";
}

constexpr int kLeaseTimeoutSeconds = 3;

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t size = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return ntohs(address.sin_port);
}

class Cluster {
 public:
  Cluster(std::string bin, fs::path dir, int workers) : bin_(std::move(bin)), dir_(std::move(dir)) {
    fs::create_directories(dir_ / "logs");
    address_ = "127.0.0.1:" + std::to_string(FreePort());
    StartCoordinator();
    for (int i = 0; i < workers; ++i) workers_.push_back(StartWorker());
    stub_ = v1::SweepService::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }

  ~Cluster() {
    for (auto& worker : workers_) kill(worker->pid(), SIGTERM);
    for (auto& worker : workers_) (void)worker->Wait(60);
    kill(coordinator_->pid(), SIGTERM);
    (void)coordinator_->Wait(30);
  }

  void KillWorker(size_t index) {
    kill(workers_[index]->pid(), SIGKILL);
    (void)workers_[index]->Wait(10);
    workers_[index] = StartWorker();
  }

  // Stops the worker (its agent; its trainer runs on) for `seconds`, then lets it go on.
  void FreezeWorker(size_t index, double seconds) {
    kill(workers_[index]->pid(), SIGSTOP);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    kill(workers_[index]->pid(), SIGCONT);
  }

  void KillCoordinator() {
    kill(coordinator_->pid(), SIGKILL);
    (void)coordinator_->Wait(10);
    StartCoordinator();
  }

  v1::SweepService::Stub& stub() { return *stub_; }
  size_t workers() const { return workers_.size(); }
  fs::path state_db() const { return dir_ / "state" / "orchard.db"; }
  fs::path storage() const { return dir_ / "state" / "storage"; }

 private:
  void StartCoordinator() {
    coordinator_ = std::make_unique<Process>(
        std::vector<std::string>{bin_ + "/orchard-coordinator", "--listen", address_, "--http", "127.0.0.1:0", "--state-dir",
                                 (dir_ / "state").string(), "--heartbeat-interval", "0.5", "--lease-timeout",
                                 std::to_string(kLeaseTimeoutSeconds)},
        (dir_ / "logs" / ("coordinator-" + std::to_string(started_++) + ".log")).string());
  }

  std::unique_ptr<Process> StartWorker() {
    return std::make_unique<Process>(
        std::vector<std::string>{bin_ + "/orchard-worker", "--coordinator", address_, "--cpu-slots", "1",
                                 "--threads-per-slot", "1"},
        (dir_ / "logs" / ("worker-" + std::to_string(started_++) + ".log")).string());
  }

  std::string bin_;
  fs::path dir_;
  std::string address_;
  int started_ = 0;
  std::unique_ptr<Process> coordinator_;
  std::vector<std::unique_ptr<Process>> workers_;
  std::unique_ptr<v1::SweepService::Stub> stub_;
};

template <typename Request, typename Response, typename Call>
bool CallWithRetry(Call call, const Request& request, Response* response, double seconds = 60) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (call(&context, request, response).ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

SweepRun RunSweep(const std::string& bin, const fs::path& dir, const ChaosOptions& o, bool chaos) {
  SweepRun run;
  auto cluster = std::make_unique<Cluster>(bin, dir, o.workers);
  auto& stub = cluster->stub();
  const auto call = [&stub](auto method) {
    return [&stub, method](grpc::ClientContext* c, const auto& request, auto* response) {
      return (stub.*method)(c, request, response);
    };
  };
  v1::SubmitSweepRequest submit;
  submit.set_recipe_yaml(Recipe(o));
  submit.set_recipe_file((dir / "chaos.yaml").string());
  v1::SubmitSweepResponse submitted;
  const auto start = Clock::now();
  if (!CallWithRetry(call(&v1::SweepService::Stub::SubmitSweep), submit, &submitted)) {
    std::cerr << "orchard-chaos: cannot submit the sweep (see " << dir / "logs" << ")\n";
    return run;
  }
  const int64_t sweep_id = submitted.sweep().id();
  std::mt19937 random(o.seed);
  auto next_worker_kill = start + std::chrono::duration<double>(o.kill_every);
  v1::GetSweepRequest get;
  get.set_sweep_id(sweep_id);
  v1::Sweep sweep;
  while (Clock::now() - start < std::chrono::duration<double>(o.timeout)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (!CallWithRetry(call(&v1::SweepService::Stub::GetSweep), get, &sweep)) break;
    if (sweep.state() != v1::SWEEP_RUNNING) break;
    if (!chaos) continue;
    const auto counts = sweep.trials_by_state();
    const int64_t completed = counts.count("completed") ? counts.at("completed") : 0;
    // Coordinator kills spread over the sweep: after 1/(k+1), 2/(k+1), ... of the trials completed.
    if (run.coordinator_kills < o.coordinator_kills &&
        completed * (o.coordinator_kills + 1) >= static_cast<int64_t>(o.trials) * (run.coordinator_kills + 1)) {
      cluster->KillCoordinator();
      ++run.coordinator_kills;
      std::cout << "chaos: killed and restarted the coordinator (" << completed << "/" << o.trials << " trials done)"
                << std::endl;
    }
    // Freezes spread over the sweep halfway between the coordinator kills' points (after 1/2(k+1),
    // 3/2(k+1), ... of the trials), so that no restart hides one; each 1.5 lease timeouts long.
    if (run.freezes < o.freezes &&
        completed * 2 * (o.freezes + 1) >= static_cast<int64_t>(o.trials) * (2 * run.freezes + 1)) {
      const size_t victim = std::uniform_int_distribution<size_t>(0, cluster->workers() - 1)(random);
      cluster->FreezeWorker(victim, 1.5 * kLeaseTimeoutSeconds);
      ++run.freezes;
      std::cout << "chaos: froze worker " << victim << " with SIGSTOP for " << 1.5 * kLeaseTimeoutSeconds
                << " s, then SIGCONT (" << completed << "/" << o.trials << " trials done)" << std::endl;
      next_worker_kill = Clock::now() + std::chrono::duration<double>(o.kill_every);  // let it come back first
    }
    if (Clock::now() >= next_worker_kill) {
      const size_t victim = std::uniform_int_distribution<size_t>(0, cluster->workers() - 1)(random);
      cluster->KillWorker(victim);
      ++run.worker_kills;
      std::cout << "chaos: killed worker " << victim << " with SIGKILL and started it again (" << completed << "/"
                << o.trials << " trials done)" << std::endl;
      next_worker_kill = Clock::now() + std::chrono::duration<double>(o.kill_every);
    }
  }
  run.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  run.finished = sweep.state() != v1::SWEEP_RUNNING && sweep.state() != v1::SWEEP_STATE_UNSPECIFIED;

  v1::ListTrialsRequest list;
  list.set_sweep_id(sweep_id);
  v1::ListTrialsResponse trials;
  CallWithRetry(call(&v1::SweepService::Stub::ListTrials), list, &trials);
  for (const v1::Trial& trial : trials.trials()) {
    TrialRun& t = run.trials[trial.number()];
    t.state = v1::TrialState_Name(trial.state());
    t.attempts = trial.attempts();
    t.restarts = trial.restarts();
    v1::GetTrialMetricsRequest request;
    request.set_trial_id(trial.id());
    v1::GetTrialMetricsResponse metrics;
    CallWithRetry(call(&v1::SweepService::Stub::GetTrialMetrics), request, &metrics);
    for (const v1::MetricPoint& p : metrics.points()) t.metrics[p.name()].emplace_back(p.step(), p.value());
    std::ifstream result(cluster->storage() / trial.output_dir() / "result.json");
    const auto json = nlohmann::json::parse(result, nullptr, false);
    if (json.is_object()) t.parameter_digest = json.value("parameter_digest", "");
  }
  const fs::path db = cluster->state_db();
  const fs::path storage = cluster->storage();
  cluster.reset();  // stop every process before reading the store directly
  auto store = coordinator::Store::Open(db.string(), storage.string());
  auto spans = store.ok() ? (*store)->AttemptSpans(sweep_id) : StatusOr<std::vector<coordinator::AttemptSpan>>(store.status());
  if (!spans.ok()) {
    // Without the attempts the overlap checks would pass on nothing.
    std::cerr << "orchard-chaos: cannot read the attempts from " << db << ": " << spans.status().message() << "\n";
    run.finished = false;
    return run;
  }
  run.spans = *std::move(spans);
  for (const coordinator::AttemptSpan& span : run.spans) {
    struct stat log{};
    const bool found = stat((storage / span.log_path).c_str(), &log) == 0;
    run.last_output.push_back(found ? static_cast<double>(log.st_mtim.tv_sec) + 1e-9 * static_cast<double>(log.st_mtim.tv_nsec) : 0);
    const std::string text = testing::ReadFile((storage / span.log_path).string());
    run.last_words.push_back(text.substr(text.size() > 2000 ? text.size() - 2000 : 0));
  }
  return run;
}

// Measured, not computed: their values differ from run to run, their steps do not.
const std::set<std::string> kTimingMetrics = {"samples_per_second", "step_time_ms"};

// Every way the disturbed run differs from the undisturbed one; empty on pass.
std::vector<std::string> Compare(const SweepRun& calm, const SweepRun& chaos, int trials) {
  std::vector<std::string> problems;
  if (!chaos.finished) problems.push_back("the disturbed sweep did not finish in time");
  if (static_cast<int>(chaos.trials.size()) != trials)
    problems.push_back("the disturbed sweep has " + std::to_string(chaos.trials.size()) + " trials, not " +
                       std::to_string(trials));
  for (const auto& [number, trial] : chaos.trials) {
    const std::string name = "trial " + std::to_string(number);
    if (trial.state != "TRIAL_COMPLETED") problems.push_back(name + " ended " + trial.state);
    const auto reference = calm.trials.find(number);
    if (reference == calm.trials.end()) continue;
    for (const auto& [metric, series] : reference->second.metrics) {
      const auto found = trial.metrics.find(metric);
      if (found == trial.metrics.end()) {
        problems.push_back(name + ": no " + metric + " at all");
        continue;
      }
      std::vector<int64_t> steps, reference_steps;
      for (const auto& [step, value] : found->second) steps.push_back(step);
      for (const auto& [step, value] : series) reference_steps.push_back(step);
      if (steps != reference_steps)
        problems.push_back(name + ": " + metric + " has " + std::to_string(steps.size()) + " points at other steps than "
                           "the undisturbed run's " + std::to_string(reference_steps.size()));
      else if (!kTimingMetrics.count(metric) && found->second != series)
        problems.push_back(name + ": " + metric + " values differ from the undisturbed run");
    }
    if (trial.parameter_digest.empty() || trial.parameter_digest != reference->second.parameter_digest)
      problems.push_back(name + ": final parameters " + trial.parameter_digest + " differ from undisturbed " +
                         reference->second.parameter_digest);
  }
  // Overlap, seen from the trainers: an attempt's trainer writes its log every few steps, so a
  // trainer still running when the next attempt was leased shows as a log written after that.
  std::map<int64_t, size_t> previous;  // trial -> index of its last attempt seen
  for (size_t i = 0; i < chaos.spans.size(); ++i) {
    const coordinator::AttemptSpan& span = chaos.spans[i];
    const std::string name = "trial " + std::to_string(span.trial_number) + " attempt " + std::to_string(span.attempt_number);
    if (span.ended_at == 0) problems.push_back(name + " never ended");
    const auto before = previous.find(span.trial_number);
    const auto fenced_after_freeze = [&](size_t stale) {
      const std::string& words = chaos.last_words[stale];
      return chaos.spans[stale].state == "lost" &&
             (words.find("fenced") != std::string::npos || words.find("preempted") != std::string::npos);
    };
    if (before != previous.end() && chaos.last_output[before->second] > span.started_at &&
        !fenced_after_freeze(before->second))
      problems.push_back(name + " started at " + std::to_string(span.started_at) + " while attempt " +
                         std::to_string(chaos.spans[before->second].attempt_number) + "'s trainer still wrote at " +
                         std::to_string(chaos.last_output[before->second]));
    previous[span.trial_number] = i;
  }
  return problems;
}

int Main(int argc, char** argv) {
  CLI::App app{"orchard-chaos: a sweep run undisturbed, then while workers and the coordinator are killed; checks "
               "that nothing was lost."};
  ChaosOptions o;
  app.add_option("--trials", o.trials, "Trials in the sweep")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--workers", o.workers, "Worker processes, one CPU slot each")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--steps", o.steps, "Training steps per trial")->capture_default_str()->check(CLI::Range(50, 100000));
  app.add_option("--kill-every", o.kill_every, "Seconds between worker kills")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--coordinator-kills", o.coordinator_kills, "Times the coordinator is killed and restarted")
      ->capture_default_str()->check(CLI::Range(0, 100));
  app.add_option("--freezes", o.freezes, "Times a worker is stopped with SIGSTOP past the lease timeout, then continued")
      ->capture_default_str()->check(CLI::Range(0, 100));
  app.add_option("--timeout", o.timeout, "Seconds allowed for each sweep")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--dir", o.dir, "Keep state, storage and logs here (default: a temporary directory, removed)");
  app.add_option("--seed", o.seed, "Seed of the choice of victims")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const std::string bin = fs::canonical("/proc/self/exe").parent_path().string();
  std::unique_ptr<testing::TempDir> temp;
  fs::path dir = o.dir;
  if (dir.empty()) {
    temp = std::make_unique<testing::TempDir>();
    dir = temp->path();
  }
  std::cout << "undisturbed: " << o.trials << " trials on " << o.workers << " workers" << std::endl;
  const SweepRun calm = RunSweep(bin, dir / "undisturbed", o, false);
  if (!calm.finished || static_cast<int>(calm.trials.size()) != o.trials) {
    std::cerr << "orchard-chaos: the undisturbed sweep did not finish (logs in " << dir / "undisturbed/logs" << ")\n";
    return 1;
  }
  std::cout << "undisturbed: " << calm.wall_seconds << " s" << std::endl;
  const SweepRun chaos = RunSweep(bin, dir / "chaos", o, true);
  int64_t attempts = 0, restarts = 0;
  for (const auto& [number, trial] : chaos.trials) {
    attempts += trial.attempts;
    restarts += trial.restarts;
  }
  std::cout << "CHAOS trials=" << chaos.trials.size() << " worker_kills=" << chaos.worker_kills
            << " coordinator_kills=" << chaos.coordinator_kills << " worker_freezes=" << chaos.freezes
            << " attempts=" << attempts
            << " trial_restarts=" << restarts << " wall_s=" << chaos.wall_seconds
            << " undisturbed_wall_s=" << calm.wall_seconds << std::endl;
  const std::vector<std::string> problems = Compare(calm, chaos, o.trials);
  for (const std::string& p : problems) std::cout << "FAIL " << p << "\n";
  if (!problems.empty() && !o.dir.empty()) std::cout << "logs and state in " << dir << "\n";
  std::cout << (problems.empty() ? "PASS: nothing lost (injected: " + std::to_string(chaos.worker_kills) +
                                       " worker SIGKILLs, " + std::to_string(chaos.coordinator_kills) +
                                       " coordinator SIGKILLs, " + std::to_string(chaos.freezes) +
                                       " worker SIGSTOPs past the lease timeout)"
                                 : "FAILED")
            << std::endl;
  return problems.empty() ? 0 : 1;
}

}  // namespace
}  // namespace orchard

int main(int argc, char** argv) { return orchard::Main(argc, argv); }
