// What the worker agent's tests share (agent_test.cc, agent_reports_test.cc): a fake coordinator (a
// CoordinatorLink), a fake launcher whose "trainers" end when the test says so, or on SIGTERM as
// orchard-train does (preempted), and the fixture that runs a WorkerAgent against both.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/trainer_exit_codes.h"
#include "tests/util/test_util.h"
#include "worker/agent/agent.h"
#include "worker/agent/coordinator_link.h"

namespace orchard::worker {

using orchard::testing::WaitFor;

inline constexpr char kRecipe[] = R"(name: tiny
model:
  type: mlp
  hidden: [8]
data:
  type: synthetic
  samples: 64
train:
  steps: 5
)";

// Answers like a coordinator with one worker, "worker-1"; records every call. Thread-safe.
class FakeCoordinator final : public CoordinatorLink {
 public:
  explicit FakeCoordinator(std::string storage_root) : storage_root_(std::move(storage_root)) {}

  // The next `times` calls of `rpc` ("RegisterWorker", "Heartbeat", ...) fail with `status`.
  void FailNext(const std::string& rpc, Status status, int times = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_[rpc] = {std::move(status), times};
  }
  // Handed out by the next lease that succeeds, together.
  void Offer(std::vector<v1::Attempt> attempts) {
    std::lock_guard<std::mutex> lock(mu_);
    for (v1::Attempt& attempt : attempts) offered_.push_back(std::move(attempt));
  }
  void Offer(v1::Attempt attempt) { Offer(std::vector<v1::Attempt>{std::move(attempt)}); }
  // The next heartbeat that succeeds asks for this attempt to stop.
  void AskToStop(int64_t attempt_id) {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ids_.push_back(attempt_id);
  }
  void SetDecision(v1::Decision decision) {
    std::lock_guard<std::mutex> lock(mu_);
    decision_ = decision;
  }
  // Metric reports are answered as judged at `decided_step`, the next judged at `next_decision_step`.
  void SetJudgement(int64_t decided_step, int64_t next_decision_step) {
    std::lock_guard<std::mutex> lock(mu_);
    decided_step_ = decided_step;
    next_decision_step_ = next_decision_step;
  }

