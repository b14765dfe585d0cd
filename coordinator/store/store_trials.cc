// The trials, attempts and metrics tables.
#include "coordinator/store/store.h"

#include <algorithm>
#include <limits>

#include "coordinator/store/store_json.h"
#include "orchard/v1/state_names.h"

namespace orchard::coordinator {

namespace {

constexpr const char* kTrialColumns =
    "t.id, t.sweep_id, t.number, t.state, t.hyperparameters, t.objective, t.objective_step, t.last_step, "
    "t.checkpoint, t.message, t.output_dir, t.started_at, t.finished_at, "
    "(SELECT COUNT(*) FROM attempts a WHERE a.trial_id = t.id), "
    "(SELECT worker_id FROM attempts a WHERE a.trial_id = t.id ORDER BY a.number DESC LIMIT 1), "
    "(SELECT exit_code FROM attempts a WHERE a.trial_id = t.id ORDER BY a.number DESC LIMIT 1), t.restarts, "
    "t.rung, t.decision, t.lineage, "
    "(SELECT COALESCE(SUM(a.slots * (a.ended_at - a.started_at)), 0) FROM attempts a WHERE a.trial_id = t.id AND a.ended_at > 0), "
    "(SELECT COALESCE(SUM(a.cpu_seconds), 0) FROM attempts a WHERE a.trial_id = t.id), "
    "(SELECT COALESCE(MAX(a.peak_memory_bytes), 0) FROM attempts a WHERE a.trial_id = t.id), "
    "CASE WHEN t.state = 'pending' THEN t.waiting_reason ELSE '' END, "
    "CASE WHEN t.state = 'pending' THEN t.waiting_since ELSE 0 END, "
    "(SELECT COALESCE(MAX(a.gpu_peak_memory_bytes), 0) FROM attempts a WHERE a.trial_id = t.id), "
    "(SELECT COALESCE(AVG(a.gpu_utilization_percent), 0) FROM attempts a WHERE a.trial_id = t.id) ";

}  // namespace

StatusOr<std::optional<v1::Trial>> Store::BestTrial(int64_t sweep_id, const std::string& mode) {
  Statement row = db_->Prepare(std::string("SELECT ") + kTrialColumns +
                               "FROM trials t WHERE t.sweep_id = ? AND t.number >= 0 AND t.objective IS NOT NULL AND "
                               "t.state IN ('completed', 'stopped') ORDER BY t.objective " +
                               (mode == "max" ? "DESC" : "ASC") + ", t.number LIMIT 1");
  row.Bind(1, sweep_id);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found) return std::optional<v1::Trial>();
  return std::optional<v1::Trial>(ReadTrial(row));
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
  trial.set_slot_seconds(row.Double(20));
  trial.set_cpu_seconds(row.Double(21));
  trial.set_peak_memory_bytes(row.Int(22));
  trial.set_waiting_reason(row.Text(23));
  trial.set_waiting_since(row.Double(24));
  trial.set_gpu_peak_memory_bytes(row.Int(25));
  trial.set_gpu_utilization_percent(row.Double(26));
  return trial;
}

StatusOr<v1::Trial> Store::GetTrial(int64_t trial_id) {
  Statement row = db_->Prepare(std::string("SELECT ") + kTrialColumns + "FROM trials t WHERE t.id = ?");
  row.Bind(1, trial_id);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found) return NotFound("trial " + std::to_string(trial_id) + " does not exist (orchard trials SWEEP lists them)");
  return ReadTrial(row);
}

StatusOr<std::string> Store::TrialOwner(int64_t trial_id) {
  Statement row = db_->Prepare("SELECT s.owner FROM trials t JOIN sweeps s ON s.id = t.sweep_id WHERE t.id = ?");
  row.Bind(1, trial_id);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found) return NotFound("trial " + std::to_string(trial_id) + " does not exist (orchard trials SWEEP lists them)");
  return row.Text(0);
}

StatusOr<int64_t> Store::TrialId(int64_t sweep_id, int64_t number) {
  Statement row = db_->Prepare("SELECT id FROM trials WHERE sweep_id = ? AND number = ?");
  row.Bind(1, sweep_id).Bind(2, number);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found) return NotFound("sweep " + std::to_string(sweep_id) + " has no trial number " + std::to_string(number));
  return row.Int(0);
}

