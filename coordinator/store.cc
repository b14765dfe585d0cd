#include "coordinator/store.h"

#include "coordinator/store_json.h"
#include "orchard/v1/state_names.h"

namespace orchard::coordinator {

const std::vector<std::string>& SchemaMigrations() {
  static const std::vector<std::string> migrations = {
      // 1: the initial schema.
      R"sql(
CREATE TABLE sweeps (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  recipe_yaml TEXT NOT NULL,
  recipe_file TEXT NOT NULL,
  overrides TEXT NOT NULL,
  spec TEXT NOT NULL,
  planned_trials INTEGER NOT NULL,
  strategy_state TEXT NOT NULL,
  created_at REAL NOT NULL,
  finished_at REAL NOT NULL DEFAULT 0);
CREATE TABLE trials (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sweep_id INTEGER NOT NULL REFERENCES sweeps(id),
  number INTEGER NOT NULL,
  state TEXT NOT NULL,
  hyperparameters TEXT NOT NULL,
  output_dir TEXT NOT NULL,
  objective REAL,
  objective_step INTEGER NOT NULL DEFAULT 0,
  last_step INTEGER NOT NULL DEFAULT 0,
  checkpoint TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL,
  started_at REAL NOT NULL DEFAULT 0,
  finished_at REAL NOT NULL DEFAULT 0,
  UNIQUE (sweep_id, number));
CREATE INDEX trials_by_state ON trials(state, sweep_id, number);
CREATE TABLE workers (
  id TEXT PRIMARY KEY,
  hostname TEXT NOT NULL,
  slots INTEGER NOT NULL,
  slot_kind TEXT NOT NULL,
  alive INTEGER NOT NULL,
  registered_at REAL NOT NULL,
  last_heartbeat REAL NOT NULL);
CREATE TABLE attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  number INTEGER NOT NULL,
  worker_id TEXT NOT NULL REFERENCES workers(id),
  token TEXT NOT NULL,
  state TEXT NOT NULL,
  stop_reason TEXT NOT NULL DEFAULT '',
  slots INTEGER NOT NULL,
  exit_code INTEGER NOT NULL DEFAULT -1,
  signal INTEGER NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '',
  log_path TEXT NOT NULL,
  started_at REAL NOT NULL,
  ended_at REAL NOT NULL DEFAULT 0,
  UNIQUE (trial_id, number));
CREATE INDEX attempts_by_worker ON attempts(worker_id, state);
CREATE TABLE metrics (
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  name TEXT NOT NULL,
  step INTEGER NOT NULL,
  value REAL NOT NULL,
  time REAL NOT NULL,
  PRIMARY KEY (trial_id, name, step)) WITHOUT ROWID;
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sweep_id INTEGER NOT NULL REFERENCES sweeps(id),
  time REAL NOT NULL,
  message TEXT NOT NULL);
CREATE INDEX events_by_sweep ON events(sweep_id, id);
)sql",
      // 2: fault tolerance: a trial counts its restarts (crashes and lost workers) against max_restarts.
      R"sql(
ALTER TABLE trials ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
)sql",
      // 3: security: users and their tokens, sweep owners, and attempt tokens kept only as SHA-256
      // hashes. The plaintext attempt tokens are dropped, so attempts running across this upgrade
      // can no longer report metrics (their exits are still recorded); drain workers before it.
      R"sql(
CREATE TABLE users (
  name TEXT PRIMARY KEY,
  is_admin INTEGER NOT NULL,
  created_at REAL NOT NULL);
CREATE TABLE tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  hash TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  user_name TEXT REFERENCES users(name),
  created_at REAL NOT NULL,
  revoked_at REAL NOT NULL DEFAULT 0);
ALTER TABLE sweeps ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
CREATE INDEX sweeps_by_owner ON sweeps(owner, id);
ALTER TABLE attempts RENAME COLUMN token TO token_hash;
UPDATE attempts SET token_hash = '';
)sql",
      // 4: adaptive search: the strategy's latest decision and rung per trial, and PBT lineage (a
      // JSON list of hops: step, parent, hyperparameters, time).
      R"sql(
