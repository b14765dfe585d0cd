// The Store's schedules: schedules, schedule_versions and schedule_runs (migration 5).
#include <nlohmann/json.hpp>

#include "coordinator/store/store.h"

namespace orchard::coordinator {
namespace {

// Columns of a schedule with its current version, as ReadSchedule reads them.
constexpr const char* kScheduleColumns =
    "s.id, s.name, s.owner, s.version, s.paused, s.due_after, s.created_at, v.cron, v.time_zone, v.recipe_yaml, "
    "v.recipe_file, v.overrides, v.overlap, v.model, v.promotion_margin, v.skip_if_data_unchanged, v.created_at, "
    "(SELECT COALESCE(MAX(number), 0) FROM schedule_runs r WHERE r.schedule_id = s.id) "
    "FROM schedules s JOIN schedule_versions v ON v.schedule_id = s.id AND v.version = s.version ";

ScheduleSettings ReadSettings(const Statement& row, int first) {
  ScheduleSettings settings;
  settings.cron = row.Text(first);
  settings.time_zone = row.Text(first + 1);
  settings.recipe_yaml = row.Text(first + 2);
  settings.recipe_file = row.Text(first + 3);
  settings.overrides = nlohmann::json::parse(row.Text(first + 4), nullptr, false).get<std::vector<std::string>>();
  settings.overlap = row.Text(first + 5);
  settings.model = row.Text(first + 6);
  settings.promotion_margin = row.Double(first + 7);
  settings.skip_if_data_unchanged = row.Int(first + 8) != 0;
  return settings;
}

nlohmann::json DataJson(const std::vector<FileFingerprint>& data) {
  nlohmann::json list = nlohmann::json::array();
  for (const FileFingerprint& f : data) list.push_back({{"path", f.path}, {"bytes", f.bytes}, {"sha256", f.sha256}});
  return list;
}

std::vector<FileFingerprint> ReadData(const std::string& text) {
  std::vector<FileFingerprint> data;
  const nlohmann::json list = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!list.is_array()) return data;
  for (const nlohmann::json& f : list)
    if (f.is_object()) data.push_back({f.value("path", ""), f.value("bytes", int64_t{0}), f.value("sha256", "")});
  return data;
}

// Columns of a run with its sweep's state, as ReadRun reads them.
constexpr const char* kRunColumns =
    "r.number, r.version, r.fired_by, r.slot, r.fired_at, r.missed, COALESCE(r.sweep_id, 0), "
    "COALESCE(w.state, r.state), r.reason, r.data FROM schedule_runs r LEFT JOIN sweeps w ON w.id = r.sweep_id ";

ScheduleRunRecord ReadRun(const Statement& row) {
  return {row.Int(0), row.Int(1), row.Text(2), row.Int(3), row.Double(4), row.Int(5), row.Int(6),
          row.Text(7), row.Text(8), ReadData(row.Text(9))};
}

ScheduleRecord ReadSchedule(const Statement& row) {
  ScheduleRecord schedule;
  schedule.id = row.Int(0);
  schedule.name = row.Text(1);
  schedule.owner = row.Text(2);
  schedule.version = row.Int(3);
  schedule.paused = row.Int(4) != 0;
  schedule.due_after = row.Int(5);
  schedule.created_at = row.Double(6);
  schedule.settings = ReadSettings(row, 7);
  schedule.version_created_at = row.Double(16);
  schedule.runs = row.Int(17);
  return schedule;
}

Status InsertVersion(Database& db, int64_t schedule_id, int64_t version, const ScheduleSettings& settings, double now) {
  Statement insert = db.Prepare(
      "INSERT INTO schedule_versions (schedule_id, version, cron, time_zone, recipe_yaml, recipe_file, overrides, "
      "overlap, model, promotion_margin, skip_if_data_unchanged, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert.Bind(1, schedule_id).Bind(2, version).Bind(3, settings.cron).Bind(4, settings.time_zone);
  insert.Bind(5, settings.recipe_yaml).Bind(6, settings.recipe_file).Bind(7, nlohmann::json(settings.overrides).dump());
  insert.Bind(8, settings.overlap).Bind(9, settings.model).Bind(10, settings.promotion_margin);
  insert.Bind(11, settings.skip_if_data_unchanged ? 1 : 0).Bind(12, now);
  return insert.Run();
}

}  // namespace

StatusOr<int64_t> Store::InsertSchedule(const std::string& name, const std::string& owner,
                                        const ScheduleSettings& settings, int64_t due_after, double now) {
  Statement insert =
      db_->Prepare("INSERT INTO schedules (name, owner, version, due_after, created_at) VALUES (?, ?, 1, ?, ?)");
  insert.Bind(1, name).Bind(2, owner).Bind(3, due_after).Bind(4, now);
  RETURN_IF_ERROR(insert.Run());
  const int64_t id = db_->LastInsertId();
  RETURN_IF_ERROR(InsertVersion(*db_, id, 1, settings, now));
  return id;
}

Status Store::AddScheduleVersion(int64_t schedule_id, const ScheduleSettings& settings, int64_t due_after,
                                 double now) {
  Statement latest = db_->Prepare("SELECT MAX(version) FROM schedule_versions WHERE schedule_id = ?");
  latest.Bind(1, schedule_id);
  ASSIGN_OR_RETURN(const bool latest_found, latest.Next());
  if (!latest_found) return Internal("schedule " + std::to_string(schedule_id) + " has no latest version");
  const int64_t version = latest.Int(0) + 1;
  RETURN_IF_ERROR(InsertVersion(*db_, schedule_id, version, settings, now));
  return db_->Prepare("UPDATE schedules SET version = ?, due_after = ?, next_check = -1 WHERE id = ?")
      .Bind(1, version).Bind(2, due_after).Bind(3, schedule_id).Run();
}

StatusOr<ScheduleRecord> Store::LoadSchedule(const std::string& name) {
  Statement row = db_->Prepare(std::string("SELECT ") + kScheduleColumns + "WHERE s.name = ?");
  row.Bind(1, name);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found) {
    return NotFound("schedule '" + name + "' does not exist (orchard schedule list shows them)");
  }
  return ReadSchedule(row);
}