StatusOr<std::vector<v1::Trial>> Store::ListTrials(int64_t sweep_id, std::optional<int64_t> after_number, int64_t limit) {
  Statement rows = db_->Prepare(std::string("SELECT ") + kTrialColumns +
                                "FROM trials t WHERE t.sweep_id = ? AND t.number > ? ORDER BY t.number LIMIT ?");
  rows.Bind(1, sweep_id).Bind(2, after_number.value_or(std::numeric_limits<int64_t>::min())).Bind(3, limit);
  std::vector<v1::Trial> trials;
  RETURN_IF_ERROR(rows.ForEachRow([&] { trials.push_back(ReadTrial(rows)); }));
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

StatusOr<std::vector<PendingTrial>> Store::PendingTrials(int64_t limit) {
  Statement rows = db_->Prepare(
      // Fresh: a sweep's own trial (not the champion's evaluation) that has never run.
      "SELECT t.id, t.sweep_id, s.spec, t.number >= 0 AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.trial_id = t.id) "
      "FROM trials t JOIN sweeps s ON s.id = t.sweep_id "
      "WHERE t.state = 'pending' AND s.state = 'running' ORDER BY t.sweep_id, t.number LIMIT ?");
  rows.Bind(1, limit);
  std::vector<PendingTrial> pending;
  std::map<int64_t, PendingTrial> of_sweep;  // what every trial of a sweep asks for
  RETURN_IF_ERROR(rows.ForEachRow([&] {
    const int64_t sweep_id = rows.Int(1);
    if (!of_sweep.count(sweep_id)) {
      const nlohmann::json spec = ParseJson(rows.Text(2));
      PendingTrial& asks = of_sweep[sweep_id];
      asks.slots = spec.value("ranks", int64_t{1});
      asks.share.bytes = static_cast<int64_t>(spec.value("gpu_memory_gib", 0.0) * 1024.0 * 1024.0 * 1024.0);
      asks.share.fraction = spec.value("gpu_fraction", 0.0);
      asks.fuse = spec.value("fuse", int64_t{1});
      const nlohmann::json member = spec.value("fused_member", nlohmann::json::object());
      asks.member_bytes = member.value("bytes", int64_t{0});
      asks.member_step_flops = member.value("step_flops", 0.0);
    }
    PendingTrial trial = of_sweep[sweep_id];
    trial.trial_id = rows.Int(0), trial.sweep_id = sweep_id;
    trial.fresh = rows.Int(3) != 0;
    pending.push_back(trial);
  }));
  return pending;
}

Status Store::SetTrialWaiting(int64_t trial_id, const std::string& reason, double since) {
  return db_->Prepare("UPDATE trials SET waiting_reason = ?, waiting_since = ? WHERE id = ?")
      .Bind(1, reason).Bind(2, since).Bind(3, trial_id).Run();
}

StatusOr<std::map<int64_t, std::pair<std::string, double>>> Store::WaitingReasons() {
  Statement rows = db_->Prepare("SELECT id, waiting_reason, waiting_since FROM trials WHERE state = 'pending' AND waiting_reason != ''");
  std::map<int64_t, std::pair<std::string, double>> waiting;
  RETURN_IF_ERROR(rows.ForEachRow([&] { waiting[rows.Int(0)] = {rows.Text(1), rows.Double(2)}; }));
  return waiting;
}

StatusOr<std::vector<int64_t>> Store::PendingTrialIds(int64_t sweep_id) {
  Statement rows = db_->Prepare("SELECT id FROM trials WHERE sweep_id = ? AND state = 'pending' ORDER BY number");
  rows.Bind(1, sweep_id);
  std::vector<int64_t> ids;
  RETURN_IF_ERROR(rows.ForEachRow([&] { ids.push_back(rows.Int(0)); }));
  return ids;
}

StatusOr<std::map<int64_t, int64_t>> Store::RunningTrialsBySweep() {
  Statement rows = db_->Prepare("SELECT sweep_id, COUNT(*) FROM trials WHERE state = 'running' GROUP BY sweep_id");
  std::map<int64_t, int64_t> running;
  RETURN_IF_ERROR(rows.ForEachRow([&] { running[rows.Int(0)] = rows.Int(1); }));
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
                                             const std::string& log_path_prefix, double slots, double now) {
  Statement next = db_->Prepare("SELECT COALESCE(MAX(a.number), 0) + 1 FROM attempts a WHERE a.trial_id = ?");
  next.Bind(1, trial_id);
  ASSIGN_OR_RETURN(const bool next_found, next.Next());
  if (!next_found) return Internal("cannot number the next attempt of trial " + std::to_string(trial_id));
  const int64_t number = next.Int(0);
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
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found) return NotFound("attempt " + std::to_string(attempt_id) + " does not exist");
  return ReadAttempt(row);
}

