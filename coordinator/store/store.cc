#include "coordinator/store/store.h"

#include <limits>

#include "coordinator/store/schema.h"
#include "coordinator/store/store_json.h"
#include "orchard/v1/state_names.h"

namespace orchard::coordinator {

StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path, const std::string& storage_root,
                                             const SchemaUpgradeNotice& before_upgrade) {
  ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path));
  RETURN_IF_ERROR(db->Migrate(SchemaMigrations(), before_upgrade));
  return std::unique_ptr<Store>(new Store(std::move(db), storage_root));
}

// ---- sweeps ----

StatusOr<int64_t> Store::InsertSweep(const SweepRecord& sweep) {
  Statement insert = db_->Prepare(
      "INSERT INTO sweeps (name, state, recipe_yaml, recipe_file, overrides, spec, planned_trials, strategy_state, "
      "created_at, owner, schedule, model, promotion_margin, evaluated_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert.Bind(1, sweep.name).Bind(2, sweep.state).Bind(3, sweep.recipe_yaml).Bind(4, sweep.recipe_file);
  insert.Bind(5, nlohmann::json(sweep.overrides).dump()).Bind(6, sweep.spec.dump());
  insert.Bind(7, sweep.planned_trials).Bind(8, sweep.strategy_state.dump()).Bind(9, sweep.created_at);
  insert.Bind(10, sweep.owner).Bind(11, sweep.schedule).Bind(12, sweep.model).Bind(13, sweep.promotion_margin);
  insert.Bind(14, sweep.evaluated_version);
  RETURN_IF_ERROR(insert.Run());
  return db_->LastInsertId();
}

StatusOr<SweepRecord> Store::LoadSweep(int64_t sweep_id) {
  Statement row = db_->Prepare(
      "SELECT id, name, state, recipe_yaml, recipe_file, overrides, spec, planned_trials, strategy_state, created_at, "
      "finished_at, owner, schedule, model, promotion_margin, evaluated_version, search_outcome FROM sweeps WHERE id = ?");
  row.Bind(1, sweep_id);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found) {
    return NotFound("sweep " + std::to_string(sweep_id) + " does not exist (orchard sweeps lists them)");
  }
  SweepRecord sweep;
  sweep.id = row.Int(0);
  sweep.name = row.Text(1);
  sweep.state = row.Text(2);
  sweep.recipe_yaml = row.Text(3);
  sweep.recipe_file = row.Text(4);
  sweep.overrides = ParseJson(row.Text(5)).get<std::vector<std::string>>();
  sweep.spec = ParseJson(row.Text(6));
  sweep.planned_trials = row.Int(7);
  sweep.strategy_state = ParseJson(row.Text(8));
  sweep.created_at = row.Double(9);
  sweep.finished_at = row.Double(10);
  sweep.owner = row.Text(11);
  sweep.schedule = row.Text(12);
  sweep.model = row.Text(13);
  sweep.promotion_margin = row.Double(14);
  sweep.evaluated_version = row.Int(15);
  sweep.search_outcome = row.Text(16);
  return sweep;
}

StatusOr<std::vector<int64_t>> Store::RunningSweepIds() {
  Statement rows = db_->Prepare("SELECT id FROM sweeps WHERE state = 'running' ORDER BY id");
  std::vector<int64_t> ids;
  RETURN_IF_ERROR(rows.ForEachRow([&] { ids.push_back(rows.Int(0)); }));
  return ids;
}

Status Store::SaveStrategyState(int64_t sweep_id, const nlohmann::json& state) {
  return db_->Prepare("UPDATE sweeps SET strategy_state = ? WHERE id = ?").Bind(1, state.dump()).Bind(2, sweep_id).Run();
}

Status Store::SetSearchOutcome(int64_t sweep_id, const std::string& state) {
  return db_->Prepare("UPDATE sweeps SET search_outcome = ? WHERE id = ?").Bind(1, state).Bind(2, sweep_id).Run();
}

Status Store::FinishSweep(int64_t sweep_id, const std::string& state, double now) {
  return db_->Prepare("UPDATE sweeps SET state = ?, finished_at = ? WHERE id = ?")
      .Bind(1, state).Bind(2, now).Bind(3, sweep_id).Run();
}

