// The fixture of the end-to-end sweep tests: a real orchard-coordinator process on loopback, real
// orchard-worker processes (CPU slots), and the orchard CLI, checked through the gRPC API.
//
//   class MyTest : public SweepTest { protected: MyTest() { worker_slots_ = {2}; } };
//   TEST_F(MyTest, ...) { const int64_t id = Submit(Recipe(300, "[0.01]", 100)); ... }
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <regex>
#include <thread>

#include "client/connection.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "tests/util/test_util.h"

namespace orchard::integration {

namespace fs = std::filesystem;
using testing::Process;
using testing::ProcessResult;
using testing::ReadFile;
using testing::RunProcess;
using testing::TempDir;
using testing::WaitFor;
using testing::WriteFile;

inline const std::string kBin = ORCHARD_BIN_DIR;

inline std::string Recipe(int64_t steps, const std::string& lrs, int64_t checkpoint_interval, int64_t ranks = 1) {
  return "name: it\n"
         "model: {type: mlp, hidden: [32]}\n"
         "data: {type: synthetic, samples: 512, features: 8, classes: 3}\n"
         "train: {steps: " + std::to_string(steps) + ", batch_size: 16, eval_interval: 20, threads: 1}\n"
         "checkpoint: {interval: " + std::to_string(checkpoint_interval) + ", keep: 2}\n"
         "sweep:\n"
         "  strategy: grid\n"
         "  metric: val_loss\n"
         "  mode: min\n"
         "  ranks: " + std::to_string(ranks) + "\n"
         "  parameters:\n"
         "    optimizer.lr: {values: " + lrs + "}\n";
}

class SweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> coordinator = {kBin + "/orchard-coordinator", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--state-dir",
                                            dir_ / "state", "--heartbeat-interval", heartbeat_interval_, "--lease-timeout", lease_timeout_};
    coordinator.insert(coordinator.end(), coordinator_flags_.begin(), coordinator_flags_.end());
    coordinator_ = std::make_unique<Process>(coordinator, dir_ / "coordinator.log");
    address_ = testing::WaitForListenAddress(dir_ / "coordinator.log", 30);
    ASSERT_FALSE(address_.empty()) << ReadFile(dir_ / "coordinator.log");
    stub_ = v1::SweepService::NewStub(client::CreateCoordinatorChannel(address_, security_));
    for (size_t i = 0; i < worker_slots_.size(); ++i) workers_.push_back(StartWorker(i));
    ASSERT_TRUE(WaitFor([&] { return Workers().workers_size() == static_cast<int>(worker_slots_.size()); }, 30));
  }

  void TearDown() override {
    for (auto& worker : workers_) {
      kill(worker->pid(), SIGTERM);
      EXPECT_EQ(worker->Wait(60).exit_code, 0) << "a worker did not stop cleanly";
    }
    kill(coordinator_->pid(), SIGTERM);
    EXPECT_EQ(coordinator_->Wait(30).exit_code, 0);
  }

  std::unique_ptr<Process> StartWorker(size_t index) {
    std::vector<std::string> worker = {kBin + "/orchard-worker", "--coordinator", address_, "--cpu-slots",
                                       std::to_string(worker_slots_[index]), "--threads-per-slot", "1"};
    worker.insert(worker.end(), worker_flags_.begin(), worker_flags_.end());
    return std::make_unique<Process>(
        worker, dir_ / ("worker-" + std::to_string(index) + (workers_.size() > index ? "-restarted" : "") + ".log"));
  }

  struct StartedTrainer {
    int64_t attempt_id = 0;
    int pid = 0;
    int worker = -1;  // index into workers_
  };
  // Trainers the workers started, by attempt id (the order they were leased in).
  std::vector<StartedTrainer> StartedTrainers() {
    static const std::regex started("attempt ([0-9]+) \\(sweep [0-9]+, trial [0-9]+\\) started as pid ([0-9]+)");
    std::vector<StartedTrainer> trainers;
    for (size_t i = 0; i < workers_.size(); ++i) {
      const std::string log = ReadFile(dir_ / ("worker-" + std::to_string(i) + ".log"));
      for (std::sregex_iterator it(log.begin(), log.end(), started), end; it != end; ++it)
        trainers.push_back({std::stoll((*it)[1]), std::stoi((*it)[2]), static_cast<int>(i)});
    }
    std::sort(trainers.begin(), trainers.end(), [](const auto& a, const auto& b) { return a.attempt_id < b.attempt_id; });
    return trainers;
  }

  // The `n`th trainer started (0-based), waiting for it up to 30 s; pid 0 when there is none.
  StartedTrainer Trainer(size_t n) {
    std::vector<StartedTrainer> trainers;
    WaitFor([&] { return (trainers = StartedTrainers()).size() > n; }, 30);
    return trainers.size() > n ? trainers[n] : StartedTrainer{};
  }

  v1::ListWorkersResponse Workers() {
    grpc::ClientContext context;
    v1::ListWorkersResponse response;
    (void)stub_->ListWorkers(&context, v1::ListWorkersRequest(), &response);
    return response;
  }

  v1::Sweep GetSweep(int64_t id) {
    grpc::ClientContext context;
    v1::GetSweepRequest request;
    request.set_sweep_id(id);
    v1::Sweep sweep;
    EXPECT_TRUE(stub_->GetSweep(&context, request, &sweep).ok());
    return sweep;
  }

  std::vector<v1::Trial> Trials(int64_t id) {
    grpc::ClientContext context;
    v1::ListTrialsRequest request;
    request.set_sweep_id(id);
    v1::ListTrialsResponse response;
    EXPECT_TRUE(stub_->ListTrials(&context, request, &response).ok());
    return {response.trials().begin(), response.trials().end()};
  }

  std::vector<v1::MetricPoint> Metrics(int64_t trial_id, const std::string& name) {
    grpc::ClientContext context;
    v1::GetTrialMetricsRequest request;
    request.set_trial_id(trial_id);
    request.set_name(name);
    v1::GetTrialMetricsResponse response;
    EXPECT_TRUE(stub_->GetTrialMetrics(&context, request, &response).ok());
    return {response.points().begin(), response.points().end()};
  }

  ProcessResult Cli(std::vector<std::string> args, double timeout = 300) {
    args.insert(args.begin(), cli_flags_.begin(), cli_flags_.end());
    args.insert(args.begin(), {kBin + "/orchard", "--coordinator", address_});
    return RunProcess(args, timeout);
  }

  // Whether, within two minutes, `count` trials of the sweep run with a checkpoint reported.
  bool WaitUntilCheckpointedAndRunning(int64_t id, int count) {
    return WaitFor([&] {
      int ready = 0;
      for (const v1::Trial& t : Trials(id)) ready += t.state() == v1::TRIAL_RUNNING && !t.checkpoint().empty();
      return ready == count;
    }, 120);
  }

  // Follows the sweep with `orchard watch` until it ends, expects it completed, and returns what
  // watch printed.
  ProcessResult WatchUntilCompleted(int64_t id) {
    const ProcessResult watched = Cli({"watch", std::to_string(id)});
    EXPECT_EQ(watched.exit_code, 0) << watched.output;
    EXPECT_EQ(GetSweep(id).state(), v1::SWEEP_COMPLETED);
    return watched;
  }

  // An ASHA sweep of `trials` trials with rungs at min_steps * 2^rung: some were stopped, each at the
  // step of its rung with its checkpoint there (its trainer waited at the rung for the decision), and
  // the rest completed.
  void ExpectStoppedAtTheirRungs(int64_t id, int64_t min_steps, int trials) {
    int stopped = 0, completed = 0;
    for (const v1::Trial& trial : Trials(id)) {
      if (trial.state() == v1::TRIAL_STOPPED) {
        ++stopped;
        ASSERT_GE(trial.rung(), 0);
        EXPECT_EQ(trial.last_step(), min_steps << trial.rung()) << "trial " << trial.number() << " at rung " << trial.rung();
        EXPECT_EQ(fs::path(trial.checkpoint()).filename(), "step-" + std::to_string(trial.last_step()));
      }
      completed += trial.state() == v1::TRIAL_COMPLETED;
    }
    EXPECT_GE(stopped, 1);
    EXPECT_GE(completed, 1);
    EXPECT_EQ(stopped + completed, trials);
  }

  int64_t Submit(const std::string& recipe) {
    WriteFile(dir_ / "recipe.yaml", recipe);
    const ProcessResult submitted = Cli({"--json", "submit", dir_ / "recipe.yaml"});
    EXPECT_EQ(submitted.exit_code, 0) << submitted.output;
    const auto json = nlohmann::json::parse(submitted.output, nullptr, false);
    return json.is_object() ? std::stoll(json.value("id", "0")) : 0;
  }

  std::vector<int> worker_slots_ = {1, 1};  // CPU slots of each worker
  std::string heartbeat_interval_ = "0.5", lease_timeout_ = "5";  // seconds, the coordinator's flags
  std::vector<std::string> coordinator_flags_, worker_flags_, cli_flags_;  // added to each command line
  client::ClientSecurity security_;                                       // of stub_
  TempDir dir_;
  std::unique_ptr<Process> coordinator_;
  std::vector<std::unique_ptr<Process>> workers_;
  std::string address_;
  std::unique_ptr<v1::SweepService::Stub> stub_;
};

}  // namespace orchard::integration
