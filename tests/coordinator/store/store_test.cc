#include "coordinator/store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>

#include "coordinator/store/schema.h"
#include "tests/util/test_util.h"

namespace orchard::coordinator {
namespace {

using orchard::testing::TempDir;

SweepRecord Sweep() {
  SweepRecord record;
  record.name = "s";
  record.recipe_yaml = "name: s";
  record.recipe_file = "/r.yaml";
  record.spec = {{"strategy", "grid"}, {"metric", "val_loss"}, {"mode", "min"}, {"ranks", 1}};
  record.planned_trials = 2;
  record.strategy_state = {{"x", 1}};
  record.created_at = 100;
  return record;
}

TEST(Database, MigratesStepByStepAndRefusesANewerSchema) {
  TempDir dir;
  const std::string path = dir / "m.db";
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Migrate({"CREATE TABLE a (x INTEGER);"}).ok());
    EXPECT_EQ((*db)->SchemaVersion().value(), 1);
    ASSERT_TRUE((*db)->Exec("INSERT INTO a VALUES (7)").ok());
  }
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db.ok());
    // Version 1 is not run again; version 2 is added on top and keeps the data.
    ASSERT_TRUE((*db)->Migrate({"CREATE TABLE a (x INTEGER);", "ALTER TABLE a ADD COLUMN y TEXT DEFAULT 'z';"}).ok());
    EXPECT_EQ((*db)->SchemaVersion().value(), 2);
    Statement row = (*db)->Prepare("SELECT x, y FROM a");
    ASSERT_TRUE(row.Next().value());
    EXPECT_EQ(row.Int(0), 7);
    EXPECT_EQ(row.Text(1), "z");
  }
  auto db = Database::Open(path);
  const Status older = (*db)->Migrate({"CREATE TABLE a (x INTEGER);"});
  EXPECT_EQ(older.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(older.message().find("newer than this build"), std::string::npos);
}

int64_t PageSize(Database& db) {
  Statement size = db.Prepare("PRAGMA page_size");
  EXPECT_TRUE(size.Next().value());
  return size.Int(0);
}

// A new state file gets small pages (each commit writes every page it touched whole); a file made
// with other pages keeps them, and its data.
TEST(Database, AnUpgradeOfAnOlderSchemaIsToldFirstAndANewFileIsNot) {
  TempDir dir;
  std::vector<std::pair<int64_t, int64_t>> told;
  const SchemaUpgradeNotice tell = [&](int64_t from, int64_t to) { told.emplace_back(from, to); };
  const std::vector<std::string> first = {"CREATE TABLE a (x INTEGER);"};
  const std::vector<std::string> second = {first[0], "ALTER TABLE a ADD COLUMN y TEXT;"};
  const auto migrate = [&](const std::vector<std::string>& migrations) {
    auto db = Database::Open(dir / "d.db");
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Migrate(migrations, tell).ok());
  };
  migrate(first);
  EXPECT_TRUE(told.empty()) << "a new file is made, not upgraded";
  migrate(second);
  EXPECT_EQ(told, (std::vector<std::pair<int64_t, int64_t>>{{1, 2}}));
  migrate(second);
  EXPECT_EQ(told.size(), 1u) << "nothing left to upgrade";
}

