// The Coordinator's workers, leases and reports: lost workers, retries, adoption after a restart,
// attempt tokens.
#include <atomic>
#include <cmath>
#include <map>
#include <string>
#include <thread>

#include "coordinator/request_validation.h"
#include "core/format.h"
#include "core/fusion.h"
#include "tests/coordinator/coordinator_fixture.h"
#include "tests/util/sql.h"

namespace orchard::coordinator {
namespace {

using orchard::testing::ExecSql;

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

// A report that fails after it has written (here its trial's last step cannot be recorded) rolls
// back its own writes only: the reports before and after it in the batch are stored, and the
// worker's resend of it later is stored once.
TEST_F(CoordinatorTest, AReportThatFailsAfterItWroteUndoesOnlyItselfInItsBatch) {
  const v1::Sweep sweep = Submit();
  const std::string worker = Register(2);
  const std::vector<v1::Attempt> attempts = Lease(worker, 2);
  ASSERT_EQ(attempts.size(), 2u);
  v1::ReportMetricsBatchRequest batch;
  *batch.add_reports() = MetricReport(attempts[1], "train_loss", 1.0, 10);
  *batch.add_reports() = MetricReport(attempts[0], "train_loss", 2.0, 10);
  *batch.add_reports() = MetricReport(attempts[1], "train_loss", 0.9, 20);
  const std::string db = (std::filesystem::path(dir_ / "state") / "orchard.db").string();
  ExecSql(db, "CREATE TRIGGER fail_last_step BEFORE UPDATE OF last_step ON trials WHEN OLD.id = " +
                  std::to_string(attempts[0].trial_id()) + " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
  const auto outcomes = coordinator_->ReportMetricsBatch(batch);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().message();
  ASSERT_EQ(outcomes->size(), 3u);
  EXPECT_TRUE((*outcomes)[0].ok());
  EXPECT_FALSE((*outcomes)[1].ok());
  EXPECT_NE((*outcomes)[1].status().message().find("injected failure"), std::string::npos)
      << (*outcomes)[1].status().message();
  EXPECT_TRUE((*outcomes)[2].ok());
  const auto points_of = [&](int64_t trial_id) {
    const auto metrics = coordinator_->SweepMetrics(sweep.id(), "train_loss").value();
    for (const TrialSeries& series : metrics.series)
      if (series.trial_id == trial_id) return series.points;
    return std::vector<std::pair<int64_t, double>>{};
  };
  EXPECT_EQ(points_of(attempts[1].trial_id()), (std::vector<std::pair<int64_t, double>>{{10, 1.0}, {20, 0.9}}));
  EXPECT_TRUE(points_of(attempts[0].trial_id()).empty()) << "its metrics were rolled back with it";

  ExecSql(db, "DROP TRIGGER fail_last_step;");
  v1::ReportMetricsBatchRequest resend;
  *resend.add_reports() = MetricReport(attempts[0], "train_loss", 2.0, 10);
  const auto again = coordinator_->ReportMetricsBatch(resend);
  ASSERT_TRUE(again.ok() && (*again)[0].ok());
  EXPECT_EQ(points_of(attempts[0].trial_id()), (std::vector<std::pair<int64_t, double>>{{10, 2.0}}));
}

// fuse: auto sizes groups by the members' estimated memory against what the worker says a slot has:
// 12 trials on 2 slots would be groups of 6, but each slot holds 3 members in half its memory, so
// this lease starts two groups of 3 and the rest wait for the next round.
TEST_F(CoordinatorTest, AutoFusedGroupsFitInHalfTheMemoryTheWorkerSaysASlotHas) {
  const std::string recipe = R"(name: wide
model: {type: mlp, hidden: [1024, 1024]}
data: {type: synthetic, samples: 64, features: 1024, classes: 2}
train: {steps: 5, batch_size: 8}
sweep:
  strategy: grid
  metric: val_loss
  fuse: auto
  parameters:
    optimizer.lr: {values: [0.1, 0.09, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.02, 0.01, 0.009, 0.008]}
)";
  const v1::Sweep sweep = Submit(recipe);
  const auto member = EstimateFusedMemberCost(ParseRecipe(recipe, "wide.yaml", {}).value());
  ASSERT_TRUE(member.has_value());
  // The estimate is told where a user looks first: the sweep's first event.
  const std::string submitted = coordinator_->EventsAfter(sweep.id(), 0).value().events.front().message;
  EXPECT_NE(submitted.find("; a fused member estimated at " + FormatNumber(member->bytes / 1e6) + " MB and " +
                           FormatNumber(member->step_flops / 1e6) + " MFLOP a step"),
            std::string::npos)
      << submitted;
  v1::LeaseAttemptsRequest request;
  request.set_worker_id(Register(2));
  request.set_free_slots(2);
  request.set_memory_available_bytes(2 * (2 * 3 * member->bytes + member->bytes));  // 3.5 members a slot's half
  request.set_threads_per_slot(16);  // arithmetic bounds nothing here
  const auto leased = coordinator_->LeaseAttempts(request);
  ASSERT_TRUE(leased.ok()) << leased.status().message();
  std::map<int64_t, int> members;  // by fused group
  for (const v1::Attempt& attempt : leased->attempts()) ++members[attempt.fused_group()];
  EXPECT_EQ(members.size(), 2u);
  for (const auto& [group, count] : members) EXPECT_EQ(count, 3) << "group " << group;
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
  ASSERT_TRUE(coordinator_->ListWorkers().value()[0].alive());

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

// A heartbeat writes nothing to the store (a thousand workers' heartbeats had been about half of all
// commits under load): its time stays in the coordinator, where expiry and the workers view read it.
TEST_F(CoordinatorTest, AHeartbeatKeepsItsWorkerAliveWithoutWritingToTheStore) {
  const std::string worker = Register(1);
  const double registered = coordinator_->ListWorkers().value()[0].last_heartbeat();
  const std::string db = (std::filesystem::path(dir_ / "state") / "orchard.db").string();
  ExecSql(db, "CREATE TRIGGER no_worker_writes BEFORE UPDATE ON workers BEGIN SELECT RAISE(ABORT, 'written'); END;");
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_worker_id(worker);
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(6);
    ASSERT_TRUE(coordinator_->Heartbeat(heartbeat).ok());
  }
  ASSERT_TRUE(coordinator_->ExpireWorkers().ok());  // 18 s since the store's time, 0 s since the heartbeat
  const v1::Worker seen = coordinator_->ListWorkers().value()[0];
  EXPECT_TRUE(seen.alive());
  EXPECT_EQ(seen.last_heartbeat(), registered + 18);
  ExecSql(db, "DROP TRIGGER no_worker_writes;");
  clock_.Advance(11);  // past the 10 s lease timeout since the last heartbeat
  ASSERT_TRUE(coordinator_->ExpireWorkers().ok());
  EXPECT_FALSE(coordinator_->ListWorkers().value()[0].alive());
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
  EXPECT_FALSE(coordinator_->ListWorkers().value()[0].alive());
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
  const auto points = coordinator_->TrialMetrics(attempts[0].trial_id(), "val_loss", 0, "").value().items;
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

TEST_F(CoordinatorTest, AGangNoLiveWorkerCanHoldSaysWhyThenFailsAfterTheTimeout) {
  std::string recipe = kRecipe;
  recipe.replace(recipe.find("  max_concurrent: 2\n"), std::string("  max_concurrent: 2\n").size(), "  ranks: 4\n  unplaceable_timeout_seconds: 60\n");
  const v1::Sweep sweep = Submit(recipe);
  ASSERT_TRUE(coordinator_->CheckUnplaceableTrials().ok());
  // No worker yet: the trials wait for one without a reason or a clock.
  EXPECT_EQ(coordinator_->ListTrials(sweep.id()).value()[0].waiting_reason(), "");

  const std::string small = Register(2);
  clock_.Advance(1);
  ASSERT_TRUE(coordinator_->CheckUnplaceableTrials().ok());
  v1::Trial waiting = coordinator_->ListTrials(sweep.id()).value()[0];
  EXPECT_EQ(waiting.state(), v1::TRIAL_PENDING);
  EXPECT_EQ(waiting.waiting_reason(), "needs 4 slots on one worker; the largest has 2");
  EXPECT_EQ(coordinator_->GetTrial(waiting.id()).value().waiting_reason(), waiting.waiting_reason());  // the API's too
  EXPECT_TRUE(Lease(small, 2).empty());

  clock_.Advance(30);
  ASSERT_TRUE(coordinator_->CheckUnplaceableTrials().ok());
  EXPECT_EQ(coordinator_->ListTrials(sweep.id()).value()[0].state(), v1::TRIAL_PENDING);  // 30 s of 60

  clock_.Advance(31);
  ASSERT_TRUE(coordinator_->CheckUnplaceableTrials().ok());
  const std::vector<v1::Trial> ended = coordinator_->ListTrials(sweep.id()).value();
  for (const v1::Trial& trial : ended) {
    EXPECT_EQ(trial.state(), v1::TRIAL_FAILED);
    EXPECT_NE(trial.message().find("needs 4 slots on one worker; the largest has 2"), std::string::npos) << trial.message();
    EXPECT_NE(trial.message().find("unplaceable_timeout_seconds"), std::string::npos);
  }
  // The strategy heard of every failure: the grid is done, so the sweep ended.
  EXPECT_EQ(coordinator_->GetSweep(sweep.id()).value().state(), v1::SWEEP_FAILED);
}

TEST_F(CoordinatorTest, AWaitingGangLosesItsReasonWhenALargeEnoughWorkerJoins) {
  std::string recipe = kRecipe;
  recipe.replace(recipe.find("  max_concurrent: 2\n"), std::string("  max_concurrent: 2\n").size(), "  ranks: 4\n");
  const v1::Sweep sweep = Submit(recipe);
  Register(2);
  ASSERT_TRUE(coordinator_->CheckUnplaceableTrials().ok());
  EXPECT_NE(coordinator_->ListTrials(sweep.id()).value()[0].waiting_reason(), "");
  const std::string large = Register(4);
  ASSERT_TRUE(coordinator_->CheckUnplaceableTrials().ok());
  EXPECT_EQ(coordinator_->ListTrials(sweep.id()).value()[0].waiting_reason(), "");
  EXPECT_EQ(Lease(large, 4).size(), 1u);
}

// Trials that ask for a share of a GPU are packed onto a worker's GPUs by memory: two 20 GiB
// trials share the 40 GiB GPU, the third waits for room, and the lease names the GPU and the share.
TEST_F(CoordinatorTest, TrialsThatShareAGpuArePackedByItsMemory) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  std::string recipe = kRecipe;
  recipe.replace(recipe.find("  max_concurrent: 2\n"), std::string("  max_concurrent: 2\n").size(), "  gpu_memory_gib: 20\n");
  const v1::Sweep sweep = Submit(recipe);
  v1::RegisterWorkerRequest registration;
  registration.set_hostname("gpu-host");
  registration.set_slots(1);
  registration.set_slot_kind("gpu");
  registration.add_gpu_memory_bytes(40 * kGiB);
  const std::string worker = coordinator_->RegisterWorker(registration).value().worker_id();
  EXPECT_EQ(coordinator_->ListWorkers().value()[0].gpu_memory_bytes(0), 40 * kGiB);

  v1::LeaseAttemptsRequest lease;
  lease.set_worker_id(worker);
  lease.set_free_slots(1);
  v1::GpuRoom* gpu = lease.add_gpus();
  gpu->set_index(0), gpu->set_total_bytes(40 * kGiB), gpu->set_free_bytes(40 * kGiB), gpu->set_idle(true);
  const auto leased = coordinator_->LeaseAttempts(lease);
  ASSERT_TRUE(leased.ok()) << leased.status().message();
  ASSERT_EQ(leased->attempts_size(), 2);
  for (const v1::Attempt& attempt : leased->attempts()) {
    ASSERT_EQ(attempt.gpus_size(), 1);
    EXPECT_EQ(attempt.gpus(0), 0);
    EXPECT_EQ(attempt.gpu_share_bytes(), 20 * kGiB);
  }
  // The GPU is full now: the worker reports no free slot and no free memory on it.
  lease.set_free_slots(0);
  gpu->set_free_bytes(0), gpu->set_idle(false);
  EXPECT_EQ(coordinator_->LeaseAttempts(lease).value().attempts_size(), 0);
  EXPECT_NE(coordinator_->EventsAfter(sweep.id(), 0).value().events.back().message.find("GPU 0 (a 50% share of its memory)"),
            std::string::npos);
  // Half a GPU counts as half a slot in the sweep's cost.
  clock_.Advance(10);
  EXPECT_DOUBLE_EQ(coordinator_->Cost(sweep.id()).value().slot_seconds, 2 * 0.5 * 10);

  // A trial that asks for more memory than any GPU has says why it waits.
  std::string large = kRecipe;
  large.replace(large.find("  max_concurrent: 2\n"), std::string("  max_concurrent: 2\n").size(), "  gpu_memory_gib: 48\n");
  const v1::Sweep waiting = Submit(large);
  ASSERT_TRUE(coordinator_->CheckUnplaceableTrials().ok());
  EXPECT_EQ(coordinator_->ListTrials(waiting.id()).value()[0].waiting_reason(),
            "needs 48 GiB of one GPU (sweep.gpu_memory_gib); the largest has 40 GiB");
}

// Many trainers reporting at once go through the group commit: every report is stored once, and
// every write is counted in exactly one commit.
TEST_F(CoordinatorTest, ConcurrentReportsAreAllStoredAndEachWriteIsInOneCommit) {
  std::string recipe = kRecipe;
  recipe.replace(recipe.find("max_concurrent: 2"), 17, "max_concurrent: 8");
  recipe.replace(recipe.find("[0.1, 0.01, 0.001]"), 18, "[1, 2, 3, 4, 5, 6, 7, 8]");
  const v1::Sweep sweep = Submit(recipe);
  const std::string worker = Register(8);
  const std::vector<v1::Attempt> attempts = Lease(worker, 8);
  ASSERT_EQ(attempts.size(), 8u);
  constexpr int kReports = 40;
  std::vector<std::thread> trainers;
  std::atomic<int> failures{0};
  for (const v1::Attempt& attempt : attempts)
    trainers.emplace_back([&, attempt] {
      for (int step = 1; step <= kReports; ++step)
        if (!ReportMetric(attempt, "train_loss", 1.0 / step, step).ok()) ++failures;
    });
  for (std::thread& trainer : trainers) trainer.join();
  EXPECT_EQ(failures.load(), 0);

  const auto series = coordinator_->SweepMetrics(sweep.id(), "train_loss").value().series;
  ASSERT_EQ(series.size(), 8u);
  for (const TrialSeries& trial : series) EXPECT_EQ(trial.points.size(), static_cast<size_t>(kReports));
  std::string page;
  ASSERT_TRUE(coordinator_->WritePrometheusMetrics(page).ok());
  // Register, lease and the reports (the submission commits on its own).
  EXPECT_NE(page.find("orchard_store_writes_per_commit_sum " + std::to_string(2 + 8 * kReports)), std::string::npos)
      << page;
}

// A worker's reports for several attempts in one call: each is taken or refused as it would be
// alone, in order, and the call is one write of the group commit.
TEST_F(CoordinatorTest, AReportBatchAnswersEachReportAsAloneInOneWrite) {
  std::string recipe = kRecipe;
  recipe.replace(recipe.find("max_concurrent: 2"), 17, "max_concurrent: 8");
  const v1::Sweep sweep = Submit(recipe);
  const std::string worker = Register(2);
  const std::vector<v1::Attempt> attempts = Lease(worker, 2);
  ASSERT_EQ(attempts.size(), 2u);
  v1::ReportMetricsBatchRequest batch;
  *batch.add_reports() = MetricReport(attempts[0], "val_loss", 0.5, 10);
  *batch.add_reports() = MetricReport(attempts[1], "train_loss", 1.5, 10);
  v1::ReportMetricsRequest stranger = MetricReport(attempts[1], "train_loss", 2.5, 10);
  stranger.set_token("not-the-token");
  *batch.add_reports() = stranger;
  *batch.add_reports() = MetricReport(attempts[1], "train_loss", std::nan(""), 10);
  std::string before;
  ASSERT_TRUE(coordinator_->WritePrometheusMetrics(before).ok());

  const auto outcomes = coordinator_->ReportMetricsBatch(batch);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().message();
  ASSERT_EQ(outcomes->size(), 4u);
  ASSERT_TRUE((*outcomes)[0].ok()) << (*outcomes)[0].status().message();
  EXPECT_EQ((*outcomes)[0]->decision(), v1::DECISION_CONTINUE);
  EXPECT_EQ((*outcomes)[0]->decided_step(), 10) << "the sweep's metric is judged as in a report alone";
  ASSERT_TRUE((*outcomes)[1].ok()) << (*outcomes)[1].status().message();
  EXPECT_EQ((*outcomes)[1]->decided_step(), -1);
  EXPECT_EQ((*outcomes)[2].status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ((*outcomes)[3].status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE((*outcomes)[3].status().message().find("not a finite number"), std::string::npos);

  const auto losses = coordinator_->SweepMetrics(sweep.id(), "train_loss").value().series;
  ASSERT_EQ(losses.size(), 1u);
  ASSERT_EQ(losses[0].points.size(), 1u) << "the refused reports stored nothing";
  EXPECT_EQ(losses[0].points[0].second, 1.5);
  EXPECT_EQ(coordinator_->SweepMetrics(sweep.id(), "val_loss").value().series.size(), 1u);
  std::string after;
  ASSERT_TRUE(coordinator_->WritePrometheusMetrics(after).ok());
  const auto writes = [](const std::string& page) {
    const std::string name = "orchard_store_writes_per_commit_sum ";
    const size_t at = page.find(name);
    return at == std::string::npos ? -1.0 : std::stod(page.substr(at + name.size()));
  };
  EXPECT_EQ(writes(after) - writes(before), 1.0) << after;

  v1::ReportMetricsBatchRequest too_many;
  for (int i = 0; i <= kMaxReportsPerBatch; ++i) *too_many.add_reports() = MetricReport(attempts[1], "train_loss", 1, 10);
  EXPECT_EQ(coordinator_->ReportMetricsBatch(too_many).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace orchard::coordinator
