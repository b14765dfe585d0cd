// What the dashboard and /metrics read: what trials and sweeps cost, attempts, checkpoints, a
// sweep's metric series, and the Prometheus page.
#include <gtest/gtest.h>

#include "core/provenance.h"
#include "tests/coordinator/coordinator_fixture.h"

namespace orchard::coordinator {
namespace {

class CoordinatorViewsTest : public CoordinatorTest {
 protected:
  Status ExitWithUsage(const std::string& worker, const v1::Attempt& attempt, double cpu_seconds, int64_t peak,
                       int64_t gpu_peak = 0, double gpu_utilization = 0, int64_t exit_code = 0) {
    v1::ReportAttemptExitRequest request;
    request.set_worker_id(worker);
    request.set_attempt_id(attempt.attempt_id());
    request.set_exit_code(exit_code);
    request.set_cpu_seconds(cpu_seconds);
    request.set_peak_memory_bytes(peak);
    request.set_gpu_peak_memory_bytes(gpu_peak);
    request.set_gpu_utilization_percent(gpu_utilization);
    return coordinator_->ReportAttemptExit(request);
  }
};

TEST_F(CoordinatorViewsTest, TrialsAndSweepsCarryWhatTheirEndedAttemptsCost) {
  const v1::Sweep sweep = Submit();
  const std::string worker = Register(2);
  const std::vector<v1::Attempt> attempts = Lease(worker, 2);
  ASSERT_EQ(attempts.size(), 2u);
  ASSERT_TRUE(Report(attempts[0], 5, 0.5).ok());
  clock_.Advance(30);
  ASSERT_TRUE(ExitWithUsage(worker, attempts[0], 12.5, 300 << 20).ok());

  const v1::Trial ended = coordinator_->GetTrial(attempts[0].trial_id()).value();
  EXPECT_DOUBLE_EQ(ended.slot_seconds(), 30);
  EXPECT_DOUBLE_EQ(ended.cpu_seconds(), 12.5);
  EXPECT_EQ(ended.peak_memory_bytes(), 300 << 20);
  const v1::Trial running = coordinator_->GetTrial(attempts[1].trial_id()).value();
  EXPECT_EQ(running.slot_seconds(), 0);  // ended attempts only
  const v1::Sweep now = coordinator_->GetSweep(sweep.id()).value();
  EXPECT_DOUBLE_EQ(now.slot_seconds(), 30);
  EXPECT_DOUBLE_EQ(now.cpu_seconds(), 12.5);

  // The dashboard's cost counts the running attempt up to now, and the steps trained so far.
  const Coordinator::SweepCost cost = coordinator_->Cost(sweep.id()).value();
  EXPECT_DOUBLE_EQ(cost.slot_seconds, 60);
  EXPECT_EQ(cost.trial_steps, 5);
  EXPECT_EQ(cost.full_steps, 3 * 5);  // the longest completed trial ran 5 steps; 3 trials

  const std::vector<AttemptSummary> history = coordinator_->TrialAttempts(attempts[0].trial_id()).value();
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].state, "exited");
  EXPECT_EQ(history[0].exit_code, 0);
  EXPECT_DOUBLE_EQ(history[0].ended_at - history[0].started_at, 30);
}

TEST_F(CoordinatorViewsTest, ATrialsGpuFiguresAreItsAttemptsLargestMemoryAndMeanUtilisation) {
  Submit();
  const std::string worker = Register(2);
  const std::vector<v1::Attempt> attempts = Lease(worker, 2);
  ASSERT_EQ(attempts.size(), 2u);
  // The first trial's attempt crashes and runs again; the second trial ran where no GPU was measured.
  ASSERT_TRUE(ExitWithUsage(worker, attempts[0], 1, 1, int64_t{3} << 30, 80, /*exit_code=*/1).ok());
  ASSERT_TRUE(ExitWithUsage(worker, attempts[1], 1, 1).ok());
  const std::vector<v1::Attempt> again = Lease(worker, 1);
  ASSERT_EQ(again.size(), 1u);
  ASSERT_EQ(again[0].trial_id(), attempts[0].trial_id());
  ASSERT_TRUE(ExitWithUsage(worker, again[0], 1, 1, int64_t{2} << 30, 40).ok());

  const v1::Trial twice = coordinator_->GetTrial(attempts[0].trial_id()).value();
  EXPECT_EQ(twice.gpu_peak_memory_bytes(), int64_t{3} << 30);
  EXPECT_DOUBLE_EQ(twice.gpu_utilization_percent(), 60);
  const v1::Trial without = coordinator_->GetTrial(attempts[1].trial_id()).value();
  EXPECT_EQ(without.gpu_peak_memory_bytes(), 0);
  EXPECT_EQ(without.gpu_utilization_percent(), 0);
}