  StatusOr<v1::RegisterWorkerResponse> RegisterWorker(const v1::RegisterWorkerRequest& request, Deadline) override {
    std::lock_guard<std::mutex> lock(mu_);
    registrations_.push_back(request);
    RETURN_IF_ERROR(Answer("RegisterWorker"));
    v1::RegisterWorkerResponse response;
    response.set_worker_id("worker-1");
    response.set_heartbeat_interval_seconds(0.05);
    response.set_lease_timeout_seconds(lease_timeout_seconds);
    response.set_storage_root(storage_root_);
    return response;
  }
  StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request, Deadline) override {
    std::lock_guard<std::mutex> lock(mu_);
    heartbeats_.push_back(request);
    RETURN_IF_ERROR(Answer("Heartbeat"));
    v1::HeartbeatResponse response;
    for (int64_t id : std::exchange(stop_ids_, {})) response.add_stop_attempt_ids(id);
    return response;
  }
  StatusOr<v1::LeaseAttemptsResponse> LeaseAttempts(const v1::LeaseAttemptsRequest& request, Deadline) override {
    std::lock_guard<std::mutex> lock(mu_);
    leases_.push_back(request);
    RETURN_IF_ERROR(Answer("LeaseAttempts"));
    v1::LeaseAttemptsResponse response;
    for (v1::Attempt& attempt : std::exchange(offered_, {})) *response.add_attempts() = std::move(attempt);
    return response;
  }
  Status ReportAttemptExit(const v1::ReportAttemptExitRequest& request, Deadline) override {
    std::chrono::milliseconds hold;
    {
      std::lock_guard<std::mutex> lock(mu_);
      max_exits_in_flight_ = std::max(max_exits_in_flight_, ++exits_in_flight_);
      hold = hold_exits_;
    }
    std::this_thread::sleep_for(hold);  // as a durable commit takes time, with the others' calls free to arrive
    std::lock_guard<std::mutex> lock(mu_);
    --exits_in_flight_;
    exits_.push_back(request);
    return Answer("ReportAttemptExit");
  }
  // Each exit report takes this long to answer.
  void HoldExits(std::chrono::milliseconds hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_exits_ = hold;
  }
  // The most exit reports that were being answered at one time.
  int max_exits_in_flight() const { return Locked(max_exits_in_flight_); }
  Status DeregisterWorker(const v1::DeregisterWorkerRequest& request, Deadline) override {
    std::lock_guard<std::mutex> lock(mu_);
    deregistrations_.push_back(request);
    return Answer("DeregisterWorker");
  }
  // FailNext("ReportMetricsBatch", ...) fails a whole call, FailNext("ReportMetrics", ...) one report of it.
  StatusOr<std::vector<StatusOr<v1::ReportMetricsResponse>>> ReportMetricsBatch(
      const v1::ReportMetricsBatchRequest& request, Deadline) override {
    std::lock_guard<std::mutex> lock(mu_);
    batches_.push_back(request);
    metrics_.insert(metrics_.end(), request.reports().begin(), request.reports().end());
    RETURN_IF_ERROR(Answer("ReportMetricsBatch"));
    taken_batches_.push_back(request);
    std::vector<StatusOr<v1::ReportMetricsResponse>> outcomes;
    for (int i = 0; i < request.reports_size(); ++i) {
      const Status refused = Answer("ReportMetrics");
      if (!refused.ok()) {
        outcomes.emplace_back(refused);
        continue;
      }
      v1::ReportMetricsResponse response;
      response.set_decision(decision_);
      response.set_decided_step(decided_step_);
      response.set_next_decision_step(next_decision_step_);
      outcomes.emplace_back(response);
    }
    return outcomes;
  }
  StatusOr<v1::ReportCheckpointResponse> ReportCheckpoint(const v1::ReportCheckpointRequest& request,
                                                          Deadline) override {
    std::lock_guard<std::mutex> lock(mu_);
    checkpoints_.push_back(request);
    RETURN_IF_ERROR(Answer("ReportCheckpoint"));
    return v1::ReportCheckpointResponse();
  }

  // Copies of what was called, in order, failed calls included.
  std::vector<std::string> calls() const { return Locked(calls_); }
  std::vector<v1::RegisterWorkerRequest> registrations() const { return Locked(registrations_); }
  std::vector<v1::HeartbeatRequest> heartbeats() const { return Locked(heartbeats_); }
  std::vector<v1::LeaseAttemptsRequest> leases() const { return Locked(leases_); }
  std::vector<v1::ReportAttemptExitRequest> exits() const { return Locked(exits_); }
  std::vector<v1::DeregisterWorkerRequest> deregistrations() const { return Locked(deregistrations_); }
  std::vector<v1::ReportMetricsRequest> metrics() const { return Locked(metrics_); }  // each report of each call
  std::vector<v1::ReportMetricsBatchRequest> batches() const { return Locked(batches_); }  // every call
  std::vector<v1::ReportMetricsBatchRequest> taken_batches() const { return Locked(taken_batches_); }  // not failed whole
  std::vector<v1::ReportCheckpointRequest> checkpoints() const { return Locked(checkpoints_); }

  double lease_timeout_seconds = 60;  // set before the agent registers

 private:
  Status Answer(const std::string& rpc) {
    calls_.push_back(rpc);
    auto it = failures_.find(rpc);
    if (it == failures_.end() || it->second.second == 0) return OkStatus();
    --it->second.second;
    return it->second.first;
  }
  template <typename T>
  T Locked(const T& value) const {
    std::lock_guard<std::mutex> lock(mu_);
    return value;
  }

  const std::string storage_root_;
  mutable std::mutex mu_;
  std::map<std::string, std::pair<Status, int>> failures_;
  std::vector<v1::Attempt> offered_;
  std::vector<int64_t> stop_ids_;
  v1::Decision decision_ = v1::DECISION_CONTINUE;
  int64_t decided_step_ = -1, next_decision_step_ = 0;
  std::vector<std::string> calls_;
  std::vector<v1::RegisterWorkerRequest> registrations_;
  std::vector<v1::HeartbeatRequest> heartbeats_;
  std::vector<v1::LeaseAttemptsRequest> leases_;
  std::vector<v1::ReportAttemptExitRequest> exits_;
  std::vector<v1::DeregisterWorkerRequest> deregistrations_;
  std::vector<v1::ReportMetricsRequest> metrics_;
  std::vector<v1::ReportMetricsBatchRequest> batches_, taken_batches_;
  std::chrono::milliseconds hold_exits_{0};
  int exits_in_flight_ = 0, max_exits_in_flight_ = 0;
  std::vector<v1::ReportCheckpointRequest> checkpoints_;
};

// Trainers that are only pids: they end when the test calls End, or on SIGTERM (preempted, as
// orchard-train after its checkpoint) and SIGKILL. Thread-safe.
class FakeLauncher final : public TrainerLauncher {
 public:
  explicit FakeLauncher(std::function<void()> on_exit) : on_exit_(std::move(on_exit)) {}

