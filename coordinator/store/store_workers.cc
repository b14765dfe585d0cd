// The workers table.
#include "coordinator/store/store.h"

#include <sstream>

namespace orchard::coordinator {

// ---- workers ----

StatusOr<std::string> Store::InsertWorker(const std::string& hostname, int64_t slots, const std::string& slot_kind,
                                          const std::vector<int64_t>& gpu_memory_bytes, double now) {
  Statement next = db_->Prepare("SELECT COUNT(*) + 1 FROM workers");
  ASSIGN_OR_RETURN(const bool next_found, next.Next());
  if (!next_found) return Internal("cannot number the next worker");
  const std::string id = "w" + std::to_string(next.Int(0));
  std::string gpu_memory;
  for (int64_t bytes : gpu_memory_bytes) gpu_memory += (gpu_memory.empty() ? "" : ",") + std::to_string(bytes);
  RETURN_IF_ERROR(db_->Prepare(
                         "INSERT INTO workers (id, hostname, slots, slot_kind, alive, registered_at, last_heartbeat, gpu_memory) "
                         "VALUES (?, ?, ?, ?, 1, ?, ?, ?)")
                      .Bind(1, id).Bind(2, hostname).Bind(3, slots).Bind(4, slot_kind).Bind(5, now).Bind(6, now)
                      .Bind(7, gpu_memory).Run());
  return id;
}

StatusOr<std::optional<WorkerRecord>> Store::LoadWorker(const std::string& worker_id) {
  Statement row = db_->Prepare("SELECT id, slots, alive, last_heartbeat FROM workers WHERE id = ?");
  row.Bind(1, worker_id);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found) return std::optional<WorkerRecord>();
  return std::optional<WorkerRecord>(WorkerRecord{row.Text(0), row.Int(1), row.Int(2) != 0, row.Double(3)});
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

StatusOr<std::vector<std::string>> Store::WorkersSilentSince(double cutoff) {
  Statement rows = db_->Prepare("SELECT id FROM workers WHERE alive = 1 AND last_heartbeat < ? ORDER BY id");
  rows.Bind(1, cutoff);
  std::vector<std::string> ids;
  RETURN_IF_ERROR(rows.ForEachRow([&] { ids.push_back(rows.Text(0)); }));
  return ids;
}

StatusOr<std::vector<v1::Worker>> Store::ListWorkers() {
  Statement rows = db_->Prepare(
      "SELECT w.id, w.hostname, w.slots, w.slot_kind, w.alive, w.registered_at, w.last_heartbeat, "
      "(SELECT COUNT(*) FROM attempts a WHERE a.worker_id = w.id AND a.state IN ('running', 'stopping')), w.gpu_memory "
      "FROM workers w ORDER BY w.registered_at");
  std::vector<v1::Worker> workers;
  RETURN_IF_ERROR(rows.ForEachRow([&] {
    v1::Worker w;
    w.set_id(rows.Text(0));
    w.set_hostname(rows.Text(1));
    w.set_slots(rows.Int(2));
    w.set_slot_kind(rows.Text(3));
    w.set_alive(rows.Int(4) != 0);
    w.set_registered_at(rows.Double(5));
    w.set_last_heartbeat(rows.Double(6));
    w.set_running_attempts(rows.Int(7));
    std::stringstream gpu_memory(rows.Text(8));
    for (std::string bytes; std::getline(gpu_memory, bytes, ',');) w.add_gpu_memory_bytes(std::stoll(bytes));
    workers.push_back(std::move(w));
  }));
  return workers;
}

StatusOr<double> Store::BusySlots(const std::string& worker_id) {
  Statement row = db_->Prepare(
      "SELECT COALESCE(SUM(slots), 0) FROM attempts WHERE worker_id = ? AND state IN ('running', 'stopping')");
  row.Bind(1, worker_id);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  return row_found ? row.Double(0) : 0.0;
}

}  // namespace orchard::coordinator