StatusOr<std::vector<ScheduleRecord>> Store::ListSchedules(const std::optional<std::string>& owner) {
  Statement rows = db_->Prepare(std::string("SELECT ") + kScheduleColumns + (owner ? "WHERE s.owner = ? " : "") +
                                "ORDER BY s.name");
  if (owner) rows.Bind(1, *owner);
  std::vector<ScheduleRecord> schedules;
  RETURN_IF_ERROR(rows.ForEachRow([&] { schedules.push_back(ReadSchedule(rows)); }));
  return schedules;
}

StatusOr<std::vector<ScheduleVersionRecord>> Store::ScheduleVersions(int64_t schedule_id) {
  Statement rows = db_->Prepare(
      "SELECT version, created_at, cron, time_zone, recipe_yaml, recipe_file, overrides, overlap, model, "
      "promotion_margin, skip_if_data_unchanged FROM schedule_versions WHERE schedule_id = ? ORDER BY version DESC");
  rows.Bind(1, schedule_id);
  std::vector<ScheduleVersionRecord> versions;
  RETURN_IF_ERROR(rows.ForEachRow([&] { versions.push_back({rows.Int(0), ReadSettings(rows, 2), rows.Double(1)}); }));
  return versions;
}

Status Store::SetSchedulePaused(int64_t schedule_id, bool paused) {
  return db_->Prepare("UPDATE schedules SET paused = ?, next_check = -1 WHERE id = ?")
      .Bind(1, paused ? 1 : 0).Bind(2, schedule_id).Run();
}

Status Store::SetScheduleDueAfter(int64_t schedule_id, int64_t due_after) {
  return db_->Prepare("UPDATE schedules SET due_after = ?, next_check = -1 WHERE id = ?")
      .Bind(1, due_after).Bind(2, schedule_id).Run();
}

StatusOr<std::vector<ScheduleRecord>> Store::DueSchedules(int64_t now) {
  Statement rows = db_->Prepare(std::string("SELECT ") + kScheduleColumns +
                                "WHERE s.paused = 0 AND s.next_check <= ? ORDER BY s.name");
  rows.Bind(1, now);
  std::vector<ScheduleRecord> schedules;
  RETURN_IF_ERROR(rows.ForEachRow([&] { schedules.push_back(ReadSchedule(rows)); }));
  return schedules;
}

Status Store::SetScheduleNextCheck(int64_t schedule_id, int64_t next_check) {
  return db_->Prepare("UPDATE schedules SET next_check = ? WHERE id = ?").Bind(1, next_check).Bind(2, schedule_id).Run();
}

Status Store::DeleteSchedule(int64_t schedule_id) {
  // Versions and runs go with it (ON DELETE CASCADE).
  return db_->Prepare("DELETE FROM schedules WHERE id = ?").Bind(1, schedule_id).Run();
}

Status Store::InsertScheduleRun(int64_t schedule_id, const ScheduleRunRecord& run) {
  Statement insert = db_->Prepare(
      "INSERT INTO schedule_runs (schedule_id, number, version, fired_by, slot, fired_at, missed, sweep_id, state, "
      "reason, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert.Bind(1, schedule_id).Bind(2, run.number).Bind(3, run.version).Bind(4, run.fired_by).Bind(5, run.slot);
  insert.Bind(6, run.fired_at).Bind(7, run.missed);
  if (run.sweep_id > 0) insert.Bind(8, run.sweep_id);
  else insert.BindNull(8);
  insert.Bind(9, run.state).Bind(10, run.reason)
      .Bind(11, DataJson(run.data).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return insert.Run();
}

StatusOr<std::vector<ScheduleRunRecord>> Store::ScheduleRuns(int64_t schedule_id, int64_t limit) {
  Statement rows = db_->Prepare(std::string("SELECT ") + kRunColumns + "WHERE r.schedule_id = ? ORDER BY r.number DESC LIMIT ?");
  rows.Bind(1, schedule_id).Bind(2, limit);
  std::vector<ScheduleRunRecord> runs;
  RETURN_IF_ERROR(rows.ForEachRow([&] { runs.push_back(ReadRun(rows)); }));
  return runs;
}

StatusOr<std::optional<ScheduleRunRecord>> Store::LastCompletedScheduleRun(int64_t schedule_id) {
  Statement row = db_->Prepare(std::string("SELECT ") + kRunColumns +
                               "WHERE r.schedule_id = ? AND w.state = 'completed' ORDER BY r.number DESC LIMIT 1");
  row.Bind(1, schedule_id);
  ASSIGN_OR_RETURN(const bool found, row.Next());
  if (!found) return std::optional<ScheduleRunRecord>();
  return std::optional<ScheduleRunRecord>(ReadRun(row));
}

StatusOr<std::vector<int64_t>> Store::RunningSweepsOfSchedule(int64_t schedule_id) {
  Statement rows = db_->Prepare(
      "SELECT w.id FROM schedule_runs r JOIN sweeps w ON w.id = r.sweep_id WHERE r.schedule_id = ? AND "
      "w.state = 'running' ORDER BY w.id");
  rows.Bind(1, schedule_id);
  std::vector<int64_t> ids;
  RETURN_IF_ERROR(rows.ForEachRow([&] { ids.push_back(rows.Int(0)); }));
  return ids;
}

}  // namespace orchard::coordinator