StatusOr<v1::Sweep> Store::GetSweep(int64_t sweep_id) {
  ASSIGN_OR_RETURN(SweepRecord record, LoadSweep(sweep_id));
  v1::Sweep sweep;
  sweep.set_id(record.id);
  sweep.set_name(record.name);
  sweep.set_state(v1::SweepStateFromName(record.state));
  sweep.set_strategy(record.spec.value("strategy", ""));
  sweep.set_metric(record.spec.value("metric", ""));
  sweep.set_mode(record.spec.value("mode", ""));
  sweep.set_max_trials(record.spec.value("max_trials", int64_t{0}));
  sweep.set_max_concurrent(record.spec.value("max_concurrent", int64_t{0}));
  sweep.set_ranks(record.spec.value("ranks", int64_t{1}));
  sweep.set_created_at(record.created_at);
  sweep.set_recipe_file(record.recipe_file);
  sweep.set_storage_root(storage_root_);
  sweep.set_finished_at(record.finished_at);
  sweep.set_owner(record.owner);
  sweep.set_schedule(record.schedule);
  sweep.set_model(record.model);
  Statement counts = db_->Prepare("SELECT state, COUNT(*) FROM trials WHERE sweep_id = ? AND number >= 0 GROUP BY state");
  counts.Bind(1, sweep_id);
  int64_t created = 0;
  RETURN_IF_ERROR(counts.ForEachRow([&] {
    (*sweep.mutable_trials_by_state())[counts.Text(0)] = counts.Int(1);
    created += counts.Int(1);
  }));
  sweep.set_trials_total(std::max(created, record.planned_trials));
  Statement usage = db_->Prepare(
      "SELECT COALESCE(SUM(CASE WHEN a.ended_at > 0 THEN a.slots * (a.ended_at - a.started_at) ELSE 0 END), 0), "
      "COALESCE(SUM(a.cpu_seconds), 0) FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE t.sweep_id = ?");
  usage.Bind(1, sweep_id);
  ASSIGN_OR_RETURN(const bool usage_found, usage.Next());
  if (usage_found) {
    sweep.set_slot_seconds(usage.Double(0));
    sweep.set_cpu_seconds(usage.Double(1));
  }
  Statement waiting = db_->Prepare(
      "SELECT COUNT(*), MIN(waiting_reason) FROM trials WHERE sweep_id = ? AND state = 'pending' AND waiting_reason != ''");
  waiting.Bind(1, sweep_id);
  ASSIGN_OR_RETURN(const bool waiting_found, waiting.Next());
  if (waiting_found && waiting.Int(0) > 0)
    sweep.set_waiting(std::to_string(waiting.Int(0)) + (waiting.Int(0) == 1 ? " trial: " : " trials: ") + waiting.Text(1));
  ASSIGN_OR_RETURN(const std::optional<v1::Trial> best, BestTrial(sweep_id, sweep.mode()));
  if (best) *sweep.mutable_best_trial() = *best;
  return sweep;
}

StatusOr<std::vector<v1::Sweep>> Store::ListSweeps(int64_t limit, const std::optional<std::string>& owner,
                                                   std::optional<int64_t> before_id) {
  Statement rows = db_->Prepare(owner ? "SELECT id FROM sweeps WHERE owner = ? AND id < ? ORDER BY id DESC LIMIT ?"
                                      : "SELECT id FROM sweeps WHERE id < ? ORDER BY id DESC LIMIT ?");
  const int64_t below = before_id.value_or(std::numeric_limits<int64_t>::max());
  if (owner) rows.Bind(1, *owner).Bind(2, below).Bind(3, limit);
  else rows.Bind(1, below).Bind(2, limit);
  std::vector<int64_t> ids;
  RETURN_IF_ERROR(rows.ForEachRow([&] { ids.push_back(rows.Int(0)); }));
  std::vector<v1::Sweep> sweeps;
  for (int64_t id : ids) {
    ASSIGN_OR_RETURN(v1::Sweep sweep, GetSweep(id));
    sweeps.push_back(std::move(sweep));
  }
  return sweeps;
}

// ---- events ----

Status Store::AddEvent(int64_t sweep_id, double now, const std::string& message) {
  return db_->Prepare("INSERT INTO events (sweep_id, time, message) VALUES (?, ?, ?)")
      .Bind(1, sweep_id).Bind(2, now).Bind(3, message).Run();
}

StatusOr<std::vector<EventRecord>> Store::EventsAfter(int64_t sweep_id, int64_t after_id) {
  Statement rows = db_->Prepare("SELECT id, time, message FROM events WHERE sweep_id = ? AND id > ? ORDER BY id");
  rows.Bind(1, sweep_id).Bind(2, after_id);
  std::vector<EventRecord> events;
  RETURN_IF_ERROR(rows.ForEachRow([&] { events.push_back({rows.Int(0), rows.Double(1), rows.Text(2)}); }));
  return events;
}

}  // namespace orchard::coordinator