StatusOr<std::vector<AttemptRecord>> Store::ActiveAttempts(const std::string& worker_id) {
  Statement rows = db_->Prepare(std::string("SELECT ") + kAttemptColumns +
                                "WHERE a.worker_id = ? AND a.state IN ('running', 'stopping') ORDER BY a.id");
  rows.Bind(1, worker_id);
  std::vector<AttemptRecord> attempts;
  RETURN_IF_ERROR(rows.ForEachRow([&] { attempts.push_back(ReadAttempt(rows)); }));
  return attempts;
}

StatusOr<std::optional<AttemptRecord>> Store::ActiveAttemptOfTrial(int64_t trial_id) {
  Statement row = db_->Prepare(std::string("SELECT ") + kAttemptColumns + "WHERE a.trial_id = ? AND a.state IN ('running', 'stopping')");
  row.Bind(1, trial_id);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found) return std::optional<AttemptRecord>();
  return std::optional<AttemptRecord>(ReadAttempt(row));
}

Status Store::SetAttemptStopping(int64_t attempt_id, const std::string& stop_reason) {
  // A pause is the mildest request: a stop or a cancel overrides it.
  return db_->Prepare(
                "UPDATE attempts SET state = 'stopping', stop_reason = ? WHERE id = ? AND "
                "(state = 'running' OR (state = 'stopping' AND stop_reason = 'paused'))")
      .Bind(1, stop_reason).Bind(2, attempt_id).Run();
}

Status Store::JoinFusedGroup(int64_t attempt_id, int64_t group_attempt_id) {
  return db_->Prepare("UPDATE attempts SET fused_group = ? WHERE id IN (?, ?)")
      .Bind(1, group_attempt_id).Bind(2, attempt_id).Bind(3, group_attempt_id).Run();
}

Status Store::EndAttempt(int64_t attempt_id, const std::string& state, int64_t exit_code, int64_t signal,
                         const std::string& reason, double now, const AttemptUsage& usage) {
  RETURN_IF_ERROR(db_->Prepare(
                         "UPDATE attempts SET state = ?, exit_code = ?, signal = ?, reason = ?, ended_at = ?, cpu_seconds = ?, "
                         "peak_memory_bytes = ?, gpu_peak_memory_bytes = ?, "
                         "gpu_utilization_percent = CASE WHEN ? > 0 THEN ? END WHERE id = ?")
                      .Bind(1, state).Bind(2, exit_code).Bind(3, signal).Bind(4, reason).Bind(5, now).Bind(6, usage.cpu_seconds)
                      .Bind(7, usage.peak_memory_bytes).Bind(8, usage.gpu_peak_memory_bytes).Bind(9, usage.gpu_peak_memory_bytes)
                      .Bind(10, usage.gpu_utilization_percent).Bind(11, attempt_id).Run());
  return db_->Prepare(
                "UPDATE attempts SET slots = (SELECT slots FROM attempts WHERE id = ?1) "
                "WHERE id = (SELECT MIN(heir.id) FROM attempts heir JOIN attempts ended ON heir.fused_group = ended.fused_group "
                "WHERE ended.id = ?1 AND ended.fused_group != 0 AND ended.slots > 0 AND heir.id != ended.id "
                "AND heir.state IN ('running', 'stopping') AND heir.slots = 0)")
      .Bind(1, attempt_id).Run();
}