TEST_F(CoordinatorViewsTest, ExitsWithImpossibleUsageAreRefused) {
  Submit();
  const std::string worker = Register(1);
  const v1::Attempt attempt = Lease(worker, 1).at(0);
  EXPECT_EQ(ExitWithUsage(worker, attempt, -1, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ExitWithUsage(worker, attempt, std::nan(""), 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ExitWithUsage(worker, attempt, 1, -5).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ExitWithUsage(worker, attempt, 1, 5, -1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ExitWithUsage(worker, attempt, 1, 5, 5, 100.5).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ExitWithUsage(worker, attempt, 1, 5, 5, std::nan("")).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(coordinator_->GetTrial(attempt.trial_id()).value().state() == v1::TRIAL_RUNNING);
}

TEST_F(CoordinatorViewsTest, EachAttemptKeepsWhatItTrainedFromAndTheLineageHasThemAll) {
  const v1::Sweep sweep = Submit();
  const std::string worker = Register(1);
  Provenance record;
  record.attempt = 1;
  record.recipe_file = "/recipes/tiny.yaml";
  const v1::Attempt first = Lease(worker, 1).at(0);
  v1::ReportAttemptExitRequest crashed;
  crashed.set_worker_id(worker);
  crashed.set_attempt_id(first.attempt_id());
  crashed.set_exit_code(1);
  crashed.set_provenance_json(ProvenanceJson(record));
  ASSERT_TRUE(coordinator_->ReportAttemptExit(crashed).ok());
  const v1::Attempt second = Lease(worker, 1).at(0);
  ASSERT_EQ(second.trial_id(), first.trial_id());
  record.attempt = 2;
  v1::ReportAttemptExitRequest completed;
  completed.set_worker_id(worker);
  completed.set_attempt_id(second.attempt_id());
  completed.set_provenance_json(ProvenanceJson(record));
  completed.set_parameter_digest(std::string(64, 'a'));
  ASSERT_TRUE(coordinator_->ReportAttemptExit(completed).ok());

  const v1::TrialLineage lineage = coordinator_->TrialLineage(first.trial_id()).value();
  EXPECT_EQ(lineage.sweep().id(), sweep.id());
  EXPECT_EQ(lineage.trial().id(), first.trial_id());
  ASSERT_EQ(lineage.attempts_size(), 2);
  EXPECT_EQ(ParseProvenance(lineage.attempts(0).provenance_json()).value().attempt, 1);
  EXPECT_EQ(lineage.attempts(0).parameter_digest(), "");
  EXPECT_EQ(ParseProvenance(lineage.attempts(1).provenance_json()).value().attempt, 2);
  EXPECT_EQ(lineage.attempts(1).parameter_digest(), std::string(64, 'a'));
  EXPECT_EQ(coordinator_->TrialLineage(999).status().code(), StatusCode::kNotFound);
}

TEST_F(CoordinatorViewsTest, AnExitWithABadProvenanceIsKeptWithoutItAndSaysWhy) {
  const v1::Sweep sweep = Submit();
  const std::string worker = Register(2);
  const std::vector<v1::Attempt> attempts = Lease(worker, 2);
  ASSERT_EQ(attempts.size(), 2u);
  v1::ReportAttemptExitRequest exit;
  exit.set_worker_id(worker);
  exit.set_attempt_id(attempts[0].attempt_id());
  exit.set_provenance_json(R"({"format": 1, "attempt": 1})");  // not a whole record
  exit.set_parameter_digest(std::string(64, 'a'));
  ASSERT_TRUE(coordinator_->ReportAttemptExit(exit).ok());
  exit.set_attempt_id(attempts[1].attempt_id());
  exit.clear_provenance_json();
  exit.set_parameter_digest("not hex");
  ASSERT_TRUE(coordinator_->ReportAttemptExit(exit).ok());

  for (const v1::Attempt& attempt : attempts) {
    EXPECT_EQ(coordinator_->GetTrial(attempt.trial_id()).value().state(), v1::TRIAL_COMPLETED);
    const v1::TrialLineage lineage = coordinator_->TrialLineage(attempt.trial_id()).value();
    EXPECT_EQ(lineage.attempts(0).provenance_json(), "");
    EXPECT_EQ(lineage.attempts(0).parameter_digest(), "");
  }
  std::string events;
  const Coordinator::SweepEvents recorded = coordinator_->EventsAfter(sweep.id(), 0).value();
  for (const auto& e : recorded.events) events += e.message + "\n";
  EXPECT_NE(events.find("attempt 1: its provenance was not kept: provenance: "), std::string::npos) << events;
  EXPECT_NE(events.find("its provenance was not kept: parameter_digest: expected 64 lowercase hex digits"),
            std::string::npos) << events;
}

TEST_F(CoordinatorViewsTest, MetricSeriesThinnedToABudgetKeepEvenlySpacedPointsWithTheLast) {
  const v1::Sweep sweep = Submit();
  const std::string worker = Register(2);
  const std::vector<v1::Attempt> attempts = Lease(worker, 2);
  for (int64_t step = 1; step <= 101; ++step) ASSERT_TRUE(ReportMetric(attempts[0], "train_loss", step * 0.5, step).ok());
  for (int64_t step = 1; step <= 10; ++step) ASSERT_TRUE(ReportMetric(attempts[1], "train_loss", step, step).ok());

  const auto every = coordinator_->SweepMetrics(sweep.id(), "train_loss").value();
  EXPECT_EQ(every.series.at(0).points.size(), 101u);

  // 100 points for two series: 50 each at most; the short one keeps all of its 10.
  const auto thinned = coordinator_->SweepMetrics(sweep.id(), "train_loss", 100).value();
  const auto& long_series = thinned.series.at(0).points;
  ASSERT_EQ(long_series.size(), 50u);
  EXPECT_EQ(long_series.front(), (std::pair<int64_t, double>{1, 0.5}));
  EXPECT_EQ(long_series.back(), (std::pair<int64_t, double>{101, 50.5}));
  for (size_t i = 1; i < long_series.size(); ++i) {
    const int64_t gap = long_series[i].first - long_series[i - 1].first;
    EXPECT_TRUE(gap == 2 || gap == 3) << "uneven gap " << gap << " before step " << long_series[i].first;
  }
  EXPECT_EQ(thinned.series.at(1).points.size(), 10u);

  // A budget smaller than the floor still leaves every series kMinPointsPerSeries points.
  const auto tiny = coordinator_->SweepMetrics(sweep.id(), "train_loss", 2).value();
  EXPECT_EQ(tiny.series.at(0).points.size(), static_cast<size_t>(Coordinator::kMinPointsPerSeries));
  EXPECT_EQ(tiny.series.at(0).points.back().first, 101);
  EXPECT_EQ(coordinator_->SweepMetrics(sweep.id(), "train_loss", -1).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CoordinatorViewsTest, MetricSeriesOfEveryTrialAndCompleteCheckpointsOnly) {
  const v1::Sweep sweep = Submit();
  const std::string worker = Register(2);
  const std::vector<v1::Attempt> attempts = Lease(worker, 2);
  ASSERT_TRUE(Report(attempts[0], 1, 0.9).ok());
  ASSERT_TRUE(Report(attempts[0], 2, 0.7).ok());
  ASSERT_TRUE(Report(attempts[1], 1, 0.8).ok());
  ASSERT_TRUE(ReportMetric(attempts[1], "train_loss", 1.1, 1).ok());
  const Coordinator::SweepMetricSeries series = coordinator_->SweepMetrics(sweep.id(), "").value();
  EXPECT_EQ(series.metric, "val_loss");
  EXPECT_EQ(series.names, (std::vector<std::string>{"train_loss", "val_loss"}));
  ASSERT_EQ(series.series.size(), 2u);
  EXPECT_EQ(series.series[0].points, (std::vector<std::pair<int64_t, double>>{{1, 0.9}, {2, 0.7}}));
  EXPECT_EQ(series.series[1].number, 1);
  EXPECT_EQ(coordinator_->SweepMetrics(sweep.id(), "bad name").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(coordinator_->SweepMetrics(999, "").status().code(), StatusCode::kNotFound);

  WriteCheckpoint(attempts[0], 20, "b");
  WriteCheckpoint(attempts[0], 10, "a");
  const std::filesystem::path torn = std::filesystem::path(coordinator_->storage_root()) / attempts[0].output_dir() /
                                     "checkpoints" / "step-30";
  std::filesystem::create_directories(torn);  // no MANIFEST: not a checkpoint
  const auto checkpoints = coordinator_->TrialCheckpoints(attempts[0].trial_id()).value();
  ASSERT_EQ(checkpoints.size(), 2u);
  EXPECT_EQ(checkpoints[0].step, 10);
  EXPECT_EQ(checkpoints[1].path, attempts[0].output_dir() + "/checkpoints/step-20");
  EXPECT_TRUE(coordinator_->TrialCheckpoints(attempts[1].trial_id()).value().empty());
}

TEST_F(CoordinatorViewsTest, PrometheusPageCountsTrialsWorkersAndDurations) {
  const v1::Sweep sweep = Submit();
  const std::string worker = Register(2);
  const std::vector<v1::Attempt> attempts = Lease(worker, 2);
  clock_.Advance(20);
  ASSERT_TRUE(Exit(worker, attempts[0], 0).ok());
  std::string page;
  ASSERT_TRUE(coordinator_->WritePrometheusMetrics(page).ok());
  const std::string id = std::to_string(sweep.id());
  for (const std::string& expected : std::vector<std::string>
       {"orchard_sweeps{state=\"running\"} 1\n", "orchard_trials{sweep=\"" + id + "\",state=\"running\"} 1\n",
        "orchard_trials{sweep=\"" + id + "\",state=\"pending\"} 1\n", "orchard_workers{state=\"alive\"} 1\n",
        "orchard_slots{state=\"busy\"} 1\n", "orchard_slots{state=\"free\"} 1\n",
        "orchard_trial_duration_seconds_bucket{state=\"completed\",le=\"15\"} 0\n",
        "orchard_trial_duration_seconds_bucket{state=\"completed\",le=\"30\"} 1\n",
        "orchard_queue_wait_seconds_count 2\n"})
    EXPECT_NE(page.find(expected), std::string::npos) << expected << " not in:\n" << page;
}

}  // namespace
}  // namespace orchard::coordinator
