// The Coordinator against a real SQLite file, with a hand-moved clock and no network: the fixture
// its tests share (coordinator_test.cc, coordinator_workers_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "coordinator/coordinator.h"
#include "tests/util/manual_clock.h"
#include "tests/util/test_util.h"

namespace orchard::coordinator {

using orchard::testing::ManualClock;
using orchard::testing::TempDir;

constexpr const char* kRecipe = R"(name: tiny
model: {type: mlp, hidden: [8]}
data: {type: synthetic, samples: 64, features: 4, classes: 2}
train: {steps: 5, batch_size: 8}
sweep:
  strategy: grid
  metric: val_loss
  mode: min
  max_concurrent: 2
  parameters:
    optimizer.lr: {values: [0.1, 0.01, 0.001]}
)";

// A Coordinator on a real SQLite file in a temporary folder, with a hand-moved clock, and the calls
// a worker makes. Reopen() is a restart on the same state.
class CoordinatorFixture : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    coordinator_.reset();
    CoordinatorOptions options;
    options.state_dir = dir_ / "state";
    options.lease_timeout_seconds = lease_timeout_seconds_;
    options.clock = &clock_;
    auto opened = Coordinator::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    coordinator_ = std::move(opened).value();
  }

  std::string Register(int64_t slots) {
    v1::RegisterWorkerRequest request;
    request.set_hostname("host");
    request.set_slots(slots);
    request.set_slot_kind("cpu");
    return coordinator_->RegisterWorker(request).value().worker_id();
  }

  std::vector<v1::Attempt> Lease(const std::string& worker, int64_t free) {
    v1::LeaseAttemptsRequest request;
    request.set_worker_id(worker);
    request.set_free_slots(free);
    auto response = coordinator_->LeaseAttempts(request);
    EXPECT_TRUE(response.ok()) << response.status().message();
    return {response->attempts().begin(), response->attempts().end()};
  }

  StatusOr<v1::Decision> ReportMetric(const v1::Attempt& attempt, const std::string& name, double value, int64_t step) {
    ASSIGN_OR_RETURN(v1::ReportMetricsResponse answer, ReportMetricAnswer(attempt, name, value, step));
    return answer.decision();
  }

  StatusOr<v1::ReportMetricsResponse> ReportMetricAnswer(const v1::Attempt& attempt, const std::string& name, double value,
                                                         int64_t step) {
    return coordinator_->ReportMetrics(MetricReport(attempt, name, value, step));
  }

  // `attempt`'s report of one point, with its token.
  static v1::ReportMetricsRequest MetricReport(const v1::Attempt& attempt, const std::string& name, double value,
                                               int64_t step) {
    v1::ReportMetricsRequest request;
    request.set_attempt_id(attempt.attempt_id());
    request.set_token(attempt.token());
    auto* p = request.add_points();
    p->set_step(step);
    p->set_name(name);
    p->set_value(value);
    return request;
  }

  Status Exit(const std::string& worker, const v1::Attempt& attempt, int code, const std::string& reason = "") {
    v1::ReportAttemptExitRequest request;
    request.set_worker_id(worker);
    request.set_attempt_id(attempt.attempt_id());
    request.set_exit_code(code);
    request.set_reason(reason);
    return coordinator_->ReportAttemptExit(request);
  }

  double lease_timeout_seconds_ = CoordinatorOptions().lease_timeout_seconds;
  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<Coordinator> coordinator_;
};

// The tests of the Coordinator's own behaviour: sweeps of kRecipe, workers lost after 10 s.
class CoordinatorTest : public CoordinatorFixture {
 protected:
  CoordinatorTest() { lease_timeout_seconds_ = 10; }

  v1::Sweep Submit(const std::string& recipe = kRecipe) {
    v1::SubmitSweepRequest request;
    request.set_recipe_yaml(recipe);
    request.set_recipe_file("/recipes/tiny.yaml");
    auto sweep = coordinator_->Submit(request);
    EXPECT_TRUE(sweep.ok()) << sweep.status().message();
    return sweep.ok() ? *sweep : v1::Sweep();
  }

  StatusOr<v1::Decision> Report(const v1::Attempt& attempt, int64_t step, double val_loss) {
    return ReportMetric(attempt, "val_loss", val_loss, step);
  }

  Status Checkpoint(const v1::Attempt& attempt, int64_t step) {
    v1::ReportCheckpointRequest request;
    request.set_attempt_id(attempt.attempt_id());
    request.set_token(attempt.token());
    request.set_step(step);
    request.set_path(attempt.output_dir() + "/checkpoints/step-" + std::to_string(step));
    return coordinator_->ReportCheckpoint(request).status();
  }

  // What a trainer leaves on disk: checkpoints/step-<n>/{rank-0.pt, MANIFEST} under its output dir.
  void WriteCheckpoint(const v1::Attempt& attempt, int64_t step, const std::string& content) {
    const std::filesystem::path dir = std::filesystem::path(coordinator_->storage_root()) / attempt.output_dir() /
                                      "checkpoints" / ("step-" + std::to_string(step));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "rank-0.pt") << content;
    std::ofstream(dir / "MANIFEST") << "{\"step\": " << step << "}";
  }

  int64_t Count(int64_t sweep_id, const std::string& state) {
    const v1::Sweep sweep = coordinator_->GetSweep(sweep_id).value();
    auto it = sweep.trials_by_state().find(state);
    return it == sweep.trials_by_state().end() ? 0 : it->second;
  }
};

}  // namespace orchard::coordinator