Status Store::RecordAttemptProvenance(int64_t attempt_id, const std::string& provenance_json,
                                      const std::string& parameter_digest) {
  return db_->Prepare("UPDATE attempts SET provenance = ?, parameter_digest = ? WHERE id = ?")
      .Bind(1, provenance_json).Bind(2, parameter_digest).Bind(3, attempt_id).Run();
}

StatusOr<std::vector<AttemptSpan>> Store::AttemptSpans(int64_t sweep_id) {
  Statement rows = db_->Prepare(
      "SELECT t.number, a.number, a.state, a.started_at, a.ended_at, a.log_path FROM attempts a "
      "JOIN trials t ON t.id = a.trial_id WHERE t.sweep_id = ? ORDER BY t.number, a.number");
  rows.Bind(1, sweep_id);
  std::vector<AttemptSpan> spans;
  RETURN_IF_ERROR(rows.ForEachRow([&] {
    spans.push_back({rows.Int(0), rows.Int(1), rows.Text(2), rows.Double(3), rows.Double(4), rows.Text(5)});
  }));
  return spans;
}

StatusOr<std::vector<AttemptSummary>> Store::TrialAttempts(int64_t trial_id) {
  Statement rows = db_->Prepare(
      "SELECT number, worker_id, state, slots, exit_code, signal, reason, started_at, ended_at, provenance, "
      "parameter_digest FROM attempts WHERE trial_id = ? ORDER BY number");
  rows.Bind(1, trial_id);
  std::vector<AttemptSummary> attempts;
  RETURN_IF_ERROR(rows.ForEachRow([&] {
    attempts.push_back({rows.Int(0), rows.Text(1), rows.Text(2), rows.Double(3), rows.Int(4), rows.Int(5), rows.Text(6),
                        rows.Double(7), rows.Double(8), rows.Text(9), rows.Text(10)});
  }));
  return attempts;
}

StatusOr<double> Store::SweepSlotSeconds(int64_t sweep_id, double now) {
  Statement row = db_->Prepare(
      "SELECT COALESCE(SUM(a.slots * MAX(0, (CASE WHEN a.ended_at > 0 THEN a.ended_at ELSE ? END) - a.started_at)), 0) "
      "FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE t.sweep_id = ?");
  row.Bind(1, now).Bind(2, sweep_id);
  ASSIGN_OR_RETURN(const bool found, row.Next());
  return found ? row.Double(0) : 0.0;
}

StatusOr<std::vector<std::pair<std::string, double>>> Store::TrialDurations() {
  Statement rows = db_->Prepare(
      "SELECT t.state, t.finished_at - MIN(a.started_at) FROM trials t JOIN attempts a ON a.trial_id = t.id "
      "WHERE t.finished_at > 0 GROUP BY t.id");
  std::vector<std::pair<std::string, double>> durations;
  RETURN_IF_ERROR(rows.ForEachRow([&] { durations.emplace_back(rows.Text(0), std::max(0.0, rows.Double(1))); }));
  return durations;
}

StatusOr<std::vector<double>> Store::QueueWaits() {
  Statement rows = db_->Prepare(
      "SELECT a.started_at - COALESCE(LAG(a.ended_at) OVER (PARTITION BY a.trial_id ORDER BY a.number), t.created_at) "
      "FROM attempts a JOIN trials t ON t.id = a.trial_id");
  std::vector<double> waits;
  RETURN_IF_ERROR(rows.ForEachRow([&] { waits.push_back(std::max(0.0, rows.Double(0))); }));
  return waits;
}

StatusOr<std::string> Store::AttemptLogPath(int64_t trial_id, int64_t number) {
  Statement row = db_->Prepare(number > 0 ? "SELECT log_path FROM attempts WHERE trial_id = ? AND number = ?"
                                          : "SELECT log_path FROM attempts WHERE trial_id = ? ORDER BY number DESC LIMIT 1");
  row.Bind(1, trial_id);
  if (number > 0) row.Bind(2, number);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found)
    return NotFound("trial " + std::to_string(trial_id) +
                    (number > 0 ? " has no attempt " + std::to_string(number) : " has not started yet, so it has no log"));
  return row.Text(0);
}

// ---- metrics ----