TEST(Database, ANewFileGetsSmallPagesAndAnOlderFileKeepsItsOwn) {
  TempDir dir;
  EXPECT_EQ(PageSize(**Database::Open(dir / "new.db")), 1024);
  const std::string older = dir / "older.db";
  {
    sqlite3* handle = nullptr;
    ASSERT_EQ(sqlite3_open(older.c_str(), &handle), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(handle, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE a (x INTEGER); "
                                   "INSERT INTO a VALUES (7);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(handle);
  }
  auto db = Database::Open(older);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(PageSize(**db), 4096);
  Statement row = (*db)->Prepare("SELECT x FROM a");
  ASSERT_TRUE(row.Next().value());
  EXPECT_EQ(row.Int(0), 7);
}

TEST(Database, AFailedMigrationLeavesTheVersionUnchanged) {
  TempDir dir;
  auto db = Database::Open(dir / "m.db");
  ASSERT_TRUE((*db)->Migrate({"CREATE TABLE a (x INTEGER);"}).ok());
  EXPECT_FALSE((*db)->Migrate({"CREATE TABLE a (x INTEGER);", "CREATE TABLE b (y); THIS IS NOT SQL;"}).ok());
  EXPECT_EQ((*db)->SchemaVersion().value(), 1);
  Statement table = (*db)->Prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'b'");
  ASSERT_TRUE(table.Next().value());
  EXPECT_EQ(table.Int(0), 0);  // the half-applied migration was rolled back
}

// Values of column x in table a, in order.
std::vector<int64_t> Values(Database& db) {
  std::vector<int64_t> values;
  Statement rows = db.Prepare("SELECT x FROM a ORDER BY x");
  EXPECT_TRUE(rows.ForEachRow([&] { values.push_back(rows.Int(0)); }).ok());
  return values;
}

TEST(Database, ATransactionInsideAnotherIsASavepointOfIt) {
  TempDir dir;
  auto db = Database::Open(dir / "n.db");
  ASSERT_TRUE((*db)->Migrate({"CREATE TABLE a (x INTEGER);"}).ok());
  {
    Transaction outer(db->get());
    ASSERT_TRUE(outer.status().ok());
    ASSERT_TRUE((*db)->Exec("INSERT INTO a VALUES (1)").ok());
    {
      Transaction kept(db->get());
      ASSERT_TRUE(kept.status().ok());
      ASSERT_TRUE((*db)->Exec("INSERT INTO a VALUES (2)").ok());
      ASSERT_TRUE(kept.Commit().ok());
    }
    {
      Transaction undone(db->get());  // rolled back when it goes: only its own change goes with it
      ASSERT_TRUE((*db)->Exec("INSERT INTO a VALUES (3)").ok());
    }
    EXPECT_EQ(Values(**db), (std::vector<int64_t>{1, 2}));
  }
  // The outer one was never committed: nothing at all, the committed savepoint's row included.
  EXPECT_TRUE(Values(**db).empty());
  {
    Transaction outer(db->get());
    {
      Transaction inner(db->get());
      ASSERT_TRUE((*db)->Exec("INSERT INTO a VALUES (4)").ok());
      ASSERT_TRUE(inner.Commit().ok());
    }
    ASSERT_TRUE(outer.Commit().ok());
  }
  // And a transaction after them is an outer one again.
  Transaction after(db->get());
  ASSERT_TRUE(after.status().ok());
  ASSERT_TRUE(after.Commit().ok());
  EXPECT_EQ(Values(**db), (std::vector<int64_t>{4}));
}

// SQLite rolls a transaction back by itself on some errors (a full disk); a savepoint opened after
// that must not become a transaction of its own that commits alone.
TEST(Database, NoSavepointAfterTheEnclosingTransactionIsGone) {
  TempDir dir;
  auto db = Database::Open(dir / "g.db");
  ASSERT_TRUE((*db)->Migrate({"CREATE TABLE a (x INTEGER);"}).ok());
  {
    Transaction outer(db->get());
    ASSERT_TRUE((*db)->Exec("ROLLBACK").ok());  // as SQLite does after SQLITE_FULL
    Transaction inner(db->get());
    EXPECT_EQ(inner.status().code(), StatusCode::kAborted);
    EXPECT_NE(inner.status().message().find("rolled back the enclosing transaction"), std::string::npos);
    EXPECT_FALSE(inner.Commit().ok());
    EXPECT_FALSE(outer.Commit().ok());
  }
  EXPECT_TRUE(Values(**db).empty());
  Transaction fresh(db->get());  // the bookkeeping is back to no transaction
  EXPECT_TRUE(fresh.status().ok());
}

TEST(Database, ACachedStatementInUseIsNotHandedOutTwice) {
  TempDir dir;
  auto db = Database::Open(dir / "c.db");
  ASSERT_TRUE((*db)->Migrate({"CREATE TABLE a (x INTEGER);"}).ok());
  ASSERT_TRUE((*db)->Exec("INSERT INTO a VALUES (1); INSERT INTO a VALUES (2);").ok());
  // The same text twice at once (a nested read): each runs on its own, with its own bindings.
  const std::string sql = "SELECT x FROM a WHERE x >= ? ORDER BY x";
  Statement outer = (*db)->Prepare(sql);
  outer.Bind(1, 1);
  ASSERT_TRUE(outer.Next().value());
  {
    Statement inner = (*db)->Prepare(sql);
    inner.Bind(1, 2);
    ASSERT_TRUE(inner.Next().value());
    EXPECT_EQ(inner.Int(0), 2);
  }
  EXPECT_EQ(outer.Int(0), 1);
  ASSERT_TRUE(outer.Next().value());
  EXPECT_EQ(outer.Int(0), 2);
  // Once handed back, the cached one starts afresh: no bindings or position carried over.
  {
    Statement again = (*db)->Prepare("SELECT COUNT(*) FROM a WHERE x >= ?");
    again.Bind(1, 2);
    ASSERT_TRUE(again.Next().value());
    EXPECT_EQ(again.Int(0), 1);
  }
  Statement fresh = (*db)->Prepare("SELECT COUNT(*) FROM a WHERE x >= ?");
  ASSERT_TRUE(fresh.Next().value());
  EXPECT_EQ(fresh.Int(0), 0);  // an unbound parameter is NULL: no row compares >= NULL
}

TEST(Store, UncommittedTransactionsLeaveNothing) {
  TempDir dir;
  auto store = Store::Open(dir / "s.db", "/storage");
  ASSERT_TRUE(store.ok()) << store.status().message();
  {
    Transaction tx = (*store)->Begin();
    ASSERT_TRUE((*store)->InsertSweep(Sweep()).ok());
    // No commit: rolled back on scope exit.
  }
  EXPECT_TRUE((*store)->ListSweeps(10).value().empty());
  {
    Transaction tx = (*store)->Begin();
    auto id = (*store)->InsertSweep(Sweep());
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE((*store)->InsertTrial(*id, 0, {{"optimizer.lr", "0.1"}}, "s-1/trial-0", 101).ok());
    ASSERT_TRUE(tx.Commit().ok());
  }
  // A second connection (a restarted coordinator) sees the committed state.
  auto reopened = Store::Open(dir / "s.db", "/storage");
  ASSERT_TRUE(reopened.ok());
  const auto sweeps = (*reopened)->ListSweeps(10).value();
  ASSERT_EQ(sweeps.size(), 1u);
  EXPECT_EQ(sweeps[0].trials_by_state().at("pending"), 1);
  EXPECT_EQ(sweeps[0].storage_root(), "/storage");
  const auto trials = (*reopened)->ListTrials(sweeps[0].id()).value();
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].hyperparameters(0).path(), "optimizer.lr");
  EXPECT_EQ(trials[0].exit_code(), -1);
}