ALTER TABLE trials ADD COLUMN rung INTEGER NOT NULL DEFAULT -1;
ALTER TABLE trials ADD COLUMN decision TEXT NOT NULL DEFAULT '';
ALTER TABLE trials ADD COLUMN lineage TEXT NOT NULL DEFAULT '[]';
)sql",
      // 5: schedules (issue #8): a cron expression in a zone that submits a stored recipe. Settings
      // change only by new versions; every slot handled (or run-now) is a numbered run, which names
      // the sweep it submitted or says why it was skipped or failed. A sweep names its schedule.
      R"sql(
CREATE TABLE schedules (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  version INTEGER NOT NULL,
  paused INTEGER NOT NULL DEFAULT 0,
  due_after INTEGER NOT NULL,
  created_at REAL NOT NULL);
CREATE TABLE schedule_versions (
  schedule_id INTEGER NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  cron TEXT NOT NULL,
  time_zone TEXT NOT NULL,
  recipe_yaml TEXT NOT NULL,
  recipe_file TEXT NOT NULL,
  overrides TEXT NOT NULL,
  overlap TEXT NOT NULL,
  model TEXT NOT NULL,
  promotion_margin REAL NOT NULL,
  created_at REAL NOT NULL,
  PRIMARY KEY (schedule_id, version));
CREATE TABLE schedule_runs (
  schedule_id INTEGER NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
  number INTEGER NOT NULL,
  version INTEGER NOT NULL,
  fired_by TEXT NOT NULL,
  slot INTEGER NOT NULL,
  fired_at REAL NOT NULL,
  missed INTEGER NOT NULL,
  sweep_id INTEGER REFERENCES sweeps(id),
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (schedule_id, number));
ALTER TABLE sweeps ADD COLUMN schedule TEXT NOT NULL DEFAULT '';
)sql",
      // 6: the model registry: models and their champion, versions (a trial's checkpoint copied into
      // registry/<model>/v<version>/ with its recipe), every decision about a champion with both
      // figures, and what a sweep challenges. A sweep's trial number -1 evaluates the champion.
      R"sql(
CREATE TABLE models (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  champion INTEGER NOT NULL DEFAULT 0,
  created_at REAL NOT NULL);
CREATE INDEX models_by_owner ON models(owner, name);
CREATE TABLE model_versions (
  model TEXT NOT NULL REFERENCES models(name),
  version INTEGER NOT NULL,
  metric TEXT NOT NULL,
  mode TEXT NOT NULL,
  value REAL,
  recipe_name TEXT NOT NULL,
  recipe_file TEXT NOT NULL,
  recipe_yaml TEXT NOT NULL,
  hyperparameters TEXT NOT NULL,
  data TEXT NOT NULL,
  sweep_id INTEGER NOT NULL REFERENCES sweeps(id),
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  trial_number INTEGER NOT NULL,
  directory TEXT NOT NULL,
  checkpoint TEXT NOT NULL,
  step INTEGER NOT NULL,
  created_at REAL NOT NULL,
  PRIMARY KEY (model, version)) WITHOUT ROWID;
CREATE TABLE model_decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  model TEXT NOT NULL REFERENCES models(name),
  kind TEXT NOT NULL,
  time REAL NOT NULL,
  decided_by TEXT NOT NULL,
  sweep_id INTEGER NOT NULL DEFAULT 0,
  trial_id INTEGER NOT NULL DEFAULT 0,
  trial_number INTEGER NOT NULL DEFAULT 0,
  metric TEXT NOT NULL,
  mode TEXT NOT NULL,
  margin REAL NOT NULL DEFAULT 0,
  challenger_value REAL,
  champion_version INTEGER NOT NULL DEFAULT 0,
  champion_value REAL,
  promoted INTEGER NOT NULL,
  new_champion INTEGER NOT NULL DEFAULT 0,
  reason TEXT NOT NULL);
