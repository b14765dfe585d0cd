// The Coordinator's sweeps and strategies: submitting, running to the end, canceling, restarts.
#include "tests/coordinator/coordinator_fixture.h"
#include "tests/util/sql.h"

namespace orchard::coordinator {
namespace {

using orchard::testing::ExecSql;
using orchard::testing::ReadFile;

TEST_F(CoordinatorTest, AnInvalidRecipeIsRejectedWithItsLineAndNothingIsStored) {
  v1::SubmitSweepRequest request;
  request.set_recipe_yaml("name: x\nmodel: {type: mlp}\ndata: {type: synthetic}\ntrain: {stepz: 5}\n");
  request.set_recipe_file("/r/x.yaml");
  auto sweep = coordinator_->Submit(request);
  ASSERT_FALSE(sweep.ok());
  EXPECT_EQ(sweep.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(sweep.status().message().find("/r/x.yaml:4:"), std::string::npos) << sweep.status().message();
  EXPECT_TRUE(coordinator_->ListSweeps(10, "").value().items.empty());
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
  EXPECT_EQ(coordinator_->TrialMetrics(best.id(), "val_loss", 0, "").value().items.size(), 1u);
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
  EXPECT_TRUE(coordinator_->ListWorkers().value()[0].alive());
  EXPECT_EQ(coordinator_->ListWorkers().value()[0].running_attempts(), 0);
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
  const auto alices = coordinator_->ListSweeps(10, "", "alice").value().items;
  ASSERT_EQ(alices.size(), 1u);
  EXPECT_EQ(alices[0].id(), alice.id());
  EXPECT_EQ(coordinator_->ListSweeps(10, "").value().items.size(), 2u);
  EXPECT_EQ(Submit().owner(), kLocalUser) << "without authentication sweeps belong to the local user";
}

TEST_F(CoordinatorTest, ListsComeInPagesThatFollowOnWithoutRepeatsOrGaps) {
  const v1::Sweep sweep = Submit(std::string(kRecipe).replace(std::string(kRecipe).find("[0.1, 0.01, 0.001]"), 18,
                                                              "[1, 2, 3, 4, 5, 6, 7]"));
  std::vector<int64_t> numbers;
  std::string token;
  int pages = 0;
  do {
    const Page<v1::Trial> page = coordinator_->ListTrialsPage(sweep.id(), 3, token).value();
    for (const v1::Trial& trial : page.items) numbers.push_back(trial.number());
    token = page.next_page_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(numbers, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(coordinator_->ListTrialsPage(sweep.id(), 0, "").value().items.size(), 7u) << "0 asks for the default";
  EXPECT_EQ(coordinator_->ListTrialsPage(sweep.id(), 7, "").value().next_page_token, "")
      << "a page that ends the list says so, without an empty page after it";

  const v1::Sweep second = Submit(), third = Submit();
  const Page<v1::Sweep> newest = coordinator_->ListSweeps(2, "").value();
  ASSERT_EQ(newest.items.size(), 2u);
  EXPECT_EQ(newest.items[0].id(), third.id());
  EXPECT_EQ(newest.items[1].id(), second.id());
  const Page<v1::Sweep> oldest = coordinator_->ListSweeps(2, newest.next_page_token).value();
  ASSERT_EQ(oldest.items.size(), 1u);
  EXPECT_EQ(oldest.items[0].id(), sweep.id());
  EXPECT_EQ(oldest.next_page_token, "");

  const v1::Attempt attempt = Lease(Register(1), 1).at(0);
  for (int64_t step = 1; step <= 3; ++step) {
    ASSERT_TRUE(ReportMetric(attempt, "val_loss", 1.0 / step, step).ok());
    ASSERT_TRUE(ReportMetric(attempt, "accuracy", 0.1 * step, step).ok());
  }
  std::vector<std::string> points;
  token.clear();
  do {
    const Page<v1::MetricPoint> page = coordinator_->TrialMetrics(attempt.trial_id(), "", 4, token).value();
    for (const v1::MetricPoint& p : page.items) points.push_back(p.name() + "@" + std::to_string(p.step()));
    token = page.next_page_token;
  } while (!token.empty() && points.size() < 20);
  EXPECT_EQ(points, (std::vector<std::string>{"accuracy@1", "val_loss@1", "accuracy@2", "val_loss@2", "accuracy@3",
                                              "val_loss@3"}));
  const Page<v1::MetricPoint> losses = coordinator_->TrialMetrics(attempt.trial_id(), "val_loss", 2, "").value();
  ASSERT_EQ(losses.items.size(), 2u);
  const Page<v1::MetricPoint> rest =
      coordinator_->TrialMetrics(attempt.trial_id(), "val_loss", 2, losses.next_page_token).value();
  ASSERT_EQ(rest.items.size(), 1u);
  EXPECT_EQ(rest.items[0].step(), 3);
  EXPECT_EQ(coordinator_->TrialMetrics(attempt.trial_id(), "val_loss", 0, MetricPageToken("accuracy", 2)).value().items.size(),
            2u)
      << "a position among another metric's points: this one's from that step on";
  EXPECT_TRUE(coordinator_->ListSweeps(10, NumberPageToken(NumberedList::kTrials, 5)).status().code() ==
              StatusCode::kInvalidArgument)
      << "a trials token is not a sweeps token";
}

TEST_F(CoordinatorTest, ABadPageSizeOrTokenIsRefusedNamingTheField) {
  const v1::Sweep sweep = Submit();
  const auto negative = coordinator_->ListTrialsPage(sweep.id(), -1, "");
  EXPECT_EQ(negative.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(negative.status().message().find("page_size"), std::string::npos) << negative.status().message();
  const auto forged = coordinator_->ListSweeps(10, "s12x");
  EXPECT_EQ(forged.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(forged.status().message().find("next_page_token"), std::string::npos) << forged.status().message();
  const int64_t trial = coordinator_->ListTrials(sweep.id()).value().at(0).id();
  EXPECT_EQ(coordinator_->TrialMetrics(trial, "", 0, "t3").status().code(), StatusCode::kInvalidArgument)
      << "a trials token is not a metrics token";
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
  EXPECT_TRUE(coordinator_->ListSweeps(10, "").value().items.empty());
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
  EXPECT_EQ(ReadFile(checkpoints / "step-10" / "rank-0.pt"), "weights of trial " + std::to_string(attempts[0].trial_id()));
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

namespace orchard::coordinator {
namespace {

// What lets a trainer wait at its rungs: the lease names the first step the strategy will judge,
// and each judged report's answer names the step it decided and the next one.
TEST_F(CoordinatorTest, LeasesAndJudgedReportsNameTheStepsTheStrategyDecidesAt) {
  Submit(R"(name: rungs
model: {type: mlp, hidden: [8]}
data: {type: synthetic, samples: 64, features: 4, classes: 2}
train: {steps: 100, batch_size: 8, eval_interval: 10}
sweep:
  strategy: asha
  max_trials: 2
  early_stopping: {min_steps: 10, reduction_factor: 2}
  parameters:
    optimizer.lr: {values: [0.1, 0.01]}
)");
  const std::string worker = Register(2);
  const auto attempts = Lease(worker, 2);
  ASSERT_EQ(attempts.size(), 2u);
  for (const v1::Attempt& attempt : attempts) EXPECT_EQ(attempt.next_decision_step(), 10);

  const v1::ReportMetricsResponse unjudged = ReportMetricAnswer(attempts[0], "train_loss", 0.5, 10).value();
  EXPECT_EQ(unjudged.decided_step(), -1) << "only the sweep's metric is judged";
  const v1::ReportMetricsResponse first = ReportMetricAnswer(attempts[0], "val_loss", 0.2, 10).value();
  EXPECT_EQ(first.decision(), v1::DECISION_CONTINUE);
  EXPECT_EQ(first.decided_step(), 10);
  EXPECT_EQ(first.next_decision_step(), 20);
  const v1::ReportMetricsResponse worse = ReportMetricAnswer(attempts[1], "val_loss", 0.9, 10).value();
  EXPECT_EQ(worse.decision(), v1::DECISION_STOP);
  EXPECT_EQ(worse.decided_step(), 10);
  EXPECT_EQ(worse.next_decision_step(), kNoDecision);

  // Trial 0 logs train_loss past the next rung, then crashes: its next attempt resumes before that
  // rung, which was never judged, and must wait there.
  ASSERT_TRUE(ReportMetricAnswer(attempts[0], "train_loss", 0.4, 25).ok());
  ASSERT_TRUE(Exit(worker, attempts[0], 1, "killed by signal 9").ok());
  const auto again = Lease(worker, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].trial_id(), attempts[0].trial_id());
  EXPECT_EQ(again[0].next_decision_step(), 20);
}

TEST_F(CoordinatorTest, ASweepThatStopsNoTrialEarlyLeasesNoDecisionStep) {
  Submit();  // grid search
  const auto attempts = Lease(Register(1), 1);
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].next_decision_step(), kNoDecision);
  const v1::ReportMetricsResponse answer = ReportMetricAnswer(attempts[0], "val_loss", 0.2, 5).value();
  EXPECT_EQ(answer.decided_step(), 5);
  EXPECT_EQ(answer.next_decision_step(), kNoDecision);
}

}  // namespace
}  // namespace orchard::coordinator
