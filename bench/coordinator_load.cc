// The coordinator under load: W simulated workers heartbeating and R simulated trainers reporting
// metrics (in a closed loop, or open-loop at fixed offered rates) against an orchard-coordinator
// process (the one next to this program), each client with its own connection and thread as separate
// processes would have. Prints the sustained report rate, report latency percentiles, heartbeat p99,
// the coordinator's resident memory and failed calls; any failed call makes the exit status 1.
//
//   build/bin/orchard-bench-coordinator [--workers 100] [--reporters 200] [--heartbeat-ms 1000] [--seconds 10]
//   build/bin/orchard-bench-coordinator --dashboards 4   # the same load without, then with 4 dashboards
//   build/bin/orchard-bench-coordinator --rates 8000 --reporters 256 --reports-per-call 8
//       # each 8 reporters relayed together in ReportMetricsBatch calls, as a worker's agent relays
//       # its trainers' reports
//   build/bin/orchard-bench-coordinator --workers 1000 --heartbeat-ms 2000 --rates 1000,2000,4000
//       # open loop: the reporters together offer each rate in turn; latency from each report's
//       # scheduled send time, so queueing shows; the highest rate with p99 under 20 ms
//   build/bin/orchard-bench-coordinator --scale [--rates 1000]
//       # how cost grows: the open-loop load against a store already holding 1k, 10k and 100k
//       # finished trials (1,000 workers), and with 100, 1,000 and 5,000 workers (10k trials)
//   build/bin/orchard-bench-coordinator --reporters 32 --rates 250,500,1000 --optuna-python "$PY"
//       # side by side with Optuna's storages (bench/peer_optuna_storage.py, PY from
//       # bench/setup_optuna_venv.sh): as many client processes calling trial.report at each rate
//
// A simulated dashboard does what an open sweep page does on each live update, twice a second: it
// reads the sweep, its trials and every trial's series of the sweep's metric over HTTP; with
// --dashboards the report rates of both runs end in a BENCH line (ratio: with / without).
//
// The reporters hold the attempts of one random sweep (leased by the simulated workers, which keep
// them alive with their heartbeats), and every report carries the sweep's metric, so each call goes
// through authorisation, the metric insert and the search strategy, as a trainer's would.
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>
#include <absl/synchronization/mutex.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/load_processes.h"
#include "bench/must.h"
#include "coordinator/store/store.h"
#include "core/file_tree.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "orchard/v1/trial_service.grpc.pb.h"
#include "orchard/v1/worker_service.grpc.pb.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using orchard::bench::CoordinatorProcess;
using orchard::bench::Must;
using orchard::bench::PeerResult;
using orchard::bench::RunOptuna;

constexpr int kPointsPerReport = 4;  // a trainer's log line: train_loss, lr, grad_norm, val_loss

std::string Recipe(int trials) {
  return "name: bench-load\n"
         "model: {type: mlp}\n"
         "data: {type: synthetic}\n"
         "train: {steps: 1000000}\n"
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

std::shared_ptr<grpc::Channel> Connect(const std::string& address) {
  grpc::ChannelArguments args;
  // Channels with equal arguments otherwise share one connection; each simulated process has its own.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10)))
    throw std::runtime_error("cannot connect to the coordinator at " + address);
  return channel;
}

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
}

void Check(const grpc::Status& status, const std::string& what) {
  if (!status.ok()) throw std::runtime_error(what + ": " + status.error_message());
}

// Failed calls and unexpected answers, from every client thread.
class Errors {
 public:
  void Add(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (count_++ == 0) first_ = what;
  }
  int64_t count() const { return count_; }
  const std::string& first() const { return first_; }