  void Prewarm() override { prewarms_.fetch_add(1); }
  int prewarms() const { return prewarms_.load(); }
  StatusOr<int> Launch(const LaunchRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    launches_.push_back(request);
    return 100 + static_cast<int>(launches_.size());
  }
  std::vector<TrainerExit> TakeExits() override {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(exits_, {});
  }
  void Signal(int pid, int signal) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      signals_.emplace_back(pid, signal);
    }
    if (signal == SIGTERM) End(pid, train::kExitPreempted, 0);
    if (signal == SIGKILL) End(pid, -1, SIGKILL);
  }

  void End(int pid, int exit_code, int signal) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      exits_.push_back(TrainerExit{pid, exit_code, signal, ""});
    }
    on_exit_();
  }
  std::vector<LaunchRequest> launches() const {
    std::lock_guard<std::mutex> lock(mu_);
    return launches_;
  }
  std::vector<std::pair<int, int>> signals() const {
    std::lock_guard<std::mutex> lock(mu_);
    return signals_;
  }

 private:
  const std::function<void()> on_exit_;
  std::atomic<int> prewarms_{0};
  mutable std::mutex mu_;
  std::vector<LaunchRequest> launches_;
  std::vector<TrainerExit> exits_;
  std::vector<std::pair<int, int>> signals_;  // (pid, signal)
};

inline v1::Attempt MakeAttempt(int64_t attempt_id) {
  v1::Attempt attempt;
  attempt.set_attempt_id(attempt_id);
  attempt.set_trial_id(3);
  attempt.set_sweep_id(1);
  attempt.set_number(2);
  attempt.set_recipe_yaml(kRecipe);
  attempt.set_recipe_file("sweeps/tiny.yaml");
  attempt.add_overrides("optimizer.lr=0.1");
  attempt.set_output_dir("sweep-1/trial-3");
  attempt.set_log_path("sweep-1/trial-3/attempt-" + std::to_string(attempt_id) + ".log");
  attempt.set_token("attempt-token");
  attempt.set_slots(1);
  attempt.set_resume(true);
  return attempt;
}

inline bool Contains(const std::vector<std::pair<int, int>>& signals, int pid, int signal) {
  return std::find(signals.begin(), signals.end(), std::make_pair(pid, signal)) != signals.end();
}

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() : link_(std::make_unique<FakeCoordinator>(storage_.path().string())), coordinator_(*link_) {}
  ~AgentTest() override {
    if (thread_.joinable()) (void)Stop();  // a test that failed before stopping the agent
  }

  AgentOptions Options() {
    AgentOptions options;
    options.coordinator = "fake:7070";
    options.hostname = "node-1";
    options.slots = Slots{2, "cpu", {}};
    options.threads_per_slot = 3;
    options.poll_seconds = 0.02;
    options.connect_timeout_seconds = 5;
    options.quiet = true;
    options.make_launcher = [this](std::function<void()> on_exit) {
      auto launcher = std::make_unique<FakeLauncher>(std::move(on_exit));
      launcher_ = launcher.get();
      return launcher;
    };
    return options;
  }

  void Start(AgentOptions options) {
    agent_ = std::make_unique<WorkerAgent>(std::move(options), std::move(link_));
    thread_ = std::thread([this] { status_ = agent_->Run(stop_); });
  }
  void Start() { Start(Options()); }

  Status Stop() {
    stop_.store(true);
    agent_->Wake();
    thread_.join();
    return status_;
  }

  // Offers an attempt and waits until its trainer is launched; its pid.
  int LaunchAttempt(int64_t attempt_id, int64_t next_decision_step = 0) {
    const size_t before = launcher_->launches().size();
    v1::Attempt attempt = MakeAttempt(attempt_id);
    attempt.set_next_decision_step(next_decision_step);
    coordinator_.Offer(attempt);
    EXPECT_TRUE(WaitFor([&] { return launcher_->launches().size() > before; }, 5));
    return 101 + static_cast<int>(before);
  }

  std::string AttemptDir() const { return (storage_.path() / "sweep-1/trial-3").string(); }

  // Whether a heartbeat sent after `since` earlier ones reported `attempt_id` as running.
  bool ReportedRunning(int64_t attempt_id, size_t since) const {
    const std::vector<v1::HeartbeatRequest> beats = coordinator_.heartbeats();
    for (size_t i = since; i < beats.size(); ++i) {
      const auto& ids = beats[i].running_attempt_ids();
      if (std::find(ids.begin(), ids.end(), attempt_id) != ids.end()) return true;
    }
    return false;
  }

  orchard::testing::TempDir storage_;
  std::unique_ptr<FakeCoordinator> link_;
  FakeCoordinator& coordinator_;  // owned by agent_ once started
  FakeLauncher* launcher_ = nullptr;  // owned by agent_
  std::unique_ptr<WorkerAgent> agent_;
  std::atomic<bool> stop_{false};
  Status status_;
  std::thread thread_;
};

}  // namespace orchard::worker
