// The coordinator's domain logic against a real SQLite file, with a hand-moved clock and no network.
#include "coordinator/coordinator.h"

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/util/manual_clock.h"
#include "tests/util/test_util.h"

namespace orchard::coordinator {
namespace {

using orchard::testing::TempDir;

using orchard::testing::ManualClock;

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

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    coordinator_.reset();
    CoordinatorOptions options;
    options.state_dir = dir_ / "state";
    options.lease_timeout_seconds = 10;
    options.clock = &clock_;
    auto opened = Coordinator::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    coordinator_ = std::move(opened).value();
  }

  v1::Sweep Submit(const std::string& recipe = kRecipe) {
    v1::SubmitSweepRequest request;
    request.set_recipe_yaml(recipe);
    request.set_recipe_file("/recipes/tiny.yaml");
    auto sweep = coordinator_->Submit(request);
    EXPECT_TRUE(sweep.ok()) << sweep.status().message();
    return sweep.ok() ? *sweep : v1::Sweep();
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

  StatusOr<v1::Decision> Report(const v1::Attempt& attempt, int64_t step, double val_loss) {
    v1::ReportMetricsRequest request;
    request.set_attempt_id(attempt.attempt_id());
    request.set_token(attempt.token());
    auto* p = request.add_points();
    p->set_step(step);
    p->set_name("val_loss");
    p->set_value(val_loss);
    return coordinator_->ReportMetrics(request);
  }

  Status Exit(const std::string& worker, const v1::Attempt& attempt, int code, const std::string& reason = "") {
    v1::ReportAttemptExitRequest request;
    request.set_worker_id(worker);
    request.set_attempt_id(attempt.attempt_id());
    request.set_exit_code(code);
    request.set_reason(reason);
    return coordinator_->ReportAttemptExit(request);
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

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(CoordinatorTest, AnInvalidRecipeIsRejectedWithItsLineAndNothingIsStored) {
  v1::SubmitSweepRequest request;
  request.set_recipe_yaml("name: x\nmodel: {type: mlp}\ndata: {type: synthetic}\ntrain: {stepz: 5}\n");
  request.set_recipe_file("/r/x.yaml");
  auto sweep = coordinator_->Submit(request);
  ASSERT_FALSE(sweep.ok());
  EXPECT_EQ(sweep.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(sweep.status().message().find("/r/x.yaml:4:"), std::string::npos) << sweep.status().message();
  EXPECT_TRUE(coordinator_->ListSweeps(10).empty());
}

TEST_F(CoordinatorTest, ARecipeWithoutASweepIsOneTrial) {
  const v1::Sweep sweep = Submit("name: one\nmodel: {type: mlp}\ndata: {type: synthetic}\ntrain: {steps: 3}\n");
  EXPECT_EQ(sweep.trials_total(), 1);
  EXPECT_EQ(sweep.metric(), "val_loss");
}

TEST_F(CoordinatorTest, ASweepRunsToCompletionAndBestFollowsTheReportedMetric) {
  const v1::Sweep sweep = Submit();
  ASSERT_EQ(sweep.trials_total(), 3);
  const std::string worker = Register(4);
  auto first = Lease(worker, 4);
  ASSERT_EQ(first.size(), 2u);  // max_concurrent: 2
  EXPECT_EQ(first[0].overrides(0), "optimizer.lr=0.1");
  EXPECT_EQ(first[0].output_dir(), "tiny-1/trial-0");
  EXPECT_EQ(first[0].log_path(), "tiny-1/trial-0/attempt-1.log");
  EXPECT_FALSE(first[0].resume());
  EXPECT_TRUE(Lease(worker, 2).empty());  // still two running

  EXPECT_EQ(Report(first[0], 5, 0.40).value(), v1::DECISION_CONTINUE);
  EXPECT_EQ(Report(first[1], 5, 0.30).value(), v1::DECISION_CONTINUE);
  ASSERT_TRUE(Exit(worker, first[0], 0).ok());
  ASSERT_TRUE(Exit(worker, first[0], 0).ok());  // a retried exit is harmless
  ASSERT_TRUE(Exit(worker, first[1], 0).ok());
  auto last = Lease(worker, 4);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(Report(last[0], 5, 0.35).value(), v1::DECISION_CONTINUE);
  ASSERT_TRUE(Exit(worker, last[0], 0).ok());

  const v1::Sweep done = coordinator_->GetSweep(sweep.id()).value();
  EXPECT_EQ(done.state(), v1::SWEEP_COMPLETED);
  EXPECT_EQ(Count(sweep.id(), "completed"), 3);
  const v1::Trial best = coordinator_->BestTrial(sweep.id()).value();
  EXPECT_EQ(best.number(), 1);
  EXPECT_DOUBLE_EQ(best.objective(), 0.30);
  EXPECT_EQ(coordinator_->TrialMetrics(best.id(), "val_loss").value().size(), 1u);
}

TEST_F(CoordinatorTest, AFailedTrialKeepsItsReasonAndAllFailedMeansTheSweepFailed) {
  const v1::Sweep sweep = Submit(
      "name: f\nmodel: {type: mlp}\ndata: {type: synthetic}\ntrain: {steps: 3}\n");
  const std::string worker = Register(1);
  auto attempts = Lease(worker, 1);
  ASSERT_EQ(attempts.size(), 1u);
  ASSERT_TRUE(Exit(worker, attempts[0], 3, "diverged at step 2: loss is nan").ok());
  const auto trials = coordinator_->ListTrials(sweep.id()).value();
  EXPECT_EQ(trials[0].state(), v1::TRIAL_FAILED);
  EXPECT_EQ(trials[0].message(), "diverged at step 2: loss is nan");
  EXPECT_EQ(trials[0].exit_code(), 3);
  EXPECT_EQ(coordinator_->GetSweep(sweep.id()).value().state(), v1::SWEEP_FAILED);
  EXPECT_EQ(coordinator_->BestTrial(sweep.id()).status().code(), StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, CancelStopsRunningTrialsAndEndsPendingOnes) {
  const v1::Sweep sweep = Submit();
  const std::string worker = Register(1);
  auto attempts = Lease(worker, 1);
  ASSERT_EQ(attempts.size(), 1u);
  ASSERT_TRUE(coordinator_->Cancel(sweep.id()).ok());
  ASSERT_TRUE(coordinator_->Cancel(sweep.id()).ok());  // idempotent
  EXPECT_EQ(Count(sweep.id(), "canceled"), 2);         // the pending ones
  EXPECT_EQ(Count(sweep.id(), "running"), 1);

  v1::HeartbeatRequest heartbeat;
  heartbeat.set_worker_id(worker);
  heartbeat.add_running_attempt_ids(attempts[0].attempt_id());
  const auto stop = coordinator_->Heartbeat(heartbeat).value();
  ASSERT_EQ(stop.stop_attempt_ids_size(), 1);
  EXPECT_EQ(stop.stop_attempt_ids(0), attempts[0].attempt_id());
  EXPECT_EQ(Report(attempts[0], 3, 0.5).value(), v1::DECISION_STOP);
  EXPECT_TRUE(Lease(worker, 1).empty());

  ASSERT_TRUE(Exit(worker, attempts[0], 4, "preempted").ok());
  EXPECT_EQ(Count(sweep.id(), "canceled"), 3);
  EXPECT_EQ(Count(sweep.id(), "running"), 0);
  EXPECT_EQ(coordinator_->GetSweep(sweep.id()).value().state(), v1::SWEEP_CANCELED);
  EXPECT_TRUE(coordinator_->ListWorkers()[0].alive());
  EXPECT_EQ(coordinator_->ListWorkers()[0].running_attempts(), 0);
}

TEST_F(CoordinatorTest, ASilentWorkerIsLostAndItsTrialResumesElsewhereNeverTwiceAtOnce) {
  const v1::Sweep sweep = Submit();
  const std::string lost = Register(1);
  auto attempts = Lease(lost, 1);
  ASSERT_EQ(attempts.size(), 1u);
  clock_.Advance(5);
  const std::string healthy = Register(1);
  clock_.Advance(6);  // `lost` is silent for 11 s > 10 s; `healthy` for 6 s
  ASSERT_TRUE(coordinator_->ExpireWorkers().ok());

  auto trials = coordinator_->ListTrials(sweep.id()).value();
  EXPECT_EQ(trials[0].state(), v1::TRIAL_PENDING);
  EXPECT_EQ(trials[0].restarts(), 1);
  EXPECT_NE(trials[0].message().find("worker " + lost + " lost"), std::string::npos) << trials[0].message();
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_worker_id(lost);
  EXPECT_EQ(coordinator_->Heartbeat(heartbeat).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Report(attempts[0], 5, 0.1).status().code(), StatusCode::kFailedPrecondition);  // fenced
  EXPECT_TRUE(Exit(lost, attempts[0], 0).ok());  // late, ignored: it does not complete the trial
  EXPECT_EQ(coordinator_->ListTrials(sweep.id()).value()[0].state(), v1::TRIAL_PENDING);

  auto next = Lease(healthy, 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].trial_id(), trials[0].id());  // the lost trial goes first, as attempt 2, resuming
  EXPECT_EQ(next[0].number(), 2);
  EXPECT_TRUE(next[0].resume());
  EXPECT_EQ(next[0].output_dir(), attempts[0].output_dir());
  EXPECT_EQ(Report(next[0], 5, 0.2).value(), v1::DECISION_CONTINUE);
  ASSERT_TRUE(Exit(healthy, next[0], 0).ok());
  EXPECT_EQ(coordinator_->ListTrials(sweep.id()).value()[0].state(), v1::TRIAL_COMPLETED);
}

TEST_F(CoordinatorTest, CrashesAreRetriedUpToMaxRestartsThenTheTrialFailsWithTheReason) {
  const v1::Sweep sweep = Submit(
      "name: c\nmodel: {type: mlp}\ndata: {type: synthetic}\ntrain: {steps: 3}\nsweep:\n  strategy: grid\n  max_restarts: 1\n"
      "  parameters:\n    optimizer.lr: {values: [0.1]}\n");
  const std::string worker = Register(1);
  auto first = Lease(worker, 1);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(Exit(worker, first[0], -1, "killed by signal 9 (Killed); out of memory?").ok());
  auto trial = coordinator_->ListTrials(sweep.id()).value()[0];
  EXPECT_EQ(trial.state(), v1::TRIAL_PENDING);
  EXPECT_EQ(trial.restarts(), 1);
  auto second = Lease(worker, 1);
  ASSERT_EQ(second.size(), 1u);
  ASSERT_TRUE(Exit(worker, second[0], 1, "failed (exit 1): CUDA error: out of memory").ok());
  trial = coordinator_->ListTrials(sweep.id()).value()[0];
  EXPECT_EQ(trial.state(), v1::TRIAL_FAILED);
  EXPECT_EQ(trial.attempts(), 2);
  EXPECT_NE(trial.message().find("gave up after 1 restarts"), std::string::npos) << trial.message();
  EXPECT_NE(trial.message().find("CUDA error: out of memory"), std::string::npos) << trial.message();
  EXPECT_EQ(coordinator_->GetSweep(sweep.id()).value().state(), v1::SWEEP_FAILED);
}

TEST_F(CoordinatorTest, APreemptedTrialIsQueuedAgainWithoutCountingARestart) {
  const v1::Sweep sweep = Submit(
      "name: p\nmodel: {type: mlp}\ndata: {type: synthetic}\ntrain: {steps: 3}\nsweep:\n  strategy: grid\n  max_restarts: 0\n"
      "  parameters:\n    optimizer.lr: {values: [0.1]}\n");
  const std::string worker = Register(1);
  auto first = Lease(worker, 1);
  ASSERT_TRUE(Exit(worker, first[0], 4, "preempted: stopped with SIGTERM after writing a checkpoint").ok());
  auto trial = coordinator_->ListTrials(sweep.id()).value()[0];
  EXPECT_EQ(trial.state(), v1::TRIAL_PENDING);
  EXPECT_EQ(trial.restarts(), 0);
  auto second = Lease(worker, 1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_TRUE(second[0].resume());
  ASSERT_TRUE(Exit(worker, second[0], 0).ok());
  EXPECT_EQ(coordinator_->GetSweep(sweep.id()).value().state(), v1::SWEEP_COMPLETED);
}

TEST_F(CoordinatorTest, AfterARestartHeartbeatsAdoptWhatWorkersRunAndEndWhatTheyForgot) {
  const v1::Sweep sweep = Submit();
  const std::string worker = Register(2);
  auto attempts = Lease(worker, 2);
  ASSERT_EQ(attempts.size(), 2u);
  clock_.Advance(9);
  Reopen();  // kill -9 and restart: the state comes back from SQLite
  clock_.Advance(9);  // 18 s since the last heartbeat, but the restart gave the worker a new lease
  ASSERT_TRUE(coordinator_->ExpireWorkers().ok());
  ASSERT_TRUE(coordinator_->ListWorkers()[0].alive());

  v1::HeartbeatRequest heartbeat;  // the worker still runs the first attempt; the second's trainer died
  heartbeat.set_worker_id(worker);
  heartbeat.add_running_attempt_ids(attempts[0].attempt_id());
  heartbeat.add_running_attempt_ids(9999);  // one the coordinator never leased: it must stop
  const auto response = coordinator_->Heartbeat(heartbeat).value();
  ASSERT_EQ(response.stop_attempt_ids_size(), 1);
  EXPECT_EQ(response.stop_attempt_ids(0), 9999);

  EXPECT_EQ(Report(attempts[0], 5, 0.3).value(), v1::DECISION_CONTINUE);  // adopted
  EXPECT_EQ(Report(attempts[1], 5, 0.3).status().code(), StatusCode::kFailedPrecondition);
  const auto trials = coordinator_->ListTrials(sweep.id()).value();
  EXPECT_EQ(trials[0].state(), v1::TRIAL_RUNNING);
  EXPECT_EQ(trials[1].state(), v1::TRIAL_PENDING);
  EXPECT_NE(trials[1].message().find("no longer runs it"), std::string::npos) << trials[1].message();
}

TEST_F(CoordinatorTest, AHeartbeatSentBeforeALeaseDoesNotLoseTheAttemptJustLeased) {
  const v1::Sweep sweep = Submit();
  const std::string worker = Register(1);
  auto attempts = Lease(worker, 1);
  ASSERT_EQ(attempts.size(), 1u);
  v1::HeartbeatRequest stale;  // composed before the worker saw the lease, delivered after it
  stale.set_worker_id(worker);
  ASSERT_TRUE(coordinator_->Heartbeat(stale).ok());
  EXPECT_EQ(Count(sweep.id(), "running"), 1);
  EXPECT_EQ(Report(attempts[0], 1, 0.5).value(), v1::DECISION_CONTINUE);
  clock_.Advance(20);  // long after any call could still be in flight: the worker forgot it
  ASSERT_TRUE(coordinator_->Heartbeat(stale).ok());
  EXPECT_EQ(Count(sweep.id(), "running"), 0);
  EXPECT_EQ(Count(sweep.id(), "pending"), 3);
}

TEST_F(CoordinatorTest, ADeregisteringWorkerLeavesAtOnceAndWhatItDidNotReportIsQueuedAgain) {
  const v1::Sweep sweep = Submit();
  const std::string worker = Register(2);
  auto attempts = Lease(worker, 2);
  ASSERT_EQ(attempts.size(), 2u);
  ASSERT_TRUE(Exit(worker, attempts[0], 4, "preempted").ok());
  v1::DeregisterWorkerRequest request;
  request.set_worker_id(worker);
  ASSERT_TRUE(coordinator_->DeregisterWorker(request).ok());
  ASSERT_TRUE(coordinator_->DeregisterWorker(request).ok());  // idempotent
  EXPECT_FALSE(coordinator_->ListWorkers()[0].alive());
  EXPECT_EQ(Count(sweep.id(), "pending"), 3);
  EXPECT_EQ(Count(sweep.id(), "running"), 0);
}

TEST_F(CoordinatorTest, MetricsAreStoredOncePerTrialStepAndNameHoweverOftenTheyAreSent) {
  Submit();
  const std::string worker = Register(1);
  auto attempts = Lease(worker, 1);
  for (int delivery = 0; delivery < 3; ++delivery) {
    ASSERT_TRUE(Report(attempts[0], 5, 0.5).ok());
    ASSERT_TRUE(Report(attempts[0], 10, 0.4).ok());
  }
  const auto points = coordinator_->TrialMetrics(attempts[0].trial_id(), "val_loss").value();
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].step(), 5);
  EXPECT_EQ(points[1].step(), 10);
}

TEST_F(CoordinatorTest, ReportsNeedTheAttemptsToken) {
  Submit();
  const std::string worker = Register(1);
  auto attempts = Lease(worker, 1);
  v1::Attempt forged = attempts[0];
  forged.set_token("not-the-token");
  EXPECT_EQ(Report(forged, 1, 0.5).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(Exit("w999", attempts[0], 0).code(), StatusCode::kPermissionDenied);
}

TEST_F(CoordinatorTest, AnAttemptsTokenServesOnlyThatAttemptAndOnlyWhileItRuns) {
  Submit();
  const std::string worker = Register(2);
  auto attempts = Lease(worker, 2);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_NE(attempts[0].token(), attempts[1].token());
  v1::Attempt borrowed = attempts[0];
  borrowed.set_token(attempts[1].token());
  EXPECT_EQ(Report(borrowed, 1, 0.5).status().code(), StatusCode::kUnauthenticated) << "another attempt's token";
  EXPECT_TRUE(Report(attempts[0], 1, 0.5).ok());
  ASSERT_TRUE(Exit(worker, attempts[0], 0).ok());
  EXPECT_EQ(Report(attempts[0], 2, 0.4).status().code(), StatusCode::kFailedPrecondition) << "the attempt has ended";
  EXPECT_TRUE(Report(attempts[1], 1, 0.5).ok());
}

TEST_F(CoordinatorTest, TheStateKeepsOnlyTheHashOfAttemptTokens) {
  Submit();
  auto attempts = Lease(Register(1), 1);
  ASSERT_EQ(attempts.size(), 1u);
  coordinator_.reset();  // close, so everything is in the files
  std::string bytes;
  for (const char* suffix : {"", "-wal"}) bytes += orchard::testing::ReadFile(dir_ / ("state/orchard.db" + std::string(suffix)));
  EXPECT_NE(bytes.find(HashToken(attempts[0].token())), std::string::npos);
  EXPECT_EQ(bytes.find(attempts[0].token().substr(6)), std::string::npos);
}

TEST_F(CoordinatorTest, SweepsRecordTheirOwnerAndListByOwner) {
  v1::SubmitSweepRequest request;
  request.set_recipe_yaml(kRecipe);
  request.set_recipe_file("/recipes/tiny.yaml");
  const v1::Sweep alice = coordinator_->Submit(request, "alice").value();
  const v1::Sweep bob = coordinator_->Submit(request, "bob").value();
  EXPECT_EQ(alice.owner(), "alice");
  EXPECT_EQ(coordinator_->SweepOwner(bob.id()).value(), "bob");
  const int64_t bobs_trial = coordinator_->ListTrials(bob.id()).value().at(0).id();
  EXPECT_EQ(coordinator_->TrialOwner(bobs_trial).value(), "bob");
  EXPECT_EQ(coordinator_->SweepOwner(999).status().code(), StatusCode::kNotFound);
  const auto alices = coordinator_->ListSweeps(10, "alice");
  ASSERT_EQ(alices.size(), 1u);
  EXPECT_EQ(alices[0].id(), alice.id());
  EXPECT_EQ(coordinator_->ListSweeps(10).size(), 2u);
  EXPECT_EQ(Submit().owner(), kLocalUser) << "without authentication sweeps belong to the local user";
}

TEST_F(CoordinatorTest, WithConfinedPathsARecipeReadingOutsideTheRootsIsRefusedAndNothingStored) {
  coordinator_.reset();
  std::filesystem::create_directories(dir_.path() / "data");
  CoordinatorOptions options;
  options.state_dir = dir_ / "state";
  options.clock = &clock_;
  options.confine_paths = true;
  options.allowed_path_roots = {dir_ / "data"};
  coordinator_ = Coordinator::Open(options).value();
  v1::SubmitSweepRequest request;
  request.set_recipe_file(dir_ / "data/recipe.yaml");
  request.set_recipe_yaml("name: r\nmodel: {type: mlp}\ndata: {type: csv, path: /etc/passwd}\ntrain: {steps: 1}\n");
  auto refused = coordinator_->Submit(request);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(refused.status().message().find("data.path: '/etc/passwd'"), std::string::npos) << refused.status().message();
  EXPECT_TRUE(coordinator_->ListSweeps(10).empty());
  request.set_recipe_yaml("name: r\nmodel: {type: mlp}\ndata: {type: csv, path: train.csv}\ntrain: {steps: 1}\n");
  EXPECT_TRUE(coordinator_->Submit(request).ok()) << "a path inside --allow-path";

  options.allowed_path_roots = {dir_ / "no-such-dir"};
  coordinator_.reset();
  auto bad_root = Coordinator::Open(options);
  ASSERT_FALSE(bad_root.ok());
  EXPECT_NE(bad_root.status().message().find("no-such-dir"), std::string::npos);
}

TEST_F(CoordinatorTest, ATrialLogThatLinksOutOfTheStorageRootIsNotRead) {
  Submit();
  auto attempts = Lease(Register(1), 1);
  ASSERT_EQ(attempts.size(), 1u);
  const std::filesystem::path storage = coordinator_->storage_root();
  std::filesystem::create_directories(storage / attempts[0].output_dir());
  orchard::testing::WriteFile(dir_ / "secret.txt", "not for trials");
  std::filesystem::create_symlink(dir_ / "secret.txt", storage / attempts[0].log_path());
  v1::GetTrialLogRequest request;
  request.set_trial_id(attempts[0].trial_id());
  auto log = coordinator_->TrialLog(request);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(log.status().message().find("leads out of the storage root"), std::string::npos) << log.status().message();
  std::filesystem::remove(storage / attempts[0].log_path());
  orchard::testing::WriteFile(storage / attempts[0].log_path(), "step 1\n");
  EXPECT_EQ(coordinator_->TrialLog(request).value().text(), "step 1\n");
}

TEST_F(CoordinatorTest, ARestartResumesTheSweepWhereItWas) {
  const v1::Sweep sweep = Submit();
  std::string worker = Register(1);
  auto first = Lease(worker, 1);
  ASSERT_TRUE(Exit(worker, first[0], 0).ok());
  Reopen();  // a new coordinator process on the same state directory
  auto second = Lease(worker, 1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].overrides(0), "optimizer.lr=0.01");
  ASSERT_TRUE(Exit(worker, second[0], 0).ok());
  auto third = Lease(worker, 1);
  ASSERT_EQ(third.size(), 1u);
  ASSERT_TRUE(Exit(worker, third[0], 0).ok());
  EXPECT_EQ(coordinator_->GetSweep(sweep.id()).value().state(), v1::SWEEP_COMPLETED);
}

constexpr const char* kPbtRecipe = R"(name: pbt
model: {type: mlp, hidden: [8]}
data: {type: synthetic, samples: 64, features: 4, classes: 2}
train: {steps: 100, batch_size: 8, eval_interval: 10}
checkpoint: {interval: 10}
sweep:
  strategy: pbt
  max_trials: 4
  seed: 3
  pbt: {interval: 10, quantile: 0.25, resample_probability: 0}
  parameters:
    optimizer.lr: {distribution: log_uniform, min: 0.001, max: 0.1}
)";

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_F(CoordinatorTest, PbtCopiesTheParentsCheckpointChangesTheHyperparametersAndRecordsTheLineage) {
  const v1::Sweep sweep = Submit(kPbtRecipe);
  const std::string worker = Register(4);
  auto attempts = Lease(worker, 4);
  ASSERT_EQ(attempts.size(), 4u);
  // Every member checkpoints at step 10; trial 3's own checkpoint must give way to its parent's.
  for (const v1::Attempt& a : attempts) {
    WriteCheckpoint(a, 10, "weights of trial " + std::to_string(a.trial_id()));
    ASSERT_TRUE(Checkpoint(a, 10).ok());
  }
  // Judged at step 20, with the latest checkpoints at step 10.
  for (int i : {0, 1, 2}) EXPECT_EQ(Report(attempts[i], 20, 0.1 * (i + 1)).value(), v1::DECISION_CONTINUE);
  EXPECT_EQ(Report(attempts[3], 20, 0.9).value(), v1::DECISION_PAUSE) << "the worst of four";
  const v1::Trial before = coordinator_->ListTrials(sweep.id()).value()[3];
  EXPECT_EQ(before.decision(), "pause");

  // Its trainer checkpoints at step 22 on the way out, then exits as preempted.
  WriteCheckpoint(attempts[3], 22, "trial 3 at its pause");
  ASSERT_TRUE(Exit(worker, attempts[3], 4).ok());
  const v1::Trial after = coordinator_->ListTrials(sweep.id()).value()[3];
  EXPECT_EQ(after.state(), v1::TRIAL_PENDING) << "queued again to continue from the copied state";
  EXPECT_EQ(after.decision(), "exploit");
  ASSERT_EQ(after.lineage_size(), 1);
  EXPECT_EQ(after.lineage(0).parent(), 0);
  EXPECT_EQ(after.lineage(0).step(), 10);
  ASSERT_EQ(after.hyperparameters_size(), 1);
  EXPECT_EQ(after.lineage(0).hyperparameters(0).value(), after.hyperparameters(0).value());
  const double parent_lr = std::stod(attempts[0].overrides(attempts[0].overrides_size() - 1).substr(std::string("optimizer.lr=").size()));
  const double lr = std::stod(after.hyperparameters(0).value());
  EXPECT_TRUE(std::abs(lr - parent_lr * 0.8) < 1e-12 || std::abs(lr - parent_lr * 1.2) < 1e-12) << parent_lr << " -> " << lr;

  const std::filesystem::path checkpoints = std::filesystem::path(coordinator_->storage_root()) / attempts[3].output_dir() / "checkpoints";
  EXPECT_EQ(ReadAll(checkpoints / "step-10" / "rank-0.pt"), "weights of trial " + std::to_string(attempts[0].trial_id()));
  EXPECT_FALSE(std::filesystem::exists(checkpoints / "step-22")) << "its own newer checkpoint would win the resume";
  EXPECT_EQ(after.checkpoint(), attempts[3].output_dir() + "/checkpoints/step-10");
  EXPECT_EQ(after.last_step(), 10) << "back at the copied step";

  // The next attempt resumes with the new learning rate.
  const auto next = Lease(worker, 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_TRUE(next[0].resume());
  EXPECT_EQ(next[0].overrides(next[0].overrides_size() - 1), "optimizer.lr=" + after.hyperparameters(0).value());
  // Its reports from the copied step on replace the objective it had before.
  ASSERT_EQ(Report(next[0], 15, 0.15).value(), v1::DECISION_CONTINUE);
  EXPECT_DOUBLE_EQ(coordinator_->ListTrials(sweep.id()).value()[3].objective(), 0.15);
}

// R = 3: a bracket of 3 trials halving at step 10, and one of 2 trials running 30 steps.
constexpr const char* kHyperbandRecipe = R"(name: hb
model: {type: mlp, hidden: [8]}
data: {type: synthetic, samples: 64, features: 4, classes: 2}
train: {steps: 30, batch_size: 8, eval_interval: 10}
sweep:
  strategy: hyperband
  early_stopping: {min_steps: 10, reduction_factor: 3}
  parameters:
    optimizer.lr: {distribution: log_uniform, min: 0.001, max: 0.1}
)";

TEST_F(CoordinatorTest, HyperbandPausesArrivalsAndResumesTheOnesItPromotes) {
  const v1::Sweep sweep = Submit(kHyperbandRecipe);
  EXPECT_EQ(sweep.trials_total(), 5);
  const std::string worker = Register(3);
  auto attempts = Lease(worker, 3);
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_EQ(Report(attempts[0], 10, 0.5).value(), v1::DECISION_PAUSE);
  ASSERT_TRUE(Exit(worker, attempts[0], 4).ok());
  EXPECT_EQ(coordinator_->ListTrials(sweep.id()).value()[0].state(), v1::TRIAL_PAUSED);
  EXPECT_EQ(Count(sweep.id(), "paused"), 1);
  EXPECT_EQ(Report(attempts[1], 10, 0.7).value(), v1::DECISION_PAUSE);
  // The third arrival completes the rung: trial 0 (0.5) goes on, trials 1 and 2 stop.
  EXPECT_EQ(Report(attempts[2], 10, 0.9).value(), v1::DECISION_STOP);
  auto trials = coordinator_->ListTrials(sweep.id()).value();
  EXPECT_EQ(trials[0].state(), v1::TRIAL_PENDING) << "resumed";
  EXPECT_EQ(trials[0].decision(), "resume");
  EXPECT_EQ(trials[0].rung(), 0);
  EXPECT_EQ(trials[2].decision(), "stop");
  ASSERT_TRUE(Exit(worker, attempts[1], 4).ok());
  EXPECT_EQ(coordinator_->ListTrials(sweep.id()).value()[1].state(), v1::TRIAL_STOPPED) << "stopped while pausing";
}

TEST_F(CoordinatorTest, AHyperbandRungInterruptedByARestartCompletesAfterIt) {
  const v1::Sweep sweep = Submit(kHyperbandRecipe);
  const std::string worker = Register(3);
  auto attempts = Lease(worker, 3);
  ASSERT_EQ(attempts.size(), 3u);
  ASSERT_EQ(Report(attempts[0], 10, 0.9).value(), v1::DECISION_PAUSE);
  ASSERT_TRUE(Exit(worker, attempts[0], 4).ok());
  Reopen();  // the paused trial and the value recorded at the rung survive in the strategy's snapshot
  ASSERT_EQ(Report(attempts[1], 10, 0.2).value(), v1::DECISION_PAUSE);
  EXPECT_EQ(Report(attempts[2], 10, 0.5).value(), v1::DECISION_STOP) << "0.2 wins the rung, recorded after the restart";
  const auto trials = coordinator_->ListTrials(sweep.id()).value();
  EXPECT_EQ(trials[0].state(), v1::TRIAL_STOPPED) << "paused before the restart, then halved away";
  EXPECT_EQ(trials[1].decision(), "continue");
}

// Runs SQL on the coordinator's database from a second connection, as an operator's tool would.
void ExecSql(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(handle, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(handle);
}

TEST_F(CoordinatorTest, AReportWhoseTransactionFailsLeavesTheStrategyAsTheStoreHasIt) {
  const v1::Sweep sweep = Submit(kHyperbandRecipe);
  const std::string worker = Register(3);
  auto attempts = Lease(worker, 3);
  ASSERT_EQ(Report(attempts[0], 10, 0.5).value(), v1::DECISION_PAUSE);
  ASSERT_TRUE(Exit(worker, attempts[0], 4).ok());
  ASSERT_EQ(Report(attempts[1], 10, 0.7).value(), v1::DECISION_PAUSE);
  // The report that completes the rung fails late, after the strategy has halved it.
  const std::filesystem::path db = std::filesystem::path(dir_ / "state") / "orchard.db";
  ExecSql(db, "CREATE TRIGGER fail_resume BEFORE INSERT ON events WHEN NEW.message LIKE '%resumed by the search%' "
              "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
  EXPECT_FALSE(Report(attempts[2], 10, 0.9).ok());
  ExecSql(db, "DROP TRIGGER fail_resume;");
  // The worker sends the same report again; the rung is halved as if the first had never come.
  EXPECT_EQ(Report(attempts[2], 10, 0.9).value(), v1::DECISION_STOP);
  const auto trials = coordinator_->ListTrials(sweep.id()).value();
  EXPECT_EQ(trials[0].state(), v1::TRIAL_PENDING) << "resumed";
  EXPECT_EQ(trials[0].decision(), "resume");
}

TEST_F(CoordinatorTest, CancelingASweepEndsItsPausedTrials) {
  const v1::Sweep sweep = Submit(kPbtRecipe);
  const std::string worker = Register(4);
  auto attempts = Lease(worker, 4);
  for (int i : {0, 1, 2}) Report(attempts[i], 10, 0.1 * (i + 1)).value();
  ASSERT_EQ(Report(attempts[3], 10, 0.9).value(), v1::DECISION_PAUSE);
  ASSERT_TRUE(coordinator_->Cancel(sweep.id()).ok());
  ASSERT_TRUE(Exit(worker, attempts[3], 4).ok());
  EXPECT_EQ(coordinator_->ListTrials(sweep.id()).value()[3].state(), v1::TRIAL_CANCELED);
}

}  // namespace
}  // namespace orchard::coordinator
