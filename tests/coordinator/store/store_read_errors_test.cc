// Every kind of Store read, with the table it reads broken underneath it (tests/util/sql.h),
// returns SQLite's error: never an empty list, a "not found", a zero or a default.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "coordinator/store/store.h"
#include "tests/util/sql.h"
#include "tests/util/test_util.h"

namespace orchard::coordinator {
namespace {

using orchard::testing::BreakTable;
using orchard::testing::TempDir;

struct ReadCase {
  const char* read;
  const char* table;  // the table whose failure the read must report
  std::function<Status(Store&)> call;
};

// The status of any read, whatever it returns.
template <typename T>
Status StatusOf(const StatusOr<T>& result) {
  return result.ok() ? OkStatus() : result.status();
}

class StoreReadErrorsTest : public ::testing::TestWithParam<ReadCase> {
 public:
  // The rows SetUp made, for the reads to name.
  static inline int64_t sweep_ = 0, trial_ = 0, attempt_ = 0, schedule_ = 0;
  static inline std::string worker_;

 protected:
  void SetUp() override {
    auto opened = Store::Open(path_, dir_ / "storage");
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(opened).value();
    Populate();
  }

  // One row in every table, so that each read has something it could wrongly return.
  void Populate() {
    SweepRecord sweep;
    sweep.name = "s";
    sweep.spec = {{"strategy", "grid"}, {"metric", "loss"}, {"mode", "min"}};
    sweep.owner = "ada";
    sweep_ = store_->InsertSweep(sweep).value();
    ASSERT_TRUE(store_->InsertTrial(sweep_, 0, {}, "s-1/trial-0", 1).ok());
    trial_ = store_->TrialId(sweep_, 0).value();
    ASSERT_TRUE(store_->RecordObjective(trial_, 5, 0.5).ok());
    ASSERT_TRUE(store_->SetTrialState(trial_, "completed", "", 2).ok());
    worker_ = store_->InsertWorker("host", 2, "cpu", {}, 1).value();
    attempt_ = store_->InsertAttempt(trial_, worker_, "hash", "s-1/trial-0/", 1, 1).value().id;
    v1::MetricPoint point;
    point.set_name("loss");
    point.set_step(5);
    point.set_value(0.5);
    ASSERT_TRUE(store_->InsertMetrics(trial_, {point}).ok());
    ASSERT_TRUE(store_->AddEvent(sweep_, 1, "trial 0 started").ok());
    ScheduleSettings settings;
    settings.cron = "0 2 * * *";
    schedule_ = store_->InsertSchedule("nightly", "ada", settings, 0, 1).value();
    ScheduleRunRecord run;
    run.number = 1;
    run.version = 1;
    run.sweep_id = sweep_;
    run.state = "submitted";
    ASSERT_TRUE(store_->InsertScheduleRun(schedule_, run).ok());
    ASSERT_TRUE(store_->InsertModel("m", "ada", 1).ok());
    v1::ModelVersion version;
    version.set_version(1);
    version.set_sweep_id(sweep_);
    version.set_trial_id(trial_);
    const Status inserted = store_->InsertModelVersion("m", version);
    ASSERT_TRUE(inserted.ok()) << inserted.message();
    ASSERT_TRUE(store_->SetChampion("m", 1).ok());
    v1::PromotionDecision decision;
    decision.set_kind("promote");
    decision.set_promoted(true);
    decision.set_new_champion(1);
    ASSERT_TRUE(store_->InsertPromotionDecision("m", decision).ok());
  }