CREATE INDEX model_decisions_by_model ON model_decisions(model, id);
ALTER TABLE sweeps ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE sweeps ADD COLUMN promotion_margin REAL NOT NULL DEFAULT 0;
ALTER TABLE sweeps ADD COLUMN evaluated_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sweeps ADD COLUMN search_outcome TEXT NOT NULL DEFAULT '';
)sql",
  };
  return migrations;
}

namespace {

constexpr const char* kTrialColumns =
    "t.id, t.sweep_id, t.number, t.state, t.hyperparameters, t.objective, t.objective_step, t.last_step, "
    "t.checkpoint, t.message, t.output_dir, t.started_at, t.finished_at, "
    "(SELECT COUNT(*) FROM attempts a WHERE a.trial_id = t.id), "
    "(SELECT worker_id FROM attempts a WHERE a.trial_id = t.id ORDER BY a.number DESC LIMIT 1), "
    "(SELECT exit_code FROM attempts a WHERE a.trial_id = t.id ORDER BY a.number DESC LIMIT 1), t.restarts, "
    "t.rung, t.decision, t.lineage ";

}  // namespace

StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path, const std::string& storage_root) {
  ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path));
  RETURN_IF_ERROR(db->Migrate(SchemaMigrations()));
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
  if (!row.Step()) {
    RETURN_IF_ERROR(row.status());
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

std::vector<int64_t> Store::RunningSweepIds() {
  Statement rows = db_->Prepare("SELECT id FROM sweeps WHERE state = 'running' ORDER BY id");
  std::vector<int64_t> ids;
  while (rows.Step()) ids.push_back(rows.Int(0));
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
  while (counts.Step()) {
    (*sweep.mutable_trials_by_state())[counts.Text(0)] = counts.Int(1);
    created += counts.Int(1);
  }
  sweep.set_trials_total(std::max(created, record.planned_trials));
  if (auto best = BestTrial(sweep_id, sweep.mode())) *sweep.mutable_best_trial() = *best;
  return sweep;
}

std::vector<v1::Sweep> Store::ListSweeps(int64_t limit, const std::optional<std::string>& owner) {
  Statement rows = db_->Prepare(owner ? "SELECT id FROM sweeps WHERE owner = ? ORDER BY id DESC LIMIT ?"
                                      : "SELECT id FROM sweeps ORDER BY id DESC LIMIT ?");
  if (owner) rows.Bind(1, *owner).Bind(2, limit);
  else rows.Bind(1, limit);
  std::vector<int64_t> ids;
  while (rows.Step()) ids.push_back(rows.Int(0));
  std::vector<v1::Sweep> sweeps;
  for (int64_t id : ids)
    if (auto sweep = GetSweep(id); sweep.ok()) sweeps.push_back(*std::move(sweep));
  return sweeps;
}

std::optional<v1::Trial> Store::BestTrial(int64_t sweep_id, const std::string& mode) {
  Statement row = db_->Prepare(std::string("SELECT ") + kTrialColumns +
                               "FROM trials t WHERE t.sweep_id = ? AND t.number >= 0 AND t.objective IS NOT NULL AND "
                               "t.state IN ('completed', 'stopped') ORDER BY t.objective " +
                               (mode == "max" ? "DESC" : "ASC") + ", t.number LIMIT 1");
  row.Bind(1, sweep_id);
  if (!row.Step()) return std::nullopt;
  return ReadTrial(row);
}

// ---- trials ----

Status Store::InsertTrial(int64_t sweep_id, int64_t number, const std::vector<Hyperparameter>& hyperparameters,
                          const std::string& output_dir, double now) {
  return db_->Prepare(
                "INSERT INTO trials (sweep_id, number, state, hyperparameters, output_dir, created_at) "
                "VALUES (?, ?, 'pending', ?, ?, ?)")
      .Bind(1, sweep_id).Bind(2, number).Bind(3, HyperparametersJson(hyperparameters).dump()).Bind(4, output_dir)
      .Bind(5, now).Run();
}

v1::Trial Store::ReadTrial(const Statement& row) {
  v1::Trial trial;
  trial.set_id(row.Int(0));
  trial.set_sweep_id(row.Int(1));
  trial.set_number(row.Int(2));
  trial.set_state(v1::TrialStateFromName(row.Text(3)));
  ReadHyperparameters(ParseJson(row.Text(4)), trial.mutable_hyperparameters());
  if (!row.IsNull(5)) {
    trial.set_has_objective(true);
    trial.set_objective(row.Double(5));
    trial.set_objective_step(row.Int(6));
  }
  trial.set_last_step(row.Int(7));
  trial.set_checkpoint(row.Text(8));
  trial.set_message(row.Text(9));
  trial.set_output_dir(row.Text(10));
  trial.set_started_at(row.Double(11));
  trial.set_finished_at(row.Double(12));
  trial.set_attempts(row.Int(13));
  trial.set_worker_id(row.Text(14));
  trial.set_exit_code(row.IsNull(15) ? -1 : row.Int(15));
  trial.set_restarts(row.Int(16));
  trial.set_rung(row.Int(17));
  trial.set_decision(row.Text(18));
  for (const auto& hop : ParseJson(row.Text(19))) {
    v1::LineageHop* h = trial.add_lineage();
    h->set_step(hop.value("step", int64_t{0}));
    h->set_parent(hop.value("parent", int64_t{-1}));
    h->set_time(hop.value("time", 0.0));
    ReadHyperparameters(hop.value("hyperparameters", nlohmann::json::array()), h->mutable_hyperparameters());
  }
  return trial;
}

StatusOr<v1::Trial> Store::GetTrial(int64_t trial_id) {
  Statement row = db_->Prepare(std::string("SELECT ") + kTrialColumns + "FROM trials t WHERE t.id = ?");
  row.Bind(1, trial_id);
  if (!row.Step()) return NotFound("trial " + std::to_string(trial_id) + " does not exist (orchard trials SWEEP lists them)");
  return ReadTrial(row);
}

StatusOr<std::string> Store::TrialOwner(int64_t trial_id) {
  Statement row = db_->Prepare("SELECT s.owner FROM trials t JOIN sweeps s ON s.id = t.sweep_id WHERE t.id = ?");
  row.Bind(1, trial_id);
  if (!row.Step()) return NotFound("trial " + std::to_string(trial_id) + " does not exist (orchard trials SWEEP lists them)");
  return row.Text(0);
}

StatusOr<int64_t> Store::TrialId(int64_t sweep_id, int64_t number) {
  Statement row = db_->Prepare("SELECT id FROM trials WHERE sweep_id = ? AND number = ?");
  row.Bind(1, sweep_id).Bind(2, number);
  if (!row.Step()) return NotFound("sweep " + std::to_string(sweep_id) + " has no trial number " + std::to_string(number));
  return row.Int(0);
}

std::vector<v1::Trial> Store::ListTrials(int64_t sweep_id) {
  Statement rows = db_->Prepare(std::string("SELECT ") + kTrialColumns + "FROM trials t WHERE t.sweep_id = ? ORDER BY t.number");
  rows.Bind(1, sweep_id);
  std::vector<v1::Trial> trials;
  while (rows.Step()) trials.push_back(ReadTrial(rows));
  return trials;
}

Status Store::SetTrialState(int64_t trial_id, const std::string& state, const std::string& message, double now) {
  const bool final = state != "pending" && state != "running" && state != "paused";
  return db_->Prepare(
                "UPDATE trials SET state = ?, message = ?, "
                "started_at = CASE WHEN ? = 'running' THEN ? ELSE started_at END, "
                "finished_at = CASE WHEN ? THEN ? ELSE finished_at END WHERE id = ?")
      .Bind(1, state).Bind(2, message).Bind(3, state).Bind(4, now).Bind(5, final ? 1 : 0).Bind(6, now)
      .Bind(7, trial_id).Run();
}

std::vector<PendingTrial> Store::PendingTrials(int64_t limit) {
  Statement rows = db_->Prepare(
      "SELECT t.id, t.sweep_id, s.spec FROM trials t JOIN sweeps s ON s.id = t.sweep_id "
      "WHERE t.state = 'pending' AND s.state = 'running' ORDER BY t.sweep_id, t.number LIMIT ?");
  rows.Bind(1, limit);
  std::vector<PendingTrial> pending;
  std::map<int64_t, int64_t> ranks;
  while (rows.Step()) {
    const int64_t sweep_id = rows.Int(1);
    if (!ranks.count(sweep_id)) ranks[sweep_id] = ParseJson(rows.Text(2)).value("ranks", int64_t{1});
    pending.push_back({rows.Int(0), sweep_id, ranks[sweep_id]});
  }
  return pending;
}

std::vector<int64_t> Store::PendingTrialIds(int64_t sweep_id) {
  Statement rows = db_->Prepare("SELECT id FROM trials WHERE sweep_id = ? AND state = 'pending' ORDER BY number");
  rows.Bind(1, sweep_id);
  std::vector<int64_t> ids;
  while (rows.Step()) ids.push_back(rows.Int(0));
  return ids;
}

std::map<int64_t, int64_t> Store::RunningTrialsBySweep() {
  Statement rows = db_->Prepare("SELECT sweep_id, COUNT(*) FROM trials WHERE state = 'running' GROUP BY sweep_id");
  std::map<int64_t, int64_t> running;
  while (rows.Step()) running[rows.Int(0)] = rows.Int(1);
  return running;
}

Status Store::RequeueTrial(int64_t trial_id, const std::string& message, bool counts_as_restart) {
  return db_->Prepare("UPDATE trials SET state = 'pending', message = ?, restarts = restarts + ? WHERE id = ?")
      .Bind(1, message).Bind(2, int64_t{counts_as_restart ? 1 : 0}).Bind(3, trial_id).Run();
}

Status Store::RecordDecision(int64_t trial_id, const std::string& decision, int64_t rung) {
  return db_->Prepare("UPDATE trials SET decision = ?, rung = CASE WHEN ? >= 0 THEN ? ELSE rung END WHERE id = ?")
      .Bind(1, decision).Bind(2, rung).Bind(3, rung).Bind(4, trial_id).Run();
}

Status Store::SetTrialHyperparameters(int64_t trial_id, const std::vector<Hyperparameter>& hyperparameters) {
  return db_->Prepare("UPDATE trials SET hyperparameters = ? WHERE id = ?")
      .Bind(1, HyperparametersJson(hyperparameters).dump()).Bind(2, trial_id).Run();
}

Status Store::AppendLineage(int64_t trial_id, int64_t step, int64_t parent,
                            const std::vector<Hyperparameter>& hyperparameters, double now) {
  const nlohmann::json hop = {{"step", step}, {"parent", parent}, {"hyperparameters", HyperparametersJson(hyperparameters)},
                              {"time", now}};
  return db_->Prepare("UPDATE trials SET lineage = json_insert(lineage, '$[#]', json(?)) WHERE id = ?")
      .Bind(1, hop.dump()).Bind(2, trial_id).Run();
}

Status Store::RecordObjective(int64_t trial_id, int64_t step, double value) {
  // The objective is the value at the latest step reported, so a re-sent older point cannot win.
  return db_->Prepare(
                "UPDATE trials SET objective = ?, objective_step = ? WHERE id = ? AND "
                "(objective IS NULL OR objective_step <= ?)")
      .Bind(1, value).Bind(2, step).Bind(3, trial_id).Bind(4, step).Run();
}

Status Store::RewindTrial(int64_t trial_id, int64_t step) {
  return db_->Prepare("UPDATE trials SET last_step = ?, objective_step = MIN(objective_step, ?) WHERE id = ?")
      .Bind(1, step).Bind(2, step).Bind(3, trial_id).Run();
}

Status Store::RecordLastStep(int64_t trial_id, int64_t step) {
  return db_->Prepare("UPDATE trials SET last_step = MAX(last_step, ?) WHERE id = ?").Bind(1, step).Bind(2, trial_id).Run();
}

Status Store::RecordCheckpoint(int64_t trial_id, const std::string& path) {
  return db_->Prepare("UPDATE trials SET checkpoint = ? WHERE id = ?").Bind(1, path).Bind(2, trial_id).Run();
}

// ---- attempts ----

namespace {
constexpr const char* kAttemptColumns =
    "a.id, a.trial_id, t.sweep_id, t.number, a.number, a.worker_id, a.token_hash, a.state, a.stop_reason, "
    "a.log_path, a.started_at FROM attempts a JOIN trials t ON t.id = a.trial_id ";

AttemptRecord ReadAttempt(const Statement& row) {
  return {row.Int(0),  row.Int(1),  row.Int(2),  row.Int(3),  row.Int(4),     row.Text(5),
          row.Text(6), row.Text(7), row.Text(8), row.Text(9), row.Double(10)};
}
}  // namespace

StatusOr<AttemptRecord> Store::InsertAttempt(int64_t trial_id, const std::string& worker_id, const std::string& token_hash,
                                             const std::string& log_path_prefix, double now) {
  Statement next = db_->Prepare(
      "SELECT COALESCE(MAX(a.number), 0) + 1, (SELECT spec FROM sweeps s JOIN trials t ON t.sweep_id = s.id "
      "WHERE t.id = ?) FROM attempts a WHERE a.trial_id = ?");
  next.Bind(1, trial_id).Bind(2, trial_id);
  if (!next.Step()) return Internal("cannot number the next attempt of trial " + std::to_string(trial_id));
  const int64_t number = next.Int(0);
  const int64_t slots = ParseJson(next.Text(1)).value("ranks", int64_t{1});
  RETURN_IF_ERROR(db_->Prepare(
                         "INSERT INTO attempts (trial_id, number, worker_id, token_hash, state, slots, log_path, started_at) "
                         "VALUES (?, ?, ?, ?, 'running', ?, ?, ?)")
                      .Bind(1, trial_id).Bind(2, number).Bind(3, worker_id).Bind(4, token_hash).Bind(5, slots)
                      .Bind(6, log_path_prefix + "attempt-" + std::to_string(number) + ".log").Bind(7, now)
                      .Run());
  return LoadAttempt(db_->LastInsertId());
}

StatusOr<AttemptRecord> Store::LoadAttempt(int64_t attempt_id) {
  Statement row = db_->Prepare(std::string("SELECT ") + kAttemptColumns + "WHERE a.id = ?");
  row.Bind(1, attempt_id);
  if (!row.Step()) return NotFound("attempt " + std::to_string(attempt_id) + " does not exist");
  return ReadAttempt(row);
}

std::vector<AttemptRecord> Store::ActiveAttempts(const std::string& worker_id) {
  Statement rows = db_->Prepare(std::string("SELECT ") + kAttemptColumns +
                                "WHERE a.worker_id = ? AND a.state IN ('running', 'stopping') ORDER BY a.id");
  rows.Bind(1, worker_id);
  std::vector<AttemptRecord> attempts;
  while (rows.Step()) attempts.push_back(ReadAttempt(rows));
  return attempts;
}

std::optional<AttemptRecord> Store::ActiveAttemptOfTrial(int64_t trial_id) {
  Statement row = db_->Prepare(std::string("SELECT ") + kAttemptColumns + "WHERE a.trial_id = ? AND a.state IN ('running', 'stopping')");
  row.Bind(1, trial_id);
  if (!row.Step()) return std::nullopt;
  return ReadAttempt(row);
}

Status Store::SetAttemptStopping(int64_t attempt_id, const std::string& stop_reason) {
  // A pause is the mildest request: a stop or a cancel overrides it.
  return db_->Prepare(
                "UPDATE attempts SET state = 'stopping', stop_reason = ? WHERE id = ? AND "
                "(state = 'running' OR (state = 'stopping' AND stop_reason = 'paused'))")
      .Bind(1, stop_reason).Bind(2, attempt_id).Run();
}

Status Store::EndAttempt(int64_t attempt_id, const std::string& state, int64_t exit_code, int64_t signal,
                         const std::string& reason, double now) {
  return db_->Prepare("UPDATE attempts SET state = ?, exit_code = ?, signal = ?, reason = ?, ended_at = ? WHERE id = ?")
      .Bind(1, state).Bind(2, exit_code).Bind(3, signal).Bind(4, reason).Bind(5, now).Bind(6, attempt_id).Run();
}

std::vector<AttemptSpan> Store::AttemptSpans(int64_t sweep_id) {
  Statement rows = db_->Prepare(
      "SELECT t.number, a.number, a.state, a.started_at, a.ended_at, a.log_path FROM attempts a "
      "JOIN trials t ON t.id = a.trial_id WHERE t.sweep_id = ? ORDER BY t.number, a.number");
  rows.Bind(1, sweep_id);
  std::vector<AttemptSpan> spans;
  while (rows.Step())
    spans.push_back({rows.Int(0), rows.Int(1), rows.Text(2), rows.Double(3), rows.Double(4), rows.Text(5)});
  return spans;
}

StatusOr<std::string> Store::AttemptLogPath(int64_t trial_id, int64_t number) {
  Statement row = db_->Prepare(number > 0 ? "SELECT log_path FROM attempts WHERE trial_id = ? AND number = ?"
                                          : "SELECT log_path FROM attempts WHERE trial_id = ? ORDER BY number DESC LIMIT 1");
  row.Bind(1, trial_id);
  if (number > 0) row.Bind(2, number);
  if (!row.Step())
    return NotFound("trial " + std::to_string(trial_id) +
                    (number > 0 ? " has no attempt " + std::to_string(number) : " has not started yet, so it has no log"));
  return row.Text(0);
}

// ---- metrics ----

Status Store::InsertMetrics(int64_t trial_id, const std::vector<v1::MetricPoint>& points) {
  Statement insert = db_->Prepare("INSERT OR REPLACE INTO metrics (trial_id, name, step, value, time) VALUES (?, ?, ?, ?, ?)");
  for (const v1::MetricPoint& p : points) {
    insert.Bind(1, trial_id).Bind(2, p.name()).Bind(3, p.step()).Bind(4, p.value()).Bind(5, p.time());
    RETURN_IF_ERROR(insert.Run());
    insert.Reset();
  }
  return OkStatus();
}

std::vector<v1::MetricPoint> Store::Metrics(int64_t trial_id, const std::string& name) {
  Statement rows = db_->Prepare(name.empty()
                                    ? "SELECT step, name, value, time FROM metrics WHERE trial_id = ? ORDER BY step, name"
                                    : "SELECT step, name, value, time FROM metrics WHERE trial_id = ? AND name = ? ORDER BY step");
  rows.Bind(1, trial_id);
  if (!name.empty()) rows.Bind(2, name);
  std::vector<v1::MetricPoint> points;
  while (rows.Step()) {
    v1::MetricPoint p;
    p.set_step(rows.Int(0));
    p.set_name(rows.Text(1));
    p.set_value(rows.Double(2));
    p.set_time(rows.Double(3));
    points.push_back(std::move(p));
  }
  return points;
}

// ---- workers ----

StatusOr<std::string> Store::InsertWorker(const std::string& hostname, int64_t slots, const std::string& slot_kind,
                                          double now) {
  Statement next = db_->Prepare("SELECT COUNT(*) + 1 FROM workers");
  if (!next.Step()) return Internal("cannot number the next worker");
  const std::string id = "w" + std::to_string(next.Int(0));
  RETURN_IF_ERROR(db_->Prepare(
                         "INSERT INTO workers (id, hostname, slots, slot_kind, alive, registered_at, last_heartbeat) "
                         "VALUES (?, ?, ?, ?, 1, ?, ?)")
                      .Bind(1, id).Bind(2, hostname).Bind(3, slots).Bind(4, slot_kind).Bind(5, now).Bind(6, now).Run());
  return id;
}

std::optional<WorkerRecord> Store::LoadWorker(const std::string& worker_id) {
  Statement row = db_->Prepare("SELECT id, slots, alive, last_heartbeat FROM workers WHERE id = ?");
  row.Bind(1, worker_id);
  if (!row.Step()) return std::nullopt;
  return WorkerRecord{row.Text(0), row.Int(1), row.Int(2) != 0, row.Double(3)};
}

Status Store::TouchWorker(const std::string& worker_id, double now) {
  return db_->Prepare("UPDATE workers SET last_heartbeat = ? WHERE id = ?").Bind(1, now).Bind(2, worker_id).Run();
}

Status Store::TouchAliveWorkers(double now) {
  return db_->Prepare("UPDATE workers SET last_heartbeat = MAX(last_heartbeat, ?) WHERE alive = 1").Bind(1, now).Run();
}

Status Store::MarkWorkerLost(const std::string& worker_id) {
  return db_->Prepare("UPDATE workers SET alive = 0 WHERE id = ?").Bind(1, worker_id).Run();
}

std::vector<std::string> Store::WorkersSilentSince(double cutoff) {
  Statement rows = db_->Prepare("SELECT id FROM workers WHERE alive = 1 AND last_heartbeat < ? ORDER BY id");
  rows.Bind(1, cutoff);
  std::vector<std::string> ids;
  while (rows.Step()) ids.push_back(rows.Text(0));
  return ids;
}

std::vector<v1::Worker> Store::ListWorkers() {
  Statement rows = db_->Prepare(
      "SELECT w.id, w.hostname, w.slots, w.slot_kind, w.alive, w.registered_at, w.last_heartbeat, "
      "(SELECT COUNT(*) FROM attempts a WHERE a.worker_id = w.id AND a.state IN ('running', 'stopping')) "
      "FROM workers w ORDER BY w.registered_at");
  std::vector<v1::Worker> workers;
  while (rows.Step()) {
    v1::Worker w;
    w.set_id(rows.Text(0));
    w.set_hostname(rows.Text(1));
    w.set_slots(rows.Int(2));
    w.set_slot_kind(rows.Text(3));
    w.set_alive(rows.Int(4) != 0);
    w.set_registered_at(rows.Double(5));
    w.set_last_heartbeat(rows.Double(6));
    w.set_running_attempts(rows.Int(7));
    workers.push_back(std::move(w));
  }
  return workers;
}

int64_t Store::BusySlots(const std::string& worker_id) {
  Statement row = db_->Prepare("SELECT COALESCE(SUM(slots), 0) FROM attempts WHERE worker_id = ? AND state IN ('running', 'stopping')");
  row.Bind(1, worker_id);
  return row.Step() ? row.Int(0) : 0;
}

// ---- events ----

Status Store::AddEvent(int64_t sweep_id, double now, const std::string& message) {
  return db_->Prepare("INSERT INTO events (sweep_id, time, message) VALUES (?, ?, ?)")
      .Bind(1, sweep_id).Bind(2, now).Bind(3, message).Run();
}

std::vector<EventRecord> Store::EventsAfter(int64_t sweep_id, int64_t after_id) {
  Statement rows = db_->Prepare("SELECT id, time, message FROM events WHERE sweep_id = ? AND id > ? ORDER BY id");
  rows.Bind(1, sweep_id).Bind(2, after_id);
  std::vector<EventRecord> events;
  while (rows.Step()) events.push_back({rows.Int(0), rows.Double(1), rows.Text(2)});
  return events;
}

}  // namespace orchard::coordinator
