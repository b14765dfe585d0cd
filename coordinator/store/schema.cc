#include "coordinator/store/schema.h"

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
      // What each attempt's processes used, as its worker measured them.
      R"sql(
ALTER TABLE attempts ADD COLUMN cpu_seconds REAL NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN peak_memory_bytes INTEGER NOT NULL DEFAULT 0;
)sql",
      // Why a pending trial cannot start, and since when (a gang larger than every live worker).
      R"sql(
ALTER TABLE trials ADD COLUMN waiting_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE trials ADD COLUMN waiting_since REAL NOT NULL DEFAULT 0;
)sql",
      // What each attempt's GPUs did (NULL utilisation: no GPU measured).
      R"sql(
ALTER TABLE attempts ADD COLUMN gpu_peak_memory_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN gpu_utilization_percent REAL;
)sql",
      // Lineage: what each attempt trained from (the trainer's provenance.json) and its final
      // parameters' digest; schedules that skip a firing whose data has not changed, and each run's
      // data fingerprints (JSON: [{"path", "bytes", "sha256"}]).
      R"sql(
ALTER TABLE attempts ADD COLUMN provenance TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN parameter_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE schedule_versions ADD COLUMN skip_if_data_unchanged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE schedule_runs ADD COLUMN data TEXT NOT NULL DEFAULT '[]';
)sql",
      // When the firing loop must look at a schedule again (Unix seconds): its next slot, so the loop
      // reads only due schedules each second. -1: look now (anything about the schedule changed).
      R"sql(
ALTER TABLE schedules ADD COLUMN next_check INTEGER NOT NULL DEFAULT -1;
CREATE INDEX schedules_by_next_check ON schedules(paused, next_check);
)sql",
      // Each GPU's memory of a gpu worker (bytes, comma-separated by ordinal). An attempt's slots may
      // now be a fraction: the share of one GPU's memory a trial that shares it holds.
      R"sql(
ALTER TABLE workers ADD COLUMN gpu_memory TEXT NOT NULL DEFAULT '';
)sql",
      // A fused group's attempts name their group (its first member's attempt id; 0: not fused), so
      // the group's slot passes to a member still training when the member holding it ends.
      R"sql(
ALTER TABLE attempts ADD COLUMN fused_group INTEGER NOT NULL DEFAULT 0;
)sql",
      // Metric points clustered by step instead of by name, so a report's points share one page and a
      // commit writes about one page per trial rather than one per trial and metric name. Each
      // trial's names get their own small table, which the dashboard's list of names reads.
      R"sql(
CREATE TABLE metrics_by_step (
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  step INTEGER NOT NULL,
  name TEXT NOT NULL,
  value REAL NOT NULL,
  time REAL NOT NULL,
  PRIMARY KEY (trial_id, step, name)) WITHOUT ROWID;
INSERT INTO metrics_by_step (trial_id, step, name, value, time) SELECT trial_id, step, name, value, time FROM metrics;
DROP TABLE metrics;
ALTER TABLE metrics_by_step RENAME TO metrics;
CREATE TABLE metric_names (
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  name TEXT NOT NULL,
  PRIMARY KEY (trial_id, name)) WITHOUT ROWID;
INSERT INTO metric_names (trial_id, name) SELECT DISTINCT trial_id, name FROM metrics;
)sql",
  };
  return migrations;
}

}  // namespace orchard::coordinator