Status Store::InsertMetrics(int64_t trial_id, const std::vector<v1::MetricPoint>& points) {
  Statement insert = db_->Prepare("INSERT OR REPLACE INTO metrics (trial_id, step, name, value, time) VALUES (?, ?, ?, ?, ?)");
  for (const v1::MetricPoint& p : points) {
    insert.Bind(1, trial_id).Bind(2, p.step()).Bind(3, p.name()).Bind(4, p.value()).Bind(5, p.time());
    RETURN_IF_ERROR(insert.Run());
    insert.Reset();
  }
  constexpr size_t kMostKnownMetricNames = 100000;
  if (known_metric_names_undos_ != db_->undos() || known_metric_names_.size() > kMostKnownMetricNames) {
    known_metric_names_.clear();
    known_metric_names_undos_ = db_->undos();
  }
  // A name the trial already has is found and left alone, which writes nothing.
  Statement name = db_->Prepare("INSERT OR IGNORE INTO metric_names (trial_id, name) VALUES (?, ?)");
  for (const v1::MetricPoint& p : points) {
    if (known_metric_names_.count({trial_id, p.name()}) > 0) continue;
    name.Bind(1, trial_id).Bind(2, p.name());
    RETURN_IF_ERROR(name.Run());
    name.Reset();
    known_metric_names_.emplace(trial_id, p.name());
  }
  return OkStatus();
}

StatusOr<std::vector<v1::MetricPoint>> Store::Metrics(int64_t trial_id, const std::string& name,
                                                      const std::optional<std::pair<std::string, int64_t>>& after,
                                                      int64_t limit) {
  // Both walk the (trial_id, step, name) key from `after` on; names are never empty. One name's
  // points are found among the trial's other points, so a page of a name reported at few steps reads
  // through the points between; a name the trial never reported reads nothing.
  if (!name.empty()) {
    Statement known = db_->Prepare("SELECT 1 FROM metric_names WHERE trial_id = ? AND name = ?");
    known.Bind(1, trial_id).Bind(2, name);
    ASSIGN_OR_RETURN(const bool reported, known.Next());
    if (!reported) return std::vector<v1::MetricPoint>();
  }
  const auto from = after.value_or(std::pair<std::string, int64_t>("", std::numeric_limits<int64_t>::min()));
  Statement rows = db_->Prepare(
      "SELECT step, name, value, time FROM metrics WHERE trial_id = ? AND (step, name) > (?, ?) "
      "AND (?4 = '' OR name = ?4) ORDER BY step, name LIMIT ?5");
  rows.Bind(1, trial_id).Bind(2, from.second).Bind(3, from.first).Bind(4, name).Bind(5, limit);
  std::vector<v1::MetricPoint> points;
  RETURN_IF_ERROR(rows.ForEachRow([&] {
    v1::MetricPoint p;
    p.set_step(rows.Int(0));
    p.set_name(rows.Text(1));
    p.set_value(rows.Double(2));
    p.set_time(rows.Double(3));
    points.push_back(std::move(p));
  }));
  return points;
}

StatusOr<std::vector<TrialSeries>> Store::SweepMetricSeries(int64_t sweep_id, const std::string& name) {
  Statement rows = db_->Prepare(
      "SELECT t.id, t.number, m.step, m.value FROM trials t JOIN metrics m ON m.trial_id = t.id "
      "WHERE t.sweep_id = ? AND m.name = ? ORDER BY t.number, m.step");
  rows.Bind(1, sweep_id).Bind(2, name);
  std::vector<TrialSeries> series;
  RETURN_IF_ERROR(rows.ForEachRow([&] {
    if (series.empty() || series.back().trial_id != rows.Int(0)) series.push_back({rows.Int(0), rows.Int(1), {}});
    series.back().points.emplace_back(rows.Int(2), rows.Double(3));
  }));
  return series;
}

StatusOr<std::vector<std::string>> Store::SweepMetricNames(int64_t sweep_id) {
  Statement rows = db_->Prepare(
      "SELECT DISTINCT n.name FROM trials t JOIN metric_names n ON n.trial_id = t.id WHERE t.sweep_id = ? ORDER BY n.name");
  rows.Bind(1, sweep_id);
  std::vector<std::string> names;
  RETURN_IF_ERROR(rows.ForEachRow([&] { names.push_back(rows.Text(0)); }));
  return names;
}

}  // namespace orchard::coordinator