  TempDir dir_;
  std::string path_ = dir_ / "state.db";
  std::unique_ptr<Store> store_;
};

TEST_P(StoreReadErrorsTest, ReturnsTheErrorOfItsBrokenTable) {
  const ReadCase& read = GetParam();
  ASSERT_TRUE(read.call(*store_).ok()) << read.read << " fails before anything is broken";
  BreakTable(path_, read.table);
  const Status status = read.call(*store_);
  EXPECT_EQ(status.code(), StatusCode::kInternal) << read.read << ": " << status.message();
  EXPECT_NE(status.message().find("no such table: " + std::string(read.table)), std::string::npos)
      << read.read << ": " << status.message();
}

using Fixture = StoreReadErrorsTest;

INSTANTIATE_TEST_SUITE_P(
    EveryRead, StoreReadErrorsTest,
    ::testing::Values(
        ReadCase{"LoadSweep", "sweeps", [](Store& s) { return StatusOf(s.LoadSweep(Fixture::sweep_)); }},
        ReadCase{"RunningSweepIds", "sweeps", [](Store& s) { return StatusOf(s.RunningSweepIds()); }},
        ReadCase{"GetSweep", "trials", [](Store& s) { return StatusOf(s.GetSweep(Fixture::sweep_)); }},
        ReadCase{"ListSweeps", "sweeps", [](Store& s) { return StatusOf(s.ListSweeps(10)); }},
        ReadCase{"BestTrial", "trials", [](Store& s) { return StatusOf(s.BestTrial(Fixture::sweep_, "min")); }},
        ReadCase{"GetTrial", "trials", [](Store& s) { return StatusOf(s.GetTrial(Fixture::trial_)); }},
        ReadCase{"TrialOwner", "trials", [](Store& s) { return StatusOf(s.TrialOwner(Fixture::trial_)); }},
        ReadCase{"TrialId", "trials", [](Store& s) { return StatusOf(s.TrialId(Fixture::sweep_, 0)); }},
        ReadCase{"ListTrials", "attempts", [](Store& s) { return StatusOf(s.ListTrials(Fixture::sweep_)); }},
        ReadCase{"PendingTrials", "trials", [](Store& s) { return StatusOf(s.PendingTrials(10)); }},
        ReadCase{"PendingTrialIds", "trials", [](Store& s) { return StatusOf(s.PendingTrialIds(Fixture::sweep_)); }},
        ReadCase{"RunningTrialsBySweep", "trials", [](Store& s) { return StatusOf(s.RunningTrialsBySweep()); }},
        ReadCase{"LoadAttempt", "attempts", [](Store& s) { return StatusOf(s.LoadAttempt(Fixture::attempt_)); }},
        ReadCase{"ActiveAttempts", "attempts", [](Store& s) { return StatusOf(s.ActiveAttempts(Fixture::worker_)); }},
        ReadCase{"ActiveAttemptOfTrial", "attempts",
                 [](Store& s) { return StatusOf(s.ActiveAttemptOfTrial(Fixture::trial_)); }},
        ReadCase{"AttemptSpans", "attempts", [](Store& s) { return StatusOf(s.AttemptSpans(Fixture::sweep_)); }},
        ReadCase{"AttemptLogPath", "attempts", [](Store& s) { return StatusOf(s.AttemptLogPath(Fixture::trial_, 0)); }},
        ReadCase{"BusySlots", "attempts", [](Store& s) { return StatusOf(s.BusySlots(Fixture::worker_)); }},
        ReadCase{"Metrics", "metrics", [](Store& s) { return StatusOf(s.Metrics(Fixture::trial_, "")); }},
        ReadCase{"MetricsOfOneName", "metric_names", [](Store& s) { return StatusOf(s.Metrics(Fixture::trial_, "loss")); }},
        ReadCase{"SweepMetricSeries", "metrics",
                 [](Store& s) { return StatusOf(s.SweepMetricSeries(Fixture::sweep_, "loss")); }},
        ReadCase{"SweepMetricNames", "metric_names", [](Store& s) { return StatusOf(s.SweepMetricNames(Fixture::sweep_)); }},
        ReadCase{"LoadWorker", "workers", [](Store& s) { return StatusOf(s.LoadWorker(Fixture::worker_)); }},
        ReadCase{"WorkersSilentSince", "workers", [](Store& s) { return StatusOf(s.WorkersSilentSince(100)); }},
        ReadCase{"ListWorkers", "workers", [](Store& s) { return StatusOf(s.ListWorkers()); }},
        ReadCase{"LoadSchedule", "schedules", [](Store& s) { return StatusOf(s.LoadSchedule("nightly")); }},
        ReadCase{"ListSchedules", "schedules", [](Store& s) { return StatusOf(s.ListSchedules()); }},
        ReadCase{"ScheduleVersions", "schedule_versions",
                 [](Store& s) { return StatusOf(s.ScheduleVersions(Fixture::schedule_)); }},
        ReadCase{"ScheduleRuns", "schedule_runs", [](Store& s) { return StatusOf(s.ScheduleRuns(Fixture::schedule_, 5)); }},
        ReadCase{"RunningSweepsOfSchedule", "schedule_runs",
                 [](Store& s) { return StatusOf(s.RunningSweepsOfSchedule(Fixture::schedule_)); }},
        ReadCase{"EventsAfter", "events", [](Store& s) { return StatusOf(s.EventsAfter(Fixture::sweep_, 0)); }},
        ReadCase{"LoadModel", "models", [](Store& s) { return StatusOf(s.LoadModel("m")); }},
        ReadCase{"ListModels", "models", [](Store& s) { return StatusOf(s.ListModels(std::nullopt)); }},
        ReadCase{"NextModelVersion", "model_versions", [](Store& s) { return StatusOf(s.NextModelVersion("m")); }},
        ReadCase{"GetModelVersion", "model_versions", [](Store& s) { return StatusOf(s.GetModelVersion("m", 1)); }},
        ReadCase{"ListModelVersions", "model_versions", [](Store& s) { return StatusOf(s.ListModelVersions("m")); }},
        ReadCase{"CountModelVersions", "model_versions", [](Store& s) { return StatusOf(s.CountModelVersions("m")); }},
        ReadCase{"ListPromotionDecisions", "model_decisions",
                 [](Store& s) { return StatusOf(s.ListPromotionDecisions("m")); }},
        ReadCase{"LastPromotionDecision", "model_decisions",
                 [](Store& s) { return StatusOf(s.LastPromotionDecision("m")); }},
        ReadCase{"ChampionReplacedBy", "model_decisions", [](Store& s) { return StatusOf(s.ChampionReplacedBy("m", 1)); }}),
    [](const ::testing::TestParamInfo<ReadCase>& info) { return std::string(info.param.read); });

// The write that follows a failed read never runs on a guess: a statement that cannot be prepared
// carries its error to Run as well.
TEST_F(StoreReadErrorsTest, AWriteToABrokenTableReportsItsError) {
  BreakTable(path_, "workers");
  const Status status = store_->TouchWorker(worker_, 5);
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_NE(status.message().find("no such table: workers"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace orchard::coordinator