 private:
  std::mutex mu_;
  int64_t count_ = 0;  // guarded by mu_ while clients run
  std::string first_;  // guarded by mu_ while clients run
};

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(q * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

double Milliseconds(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct SimulatedWorker {
  std::unique_ptr<orchard::v1::WorkerService::Stub> stub;
  std::string id;
  std::vector<int64_t> attempt_ids;
};

struct SimulatedTrainer {
  std::unique_ptr<orchard::v1::TrialService::Stub> stub;
  orchard::v1::Attempt attempt;
};

// Heartbeats at `period` from `start` + `offset` until `end`; latencies (ms), from each call's
// scheduled time, go to `latencies`.
void Heartbeats(SimulatedWorker& worker, Clock::time_point start, Clock::duration offset, Clock::duration period,
                Clock::time_point end, std::vector<double>& latencies, Errors& errors) {
  orchard::v1::HeartbeatRequest request;
  request.set_worker_id(worker.id);
  for (int64_t id : worker.attempt_ids) request.add_running_attempt_ids(id);
  for (auto next = start + offset; next < end; next += period) {
    std::this_thread::sleep_until(next);
    grpc::ClientContext context;
    SetDeadline(context);
    orchard::v1::HeartbeatResponse response;
    const grpc::Status status = worker.stub->Heartbeat(&context, request, &response);
    latencies.push_back(Milliseconds(Clock::now() - next));
    if (!status.ok()) errors.Add("heartbeat of " + worker.id + ": " + status.error_message());
    else if (response.stop_attempt_ids_size() > 0) errors.Add("the coordinator stopped attempts of " + worker.id);
  }
}

// The 4 points a trainer reports at `step`.
void AddPoints(int64_t step, orchard::v1::ReportMetricsRequest& request) {
  request.clear_points();
  const double time = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double loss = 2.0 / std::sqrt(static_cast<double>(step));
  for (const auto& [name, value] : {std::pair{"train_loss", loss}, std::pair{"lr", 1e-3},
                                    std::pair{"grad_norm", 1.0 + loss}, std::pair{"val_loss", 1.1 * loss}}) {
    orchard::v1::MetricPoint* point = request.add_points();
    point->set_step(step);
    point->set_name(name);
    point->set_value(value);
    point->set_time(time);
  }
}

// Reports of `trainers` until `end`, one step further each time; each report's latency (ms) goes to
// `latencies`. One trainer sends ReportMetrics; several are relayed together, one report each per
// ReportMetricsBatch call, as a worker's agent relays its trainers'. With `period` zero, in a
// closed loop (each call sent when the previous one is answered; latency from the send); otherwise
// open-loop, one call every `period` from `first`, latency measured from each call's scheduled time,
// so a call sent late because the previous one was slow counts its wait.
void Reports(const std::vector<SimulatedTrainer*>& trainers, Clock::time_point first, Clock::duration period,
             Clock::time_point end, std::vector<double>& latencies, Errors& errors) {
  orchard::v1::ReportMetricsBatchRequest batch;
  for (const SimulatedTrainer* trainer : trainers) {
    orchard::v1::ReportMetricsRequest* report = batch.add_reports();
    report->set_attempt_id(trainer->attempt.attempt_id());
    report->set_token(trainer->attempt.token());
  }
  const auto answered = [&](const orchard::v1::ReportMetricsResponse& response, size_t i) {
    if (response.decision() != orchard::v1::DECISION_CONTINUE)
      errors.Add("attempt " + std::to_string(trainers[i]->attempt.attempt_id()) + " was told to stop");
  };
  auto scheduled = first;
  for (int64_t step = 1; Clock::now() < end; ++step, scheduled += period) {
    if (period != Clock::duration::zero()) {
      if (scheduled >= end) break;
      std::this_thread::sleep_until(scheduled);
    }
    for (auto& report : *batch.mutable_reports()) AddPoints(step, report);
    grpc::ClientContext context;
    SetDeadline(context);
    const auto sent = period == Clock::duration::zero() ? Clock::now() : scheduled;
    grpc::Status status;
    if (trainers.size() == 1) {
      orchard::v1::ReportMetricsResponse response;
      status = trainers[0]->stub->ReportMetrics(&context, batch.reports(0), &response);
      if (status.ok()) answered(response, 0);
    } else {
      orchard::v1::ReportMetricsBatchResponse response;
      status = trainers[0]->stub->ReportMetricsBatch(&context, batch, &response);
      for (int i = 0; status.ok() && i < response.outcomes_size(); ++i) {
        if (response.outcomes(i).code() != 0) errors.Add("report of attempt " + std::to_string(trainers[i]->attempt.attempt_id()) +
                                                          ": " + response.outcomes(i).message());
        else answered(response.outcomes(i).response(), static_cast<size_t>(i));
      }
    }
    latencies.insert(latencies.end(), trainers.size(), Milliseconds(Clock::now() - sent));
    if (!status.ok())
      errors.Add("report of attempt " + std::to_string(trainers[0]->attempt.attempt_id()) + ": " + status.error_message());
  }
}

// Reads what a live sweep page reads, twice a second, until `end`; counts the reads.
void Dashboard(const std::string& url, int64_t sweep_id, Clock::time_point end, std::atomic<int64_t>& reads,
               Errors& errors) {
  const std::string host_port = url.substr(url.find("//") + 2, url.size() - url.find("//") - 3);
  httplib::Client client(host_port.substr(0, host_port.rfind(':')), std::stoi(host_port.substr(host_port.rfind(':') + 1)));
  const std::string base = "/api/sweeps/" + std::to_string(sweep_id);
  // Whether the read answered; `page_token` gets the answer's next page token, if it has one.
  auto read = [&](const std::string& path, std::string* page_token) {
    auto answer = client.Get(path.c_str());
    if (!answer || answer->status != 200) {
      errors.Add("dashboard read " + path + " failed");
      return false;
    }
    reads.fetch_add(1);
    if (page_token) *page_token = nlohmann::json::parse(answer->body).value("next_page_token", "");
    return true;
  };
  while (Clock::now() < end) {
    read(base, nullptr);
    // Every page of trials, as the sweep page follows them.
    std::string token;
    for (bool more = read(base + "/trials", &token); more && !token.empty();)
      more = read(base + "/trials?page_token=" + token, &token);
    read(base + "/metrics", nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

// A store with history: `trials` finished trials in sweeps of 1,000, each with an objective and 10
// points of val_loss, written straight into the SQLite file before the coordinator opens it.
void SeedHistory(const std::string& state_dir, int64_t trials) {
  if (trials == 0) return;
  auto store = Must(orchard::coordinator::Store::Open(state_dir + "/orchard.db", state_dir + "/storage"), "open");
  orchard::coordinator::Transaction tx = store->Begin();
  constexpr int64_t kTrialsPerSweep = 1000;
  for (int64_t first = 0; first < trials; first += kTrialsPerSweep) {
    const int64_t count = std::min(kTrialsPerSweep, trials - first);
    orchard::coordinator::SweepRecord record;
    record.name = "history";
    record.recipe_yaml = Recipe(static_cast<int>(count));
    record.recipe_file = "bench/coordinator_load.yaml";
    record.spec = {{"strategy", "random"}, {"metric", "val_loss"}, {"mode", "min"}, {"ranks", 1},
                   {"max_trials", count}};
    record.planned_trials = count;
    record.strategy_state = nlohmann::json::object();
    record.created_at = 1.8e9;
    record.owner = "local";
    const int64_t sweep_id = Must(store->InsertSweep(record), "seed a sweep");
    for (int64_t number = 0; number < count; ++number) {
      Must(store->InsertTrial(sweep_id, number, {{"optimizer.lr", std::to_string(1e-4 * (1 + number))}},
                              "sweep-" + std::to_string(sweep_id) + "/trial-" + std::to_string(number), 1.8e9),
           "seed a trial");
      const int64_t trial_id = Must(store->TrialId(sweep_id, number), "seed a trial");
      std::vector<orchard::v1::MetricPoint> points(10);
      for (int step = 0; step < 10; ++step) {
        points[step].set_name("val_loss");
        points[step].set_step(100 * (step + 1));
        points[step].set_value(1.0 / (step + 1) + 1e-6 * number);
        points[step].set_time(1.8e9 + step);
      }
      Must(store->InsertMetrics(trial_id, points), "seed metrics");
      Must(store->RecordObjective(trial_id, 1000, points.back().value()), "seed an objective");
      Must(store->SetTrialState(trial_id, "completed", "", 1.8e9 + 10), "seed a trial's end");
    }
    Must(store->FinishSweep(sweep_id, "completed", 1.8e9 + 10), "seed a sweep's end");
  }
  Must(tx.Commit(), "commit the seeded history");
}

struct LoadResult {
  double reports_per_second = 0;
  double report_p50_ms = 0;
  double report_p99_ms = 0;
  double report_p999_ms = 0;
  double resident_mib = 0;  // the coordinator's, at the end
  double peak_mib = 0;
  // The coordinator's CPU time over the load per 1,000 reports sent (heartbeats included): a
  // figure of its cost that a shared machine's slow spells move far less than latency.
  double cpu_ms_per_1000_reports = 0;
  int64_t errors = 0;
};

struct Load {
  int workers = 100;
  int reporters = 200;
  int heartbeat_ms = 1000;
  double seconds = 10;
  int dashboards = 0;
  double offered_rate = 0;  // 0: the reporters report in a closed loop; else together this many a second
  int reports_per_call = 1;  // >1: reporters relayed in groups of this many, one batch call per group
  int64_t seeded_trials = 0;
};

LoadResult Run(const Load& load) {
  std::string state_dir = (fs::temp_directory_path() / "orchard-bench-coordinator-XXXXXX").string();
  if (!mkdtemp(state_dir.data())) throw std::runtime_error("cannot create a directory like " + state_dir);
  SeedHistory(state_dir, load.seeded_trials);
  // Its HTTP listener serves the dashboards and, at the end, /metrics (how many writes each commit held).
  auto server = std::make_unique<CoordinatorProcess>(state_dir, load.heartbeat_ms);
  const std::string address = server->address();

  // Enough slots among the workers for one attempt per reporter.
  const int slots = (load.reporters + load.workers - 1) / load.workers;
  std::vector<SimulatedWorker> workers(load.workers);
  for (int w = 0; w < load.workers; ++w) {
    workers[w].stub = orchard::v1::WorkerService::NewStub(Connect(address));
    orchard::v1::RegisterWorkerRequest request;
    request.set_hostname("sim-" + std::to_string(w));
    request.set_slots(slots);
    request.set_slot_kind("cpu");
    grpc::ClientContext context;
    SetDeadline(context);
    orchard::v1::RegisterWorkerResponse response;
    Check(workers[w].stub->RegisterWorker(&context, request, &response), "register");
    workers[w].id = response.worker_id();
  }

  int64_t sweep_id = 0;
  {
    auto sweeps = orchard::v1::SweepService::NewStub(Connect(address));
    orchard::v1::SubmitSweepRequest request;
    request.set_recipe_yaml(Recipe(load.reporters));
    request.set_recipe_file("bench/coordinator_load.yaml");
    grpc::ClientContext context;
    SetDeadline(context);
    orchard::v1::SubmitSweepResponse response;
    Check(sweeps->SubmitSweep(&context, request, &response), "submit");
    sweep_id = response.sweep().id();
  }

  std::vector<SimulatedTrainer> trainers;
  for (SimulatedWorker& worker : workers) {
    orchard::v1::LeaseAttemptsRequest request;
    request.set_worker_id(worker.id);
    request.set_free_slots(slots);
    grpc::ClientContext context;
    SetDeadline(context);
    orchard::v1::LeaseAttemptsResponse response;
    Check(worker.stub->LeaseAttempts(&context, request, &response), "lease");
    for (const orchard::v1::Attempt& attempt : response.attempts()) {
      worker.attempt_ids.push_back(attempt.attempt_id());
      trainers.push_back({orchard::v1::TrialService::NewStub(Connect(address)), attempt});
    }
  }
  if (static_cast<int>(trainers.size()) != load.reporters)
    throw std::runtime_error("leased " + std::to_string(trainers.size()) + " attempts, expected " +
                             std::to_string(load.reporters));

  std::printf("coordinator at %s: %d workers (heartbeat every %d ms), %d reporters (%s), %d points per report, "
              "%d report(s) per call, %d dashboards, %lld trials already stored, %.0f s\n", address.c_str(), load.workers,
              load.heartbeat_ms, load.reporters,
              load.offered_rate > 0 ? ("open loop, " + std::to_string(static_cast<int64_t>(load.offered_rate)) + " reports/s offered").c_str()
                               : "closed loop",
              kPointsPerReport, load.reports_per_call, load.dashboards, static_cast<long long>(load.seeded_trials),
              load.seconds);
  std::fflush(stdout);
  Errors errors;
  std::vector<std::vector<double>> heartbeat_ms_by_worker(load.workers), report_ms_by_trainer(load.reporters);
  std::latch go(1);
  Clock::time_point start, end;  // written before `go` opens, read after
  std::vector<std::thread> heartbeat_threads, report_threads, dashboard_threads;
  std::atomic<int64_t> dashboard_reads{0};
  for (int d = 0; d < load.dashboards; ++d)
    dashboard_threads.emplace_back([&] {
      go.wait();
      Dashboard(server->dashboard_url(), sweep_id, end, dashboard_reads, errors);
    });
  const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(load.heartbeat_ms));
  for (int w = 0; w < load.workers; ++w)
    heartbeat_threads.emplace_back([&, w] {
      go.wait();
      // Spread evenly over the period, as independent workers' heartbeats are.
      Heartbeats(workers[w], start, period * w / load.workers, period, end, heartbeat_ms_by_worker[w], errors);
    });
  // Open loop: each reporter every reporters / rate seconds, the first calls spread over one period.
  const auto report_period = load.offered_rate > 0 ? std::chrono::duration_cast<Clock::duration>(
                                                    std::chrono::duration<double>(load.reporters / load.offered_rate))
                                              : Clock::duration::zero();
  const int relays = load.reporters / load.reports_per_call;
  for (int r = 0; r < relays; ++r)
    report_threads.emplace_back([&, r] {
      std::vector<SimulatedTrainer*> group;
      for (int t = r * load.reports_per_call; t < (r + 1) * load.reports_per_call; ++t) group.push_back(&trainers[t]);
      go.wait();
      Reports(group, start + report_period * r / relays, report_period, end, report_ms_by_trainer[r], errors);
    });
  const double cpu_at_start = server->CpuSeconds();
  start = Clock::now();
  end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(load.seconds));
  go.count_down();
  for (std::thread& t : report_threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu_seconds = server->CpuSeconds() - cpu_at_start;
  for (std::thread& t : heartbeat_threads) t.join();
  for (std::thread& t : dashboard_threads) t.join();
  const orchard::bench::WriteBatches batches = server->ReadWriteBatches();
  const double resident_mib = server->MemoryMiB("VmRSS"), peak_mib = server->MemoryMiB("VmHWM");
  server.reset();
  orchard::RemoveTree(state_dir);

  std::vector<double> reports, heartbeats;
  for (const auto& v : report_ms_by_trainer) reports.insert(reports.end(), v.begin(), v.end());
  for (const auto& v : heartbeat_ms_by_worker) heartbeats.insert(heartbeats.end(), v.begin(), v.end());
  std::sort(reports.begin(), reports.end());
  std::sort(heartbeats.begin(), heartbeats.end());
  const double rate = reports.size() / elapsed;
  std::printf("reports: %zu in %.2f s: %.0f reports/s, %.0f points/s\n", reports.size(), elapsed, rate,
              rate * kPointsPerReport);
  std::printf("report latency: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
              Percentile(reports, 0.5), Percentile(reports, 0.9), Percentile(reports, 0.99), Percentile(reports, 0.999),
              reports.empty() ? 0.0 : reports.back());
  std::printf("heartbeats: %zu, latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", heartbeats.size(),
              Percentile(heartbeats, 0.5), Percentile(heartbeats, 0.99), heartbeats.empty() ? 0.0 : heartbeats.back());
  std::printf("group commit: %.0f writes in %.0f commits, %.1f writes per commit\n", batches.writes, batches.commits,
              batches.commits > 0 ? batches.writes / batches.commits : 0.0);
  std::printf("coordinator memory: %.0f MiB resident at the end, %.0f MiB at most\n", resident_mib, peak_mib);
  const double cpu_ms_per_1000 = reports.empty() ? 0.0 : cpu_seconds * 1e6 / reports.size();
  std::printf("coordinator CPU: %.2f s over the load, %.0f%% of one core, %.1f ms per 1,000 reports (heartbeats included)\n",
              cpu_seconds, 100 * cpu_seconds / elapsed, cpu_ms_per_1000);
  if (load.dashboards > 0)
    std::printf("dashboard reads: %lld (%.0f/s)\n", static_cast<long long>(dashboard_reads.load()),
                dashboard_reads.load() / elapsed);
  std::printf("errors: %lld%s%s\n", static_cast<long long>(errors.count()), errors.count() ? "; first: " : "",
              errors.first().c_str());
  std::printf("LOAD reports_per_second=%.0f p99_ms=%.2f clients=%d\n", rate, Percentile(reports, 0.99),
              load.workers + load.reporters);
  return {rate,         Percentile(reports, 0.5), Percentile(reports, 0.99), Percentile(reports, 0.999),
          resident_mib, peak_mib,                  cpu_ms_per_1000,            errors.count()};
}

// The highest offered rate whose p99 stayed under 20 ms with no failed call (0: none did).
template <typename Result>
double HighestUnder20Ms(const std::vector<std::pair<double, Result>>& runs, double Result::*p99,
                        int64_t Result::*errors) {
  double best = 0;
  for (const auto& [rate, result] : runs)
    if (result.*p99 < 20 && result.*errors == 0) best = std::max(best, rate);
  return best;
}

int OpenLoop(const Load& base, const std::vector<double>& rates, const std::string& optuna_python) {
  std::vector<std::pair<double, LoadResult>> ours;
  std::map<std::string, std::vector<std::pair<double, PeerResult>>> peers;
  int64_t errors = 0;
  for (double rate : rates) {
    Load load = base;
    load.offered_rate = rate;
    ours.emplace_back(rate, Run(load));
    errors += ours.back().second.errors;
    if (!optuna_python.empty())
      for (const char* storage : {"rdb", "journal"})
        peers[storage].emplace_back(rate, RunOptuna(optuna_python, storage, base.reporters, rate, base.seconds));
  }
  std::printf("\n| offered reports/s | who | achieved | p50 ms | p99 ms | p99.9 ms | failed calls | coordinator CPU ms "
              "per 1,000 reports |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (size_t i = 0; i < ours.size(); ++i) {
    const auto& [rate, result] = ours[i];
    std::printf("| %.0f | orchard | %.0f | %.2f | %.2f | %.2f | %lld | %.1f |\n", rate, result.reports_per_second,
                result.report_p50_ms, result.report_p99_ms, result.report_p999_ms, static_cast<long long>(result.errors),
                result.cpu_ms_per_1000_reports);
    for (const auto& [storage, runs] : peers) {
      const PeerResult& peer = runs[i].second;
      std::printf("| %.0f | optuna %s | %.0f | %.2f | %.2f | %.2f | %lld | |\n", rate, storage.c_str(),
                  peer.reports_per_second, peer.p50_ms, peer.p99_ms, peer.p999_ms, static_cast<long long>(peer.errors));
    }
  }
  const double best = HighestUnder20Ms(ours, &LoadResult::report_p99_ms, &LoadResult::errors);
  std::printf("OPEN_LOOP highest_rate_with_p99_under_20ms=%.0f\n", best);
  for (const auto& [storage, runs] : peers) {
    const double peer_best = HighestUnder20Ms(runs, &PeerResult::p99_ms, &PeerResult::errors);
    // A peer that met none of the offered rates has no ratio to give: inf when Orchard met one.
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.2f", best / peer_best);
    std::printf("BENCH coordinator_vs_optuna_%s_rate_with_p99_under_20ms ours=%.0f peer=%.0f unit=reports/s "
                "ratio=%s\n", storage.c_str(), best, peer_best, peer_best > 0 ? ratio : best > 0 ? "inf" : "0");
    const auto& [rate, top] = ours.back();
    const PeerResult& peer_top = runs.back().second;
    std::printf("BENCH coordinator_vs_optuna_%s_p99_at_%.0f ours=%.2f peer=%.2f unit=ms ratio=%.2f\n", storage.c_str(),
                rate, top.report_p99_ms, peer_top.p99_ms, peer_top.p99_ms / std::max(top.report_p99_ms, 1e-3));
  }
  return errors == 0 ? 0 : 1;
}

// The same open-loop load against a store holding more history, and with more workers.
int Scale(const Load& base, double rate) {
  struct Row {
    int workers;
    int64_t trials;
  };
  const std::vector<Row> rows = {{1000, 1000}, {1000, 10000}, {1000, 100000}, {100, 10000}, {5000, 10000}};
  std::vector<std::pair<Row, LoadResult>> results;
  for (const Row& row : rows) {
    Load load = base;
    load.workers = row.workers, load.seeded_trials = row.trials, load.offered_rate = rate;
    results.emplace_back(row, Run(load));
  }
  std::printf("\n| trials stored | workers | heartbeats/s | reports/s offered | achieved | p99 ms | coordinator RSS "
              "end / peak MiB | failed calls |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  int64_t errors = 0;
  for (const auto& [row, result] : results) {
    std::printf("| %lld | %d | %.0f | %.0f | %.0f | %.2f | %.0f / %.0f | %lld |\n", static_cast<long long>(row.trials),
                row.workers, row.workers * 1000.0 / base.heartbeat_ms, rate, result.reports_per_second,
                result.report_p99_ms, result.resident_mib, result.peak_mib, static_cast<long long>(result.errors));
    errors += result.errors;
  }
  return errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"The coordinator under load: simulated workers heartbeating and trainers reporting metrics."};
  Load load;
  std::vector<double> rates;
  bool scale = false;
  std::string optuna_python;
  app.add_option("--workers", load.workers, "Simulated workers (heartbeats; they lease the reporters' attempts)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--reporters", load.reporters, "Simulated trainers reporting metrics")->check(CLI::Range(1, 10000));
  app.add_option("--reports-per-call", load.reports_per_call,
                 "Relay the reporters in groups of this many, each group's reports in one ReportMetricsBatch call, as "
                 "a worker relays its trainers' (it must divide --reporters)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--heartbeat-ms", load.heartbeat_ms, "Heartbeat period of each worker")->check(CLI::Range(10, 60000));
  app.add_option("--seconds", load.seconds, "Length of the measured load")->check(CLI::Range(1.0, 3600.0));
  app.add_option("--dashboards", load.dashboards,
                 "Also run the load with this many dashboards reading over HTTP, and compare the report rates")
      ->check(CLI::Range(0, 1000));
  app.add_option("--seed-trials", load.seeded_trials, "Finished trials already in the store when the load starts")
      ->check(CLI::Range(0, 10000000));
  app.add_option("--rates", rates,
                 "Open loop instead: run the load once per offered rate (reports/s, all reporters together) and "
                 "print the highest at which report p99 stays under 20 ms")
      ->delimiter(',')
      ->check(CLI::Range(1.0, 1e6));
  app.add_flag("--scale", scale,
               "How cost grows: the open-loop load at the first of --rates (default 1000) with 1k, 10k and 100k "
               "trials stored, and with 100, 1,000 and 5,000 workers; heartbeats every 2 s unless --heartbeat-ms");
  app.add_option("--optuna-python", optuna_python,
                 "With --rates: also run Optuna's RDB (SQLite) and journal storages at each rate with --reporters "
                 "client processes (this python, from bench/setup_optuna_venv.sh)");
  CLI11_PARSE(app, argc, argv);
  if (load.reporters % load.reports_per_call != 0) {
    std::fprintf(stderr, "--reports-per-call %d does not divide --reporters %d\n", load.reports_per_call, load.reporters);
    return 2;
  }
  // As the coordinator does (CoordinatorServer::Start): the simulated clients share the cores with it,
  // and real ones, on other machines, would not take their cores from it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Two descriptors per simulated client (its connection, and the coordinator's end in the child).
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  try {
    if (scale) {
      if (app.count("--heartbeat-ms") == 0) load.heartbeat_ms = 2000;
      return Scale(load, rates.empty() ? 1000 : rates.front());
    }
    if (!rates.empty()) return OpenLoop(load, rates, optuna_python);
    if (!optuna_python.empty()) throw std::runtime_error("--optuna-python compares open-loop runs: give --rates too");
    Load unwatched = load;
    unwatched.dashboards = 0;
    const LoadResult alone = Run(unwatched);
    if (load.dashboards == 0) return alone.errors == 0 ? 0 : 1;
    const LoadResult watched = Run(load);
    std::printf("BENCH coordinator_reports_with_%d_dashboards ours=%.0f peer=%.0f unit=reports/s ratio=%.2f\n",
                load.dashboards, watched.reports_per_second, alone.reports_per_second,
                watched.reports_per_second / alone.reports_per_second);
    return alone.errors + watched.errors == 0 ? 0 : 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "orchard-bench-coordinator: %s\n", error.what());
    return 1;
  }
}