TEST(Store, ListsStartAfterTheGivenRowAndStopAtTheLimit) {
  TempDir dir;
  auto store = Store::Open(dir / "s.db", "/storage");
  ASSERT_TRUE(store.ok()) << store.status().message();
  const int64_t first = (*store)->InsertSweep(Sweep()).value();
  const int64_t second = (*store)->InsertSweep(Sweep()).value();
  for (int64_t number : {-1, 0, 1, 2, 3})
    ASSERT_TRUE((*store)->InsertTrial(first, number, {}, "s/t" + std::to_string(number), 1).ok());
  auto numbers = [&](std::optional<int64_t> after, int64_t limit) {
    std::vector<int64_t> out;
    const std::vector<v1::Trial> trials = (*store)->ListTrials(first, after, limit).value();
    for (const v1::Trial& trial : trials) out.push_back(trial.number());
    return out;
  };
  EXPECT_EQ(numbers(std::nullopt, -1), (std::vector<int64_t>{-1, 0, 1, 2, 3}));
  EXPECT_EQ(numbers(std::nullopt, 2), (std::vector<int64_t>{-1, 0}));
  EXPECT_EQ(numbers(0, 2), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(numbers(3, 2), (std::vector<int64_t>{}));
  EXPECT_EQ((*store)->ListSweeps(1).value().at(0).id(), second);
  EXPECT_EQ((*store)->ListSweeps(5, std::nullopt, second).value().at(0).id(), first);

  const int64_t trial = (*store)->ListTrials(first).value().at(1).id();
  std::vector<v1::MetricPoint> points;
  for (const char* name : {"b", "a"})
    for (int64_t step : {1, 2}) {
      v1::MetricPoint& p = points.emplace_back();
      p.set_name(name), p.set_step(step), p.set_value(1.0), p.set_time(1.0);
    }
  ASSERT_TRUE((*store)->InsertMetrics(trial, points).ok());
  auto keys = [&](const std::string& name, std::optional<std::pair<std::string, int64_t>> after, int64_t limit) {
    std::vector<std::string> out;
    const std::vector<v1::MetricPoint> found = (*store)->Metrics(trial, name, after, limit).value();
    for (const v1::MetricPoint& p : found) out.push_back(p.name() + std::to_string(p.step()));
    return out;
  };
  EXPECT_EQ(keys("", std::nullopt, -1), (std::vector<std::string>{"a1", "b1", "a2", "b2"}));
  EXPECT_EQ(keys("", std::pair<std::string, int64_t>("a", 2), 1), (std::vector<std::string>{"b2"}));
  EXPECT_EQ(keys("b", std::pair<std::string, int64_t>("b", 1), -1), (std::vector<std::string>{"b2"}));
  EXPECT_EQ(keys("a", std::pair<std::string, int64_t>("a", 2), -1), (std::vector<std::string>{}));
  EXPECT_EQ(keys("b", std::pair<std::string, int64_t>("a", 1), -1), (std::vector<std::string>{"b1", "b2"}))
      << "a position among another metric's points";
  EXPECT_EQ(keys("a", std::pair<std::string, int64_t>("b", 1), 5), (std::vector<std::string>{"a2"}));
  EXPECT_EQ((*store)->SweepMetricNames(first).value(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ((*store)->SweepMetricNames(second).value(), (std::vector<std::string>{}));
}

// A point of metric `name` at `step`.
v1::MetricPoint Point(const std::string& name, int64_t step) {
  v1::MetricPoint point;
  point.set_name(name), point.set_step(step), point.set_value(static_cast<double>(step)), point.set_time(1.0);
  return point;
}

// Trial 0 of a new sweep in `store`: its id.
int64_t NewTrial(Store& store) {
  const int64_t sweep = store.InsertSweep(Sweep()).value();
  EXPECT_TRUE(store.InsertTrial(sweep, 0, {}, "s/t0", 1).ok());
  return store.TrialId(sweep, 0).value();
}

TEST(Store, AMetricNameUndoneWithItsReportIsRecordedWhenReportedAgain) {
  TempDir dir;
  auto store = std::move(Store::Open(dir / "s.db", "/storage").value());
  const int64_t trial = NewTrial(*store);
  const int64_t sweep = store->GetTrial(trial).value().sweep_id();
  {
    Transaction batch = store->Begin();
    Transaction first_report = store->Begin();  // a savepoint of the batch, as a report's write is
    ASSERT_TRUE(store->InsertMetrics(trial, {Point("loss", 1)}).ok());
    first_report.Rollback();
    ASSERT_TRUE(batch.Commit().ok());
  }
  EXPECT_EQ(store->SweepMetricNames(sweep).value(), (std::vector<std::string>{}));
  {
    Transaction batch = store->Begin();
    ASSERT_TRUE(store->InsertMetrics(trial, {Point("loss", 2)}).ok());
    ASSERT_TRUE(batch.Commit().ok());
  }
  EXPECT_EQ(store->SweepMetricNames(sweep).value(), (std::vector<std::string>{"loss"}))
      << "the name went with the undone report, so the next report of it records it again";

  // A batch undone after its report's savepoint was kept (its commit failed, say) takes the name too.
  {
    Transaction batch = store->Begin();
    Transaction report = store->Begin();
    ASSERT_TRUE(store->InsertMetrics(trial, {Point("accuracy", 3)}).ok());
    ASSERT_TRUE(report.Commit().ok());
    batch.Rollback();
  }
  {
    Transaction batch = store->Begin();
    ASSERT_TRUE(store->InsertMetrics(trial, {Point("accuracy", 3)}).ok());
    ASSERT_TRUE(batch.Commit().ok());
  }
  EXPECT_EQ(store->SweepMetricNames(sweep).value(), (std::vector<std::string>{"accuracy", "loss"}));
}

TEST(Store, OneMetricPagesThroughTheStepsOfTheOthers) {
  TempDir dir;
  auto store = std::move(Store::Open(dir / "s.db", "/storage").value());
  const int64_t trial = NewTrial(*store);
  // A loss at every step and an accuracy at every tenth, as a trainer's log and evaluation give them.
  std::vector<v1::MetricPoint> points;
  for (int64_t step = 1; step <= 50; ++step) {
    points.push_back(Point("loss", step));
    if (step % 10 == 0) points.push_back(Point("accuracy", step));
  }
  ASSERT_TRUE(store->InsertMetrics(trial, points).ok());
  std::vector<int64_t> steps;
  std::optional<std::pair<std::string, int64_t>> after;
  for (int pages = 0; pages < 10; ++pages) {
    const std::vector<v1::MetricPoint> page = store->Metrics(trial, "accuracy", after, 2).value();
    for (const v1::MetricPoint& p : page) {
      EXPECT_EQ(p.name(), "accuracy");
      steps.push_back(p.step());
    }
    if (page.size() < 2) break;
    after = std::make_pair(page.back().name(), page.back().step());
  }
  EXPECT_EQ(steps, (std::vector<int64_t>{10, 20, 30, 40, 50}));
  EXPECT_EQ(store->Metrics(trial, "val_loss").value().size(), 0u) << "a name the trial never reported";
}

TEST(Store, AnUpgradeKeepsEveryMetricPointAndNameOfTheOlderLayout) {
  TempDir dir;
  const std::string path = dir / "older.db";
  const std::vector<std::string>& all = SchemaMigrations();
  const auto by_step = std::find_if(all.begin(), all.end(), [](const std::string& migration) {
    return migration.find("CREATE TABLE metrics_by_step") != std::string::npos;
  });
  ASSERT_NE(by_step, all.end());
  {
    // The layout before metrics were clustered by step: the migrations up to that one.
    auto db = Database::Open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Migrate({all.begin(), by_step}).ok());
    ASSERT_TRUE((*db)->Exec("INSERT INTO sweeps (name, state, recipe_yaml, recipe_file, overrides, spec, planned_trials, "
                            "strategy_state, created_at) VALUES ('s', 'running', '', '', '[]', '{}', 1, '{}', 1);"
                            "INSERT INTO trials (sweep_id, number, state, hyperparameters, output_dir, created_at) "
                            "VALUES (1, 0, 'running', '[]', 't0', 1), (1, 1, 'running', '[]', 't1', 1);"
                            "INSERT INTO metrics (trial_id, name, step, value, time) VALUES (1, 'loss', 1, 0.5, 1), "
                            "(1, 'loss', 2, 0.25, 2), (1, 'acc', 2, 0.75, 2), (2, 'lr', 1, 0.125, 1);")
                    .ok());
  }
  auto store = Store::Open(path, "/storage");
  ASSERT_TRUE(store.ok()) << store.status().message();
  std::vector<std::string> points;
  const std::vector<v1::MetricPoint> trial_one_points = (*store)->Metrics(1, "").value();
  for (const v1::MetricPoint& p : trial_one_points)
    points.push_back(std::to_string(p.step()) + " " + p.name() + " " + std::to_string(p.value()));
  EXPECT_EQ(points, (std::vector<std::string>{"1 loss 0.500000", "2 acc 0.750000", "2 loss 0.250000"}));
  EXPECT_EQ((*store)->Metrics(2, "lr").value().size(), 1u);
  EXPECT_EQ((*store)->SweepMetricNames(1).value(), (std::vector<std::string>{"acc", "loss", "lr"}));
}

TEST(Store, OnlySchedulesDueForALookAreReadAndAnyChangeMakesOneDue) {
  TempDir dir;
  auto store = std::move(Store::Open(dir / "s.db", "/storage").value());
  ScheduleSettings settings;
  settings.cron = "0 2 * * *";
  const int64_t early = store->InsertSchedule("early", "ada", settings, 0, 1).value();
  const int64_t late = store->InsertSchedule("late", "ada", settings, 0, 1).value();
  const auto due = [&](int64_t now) {
    std::vector<std::string> names;
    const std::vector<ScheduleRecord> schedules = store->DueSchedules(now).value();
    for (const ScheduleRecord& s : schedules) names.push_back(s.name);
    return names;
  };
  EXPECT_EQ(due(0), (std::vector<std::string>{"early", "late"})) << "new schedules are looked at first";
  ASSERT_TRUE(store->SetScheduleNextCheck(early, 100).ok());
  ASSERT_TRUE(store->SetScheduleNextCheck(late, Store::kNeverCheckAgain).ok());
  EXPECT_TRUE(due(99).empty());
  EXPECT_EQ(due(100), (std::vector<std::string>{"early"}));
  ASSERT_TRUE(store->SetScheduleDueAfter(late, 50).ok());
  EXPECT_EQ(due(99), (std::vector<std::string>{"late"})) << "a handled slot: look again";
  ASSERT_TRUE(store->SetSchedulePaused(late, true).ok());
  EXPECT_TRUE(due(99).empty()) << "a paused schedule is never due";
  ASSERT_TRUE(store->SetSchedulePaused(late, false).ok());
  ASSERT_TRUE(store->SetScheduleNextCheck(late, 500).ok());
  ASSERT_TRUE(store->AddScheduleVersion(late, settings, 60, 2).ok());
  EXPECT_EQ(due(99), (std::vector<std::string>{"late"})) << "a new version: look again";
}

TEST(Store, ObjectiveIsTheValueAtTheLatestStepAndBestFollowsTheMode) {
  TempDir dir;
  auto store = std::move(Store::Open(dir / "s.db", "/storage").value());
  const int64_t sweep = store->InsertSweep(Sweep()).value();
  ASSERT_TRUE(store->InsertTrial(sweep, 0, {}, "a", 1).ok());
  ASSERT_TRUE(store->InsertTrial(sweep, 1, {}, "b", 1).ok());
  const int64_t t0 = store->TrialId(sweep, 0).value(), t1 = store->TrialId(sweep, 1).value();
  ASSERT_TRUE(store->RecordObjective(t0, 20, 0.5).ok());
  ASSERT_TRUE(store->RecordObjective(t0, 10, 0.1).ok());  // older step: ignored
  ASSERT_TRUE(store->RecordObjective(t1, 20, 0.7).ok());
  EXPECT_FALSE(store->BestTrial(sweep, "min").value().has_value());  // neither has completed
  ASSERT_TRUE(store->SetTrialState(t0, "completed", "", 5).ok());
  ASSERT_TRUE(store->SetTrialState(t1, "completed", "", 5).ok());
  EXPECT_EQ(store->BestTrial(sweep, "min").value()->id(), t0);
  EXPECT_DOUBLE_EQ(store->BestTrial(sweep, "min").value()->objective(), 0.5);
  EXPECT_EQ(store->BestTrial(sweep, "max").value()->id(), t1);
}

TEST(Store, PendingTrialsCarryTheSweepsFuseAndAreFreshOnlyBeforeTheirFirstAttempt) {
  TempDir dir;
  auto store = std::move(Store::Open(dir / "s.db", "/storage").value());
  SweepRecord record = Sweep();
  record.spec["fuse"] = 4;
  const int64_t sweep = store->InsertSweep(record).value();
  // The registry champion's evaluation (trial -1) resumes a copied checkpoint: never fused.
  for (int64_t number : {-1, 0, 1}) ASSERT_TRUE(store->InsertTrial(sweep, number, {}, "s-1/t", 1).ok());
  ASSERT_TRUE(store->InsertWorker("host", 4, "cpu", {}, 1).ok());
  ASSERT_TRUE(store->InsertAttempt(store->TrialId(sweep, 1).value(), "w1", "tok", "s-1/t/", 1, 2).ok());
  ASSERT_TRUE(store->RequeueTrial(store->TrialId(sweep, 1).value(), "lost", true).ok());
  const auto pending = store->PendingTrials(10);
  ASSERT_TRUE(pending.ok()) << pending.status().message();
  std::map<int64_t, bool> fresh;
  for (const PendingTrial& trial : *pending) {
    EXPECT_EQ(trial.fuse, 4);
    fresh[trial.trial_id] = trial.fresh;
  }
  ASSERT_EQ(fresh.size(), 3u);
  EXPECT_FALSE(fresh.at(store->TrialId(sweep, -1).value()));
  EXPECT_TRUE(fresh.at(store->TrialId(sweep, 0).value()));
  EXPECT_FALSE(fresh.at(store->TrialId(sweep, 1).value())) << "a requeued trial resumes its own checkpoint";
}

TEST(Store, AttemptsAreNumberedPerTrialAndHoldTheirSlots) {
  TempDir dir;
  auto store = std::move(Store::Open(dir / "s.db", "/storage").value());
  SweepRecord record = Sweep();
  const int64_t sweep = store->InsertSweep(record).value();
  ASSERT_TRUE(store->InsertTrial(sweep, 0, {}, "s-1/trial-0", 1).ok());
  const int64_t trial = store->TrialId(sweep, 0).value();
  ASSERT_TRUE(store->InsertWorker("host", 4, "cpu", {}, 1).ok());
  auto first = store->InsertAttempt(trial, "w1", "tok", "s-1/trial-0/", 2, 2);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->number, 1);
  EXPECT_EQ(first->log_path, "s-1/trial-0/attempt-1.log");
  EXPECT_EQ(store->BusySlots("w1").value(), 2);
  ASSERT_TRUE(store->EndAttempt(first->id, "exited", 1, 0, "boom", 3).ok());
  EXPECT_EQ(store->BusySlots("w1").value(), 0);
  // A trial that shares a GPU holds its fraction of one.
  auto second = store->InsertAttempt(trial, "w1", "tok2", "s-1/trial-0/", 0.5, 4);
  EXPECT_EQ(second->number, 2);
  EXPECT_EQ(store->BusySlots("w1").value(), 0.5);
  EXPECT_EQ(store->TrialAttempts(trial).value()[1].slots, 0.5);
  EXPECT_EQ(store->AttemptLogPath(trial, 0).value(), "s-1/trial-0/attempt-2.log");
  EXPECT_EQ(store->AttemptLogPath(trial, 1).value(), "s-1/trial-0/attempt-1.log");
  EXPECT_EQ(store->AttemptLogPath(trial, 3).status().code(), StatusCode::kNotFound);
}

// A fused group holds one slot, on its first member's attempt. When that member ends early (its
// strategy stopped it) while the others train on in the same trainer, the slot passes to the oldest
// member still running, so the worker's busy slots stay what its trainer holds.
TEST(Store, AFusedGroupsSlotPassesToAMemberStillRunning) {
  TempDir dir;
  auto store = std::move(Store::Open(dir / "s.db", "/storage").value());
  SweepRecord record = Sweep();
  const int64_t sweep = store->InsertSweep(record).value();
  ASSERT_TRUE(store->InsertWorker("host", 4, "cpu", {}, 1).ok());
  std::vector<int64_t> attempts;
  for (int64_t number = 0; number < 3; ++number) {
    const std::string dir_name = "s-1/trial-" + std::to_string(number);
    ASSERT_TRUE(store->InsertTrial(sweep, number, {}, dir_name, 1).ok());
    auto attempt = store->InsertAttempt(store->TrialId(sweep, number).value(), "w1", "tok" + std::to_string(number),
                                        dir_name + "/", number == 0 ? 1 : 0, 2);
    ASSERT_TRUE(attempt.ok()) << attempt.status().message();
    attempts.push_back(attempt->id);
    if (number > 0) {
      ASSERT_TRUE(store->JoinFusedGroup(attempt->id, attempts.front()).ok());
    }
  }
  // A lone attempt on the same worker is not part of any group.
  ASSERT_TRUE(store->InsertTrial(sweep, 3, {}, "s-1/trial-3", 1).ok());
  ASSERT_TRUE(store->InsertAttempt(store->TrialId(sweep, 3).value(), "w1", "tok3", "s-1/trial-3/", 1, 2).ok());
  EXPECT_EQ(store->BusySlots("w1").value(), 2);
  ASSERT_TRUE(store->EndAttempt(attempts[0], "exited", 4, 0, "stopped", 3).ok());
  EXPECT_EQ(store->BusySlots("w1").value(), 2) << "the group still trains on its slot";
  ASSERT_TRUE(store->EndAttempt(attempts[2], "exited", 0, 0, "", 4).ok());
  EXPECT_EQ(store->BusySlots("w1").value(), 2) << "a member without the slot leaves it where it is";
  ASSERT_TRUE(store->EndAttempt(attempts[1], "exited", 0, 0, "", 5).ok());
  EXPECT_EQ(store->BusySlots("w1").value(), 1) << "the last member gives the group's slot back; the lone trial keeps its own";
}

}  // namespace
}  // namespace orchard::coordinator
