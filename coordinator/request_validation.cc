#include "coordinator/request_validation.h"

#include <cctype>
#include <cmath>

#include "core/names.h"
#include "core/provenance.h"

namespace orchard::coordinator {
namespace {

// `index` is the point's in a report, -1 for a query's name.
Status CheckMetricName(const std::string& name, int index) {
  return orchard::CheckMetricName(name, index < 0 ? "name" : "points[" + std::to_string(index) + "].name");
}

Status CheckWorkerId(const std::string& worker_id) {
  if (worker_id.empty() || worker_id.size() > 128)
    return InvalidArgument("worker_id: required, the id RegisterWorker returned (at most 128 characters)");
  return OkStatus();
}

Status CheckAttempt(int64_t attempt_id, const std::string& token) {
  RETURN_IF_ERROR(ValidateId("attempt_id", attempt_id));
  if (token.empty() || token.size() > 256)
    return InvalidArgument("token: the attempt's token from its lease is required (1 to 256 characters)");
  return OkStatus();
}

}  // namespace

bool IsConfinedRelativePath(const std::string& path) {
  if (path.empty() || path.size() > 4096 || path[0] == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return path.find('\0') == std::string::npos;
}

Status ValidateId(const char* field, int64_t id) {
  if (id <= 0) return InvalidArgument(std::string(field) + ": must be a positive id, found " + std::to_string(id));
  return OkStatus();
}

Status ValidateModelName(const char* field, const std::string& name) {
  if (!IsValidName(name))
    return InvalidArgument(std::string(field) + ": '" + name +
                           "' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (it "
                           "names the model's folder in the registry)");
  return OkStatus();
}

Status ValidateSubmit(const v1::SubmitSweepRequest& request) {
  if (request.recipe_yaml().empty()) return InvalidArgument("recipe_yaml: the recipe's text is empty");
  if (request.recipe_yaml().size() > kMaxRecipeBytes)
    return InvalidArgument("recipe_yaml: " + std::to_string(request.recipe_yaml().size()) +
                           " bytes is more than the 1 MiB a recipe may have; reference large data by path");
  if (request.recipe_file().size() > 4096) return InvalidArgument("recipe_file: longer than 4096 characters");
  if (request.overrides_size() > kMaxOverrides)
    return InvalidArgument("overrides: at most " + std::to_string(kMaxOverrides) + " are allowed");
  for (int i = 0; i < request.overrides_size(); ++i) {
    const std::string& o = request.overrides(i);
    if (o.find('=') == std::string::npos || o.front() == '=')
      return InvalidArgument("overrides[" + std::to_string(i) + "]: '" + o + "' is not FIELD=VALUE (e.g. optimizer.lr=0.01)");
  }
  if (!request.name().empty() && !IsValidName(request.name()))
    return InvalidArgument("name: '" + request.name() +
                           "' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
  if (!request.model().empty()) RETURN_IF_ERROR(ValidateModelName("model", request.model()));
  if (!std::isfinite(request.promotion_margin()) || request.promotion_margin() < 0)
    return InvalidArgument("promotion_margin: must be a number >= 0 (how much better than the champion, in the "
                           "sweep's metric, a challenger must be), found " + std::to_string(request.promotion_margin()));
  if (request.promotion_margin() > 0 && request.model().empty())
    return InvalidArgument("promotion_margin: applies to a registry model's champion; name the model too (--model NAME)");
  return OkStatus();
}

Status ValidateScheduleName(const std::string& name) {
  if (IsValidName(name)) return OkStatus();
  return InvalidArgument("name: '" + name.substr(0, 100) +
                         "' is not a schedule name: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
}

Status ValidateAddSchedule(const v1::AddScheduleRequest& request) {
  RETURN_IF_ERROR(ValidateScheduleName(request.name()));
  if (request.cron().empty() || request.cron().size() > 256)
    return InvalidArgument("cron: expected five fields 'minute hour day-of-month month day-of-week' such as '0 2 * * *', "
                           "or a macro such as @daily (at most 256 characters)");
  if (request.time_zone().size() > 256) return InvalidArgument("time_zone: longer than 256 characters");
  if (request.recipe_yaml().empty()) return InvalidArgument("recipe_yaml: the recipe's text is empty");
  if (request.recipe_yaml().size() > kMaxRecipeBytes)
    return InvalidArgument("recipe_yaml: " + std::to_string(request.recipe_yaml().size()) +
                           " bytes is more than the 1 MiB a recipe may have; reference large data by path");
  if (!request.overlap().empty() && request.overlap() != "skip" && request.overlap() != "allow" &&
      request.overlap() != "replace")
    return InvalidArgument("overlap: '" + request.overlap().substr(0, 100) + "' must be skip, allow or replace");
  if (!request.model().empty() && !IsValidName(request.model()))
    return InvalidArgument("model: '" + request.model().substr(0, 100) +
                           "' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
  if (!std::isfinite(request.promotion_margin()) || request.promotion_margin() < 0)
    return InvalidArgument("promotion_margin: must be a finite number of at least 0, found " +
                           std::to_string(request.promotion_margin()));
  if (request.promotion_margin() > 0 && request.model().empty())
    return InvalidArgument("promotion_margin: applies to a registry model; give the model too (--model NAME)");
  return OkStatus();
}

Status ValidateRegister(const v1::RegisterWorkerRequest& request) {
  if (request.slots() < 1 || request.slots() > kMaxSlotsPerWorker)
    return InvalidArgument("slots: must be between 1 and " + std::to_string(kMaxSlotsPerWorker) + ", found " +
                           std::to_string(request.slots()));
  if (request.slot_kind() != "gpu" && request.slot_kind() != "cpu")
    return InvalidArgument("slot_kind: must be \"gpu\" or \"cpu\", found \"" + request.slot_kind() + "\"");
  if (request.hostname().empty() || request.hostname().size() > 255)
    return InvalidArgument("hostname: must be 1 to 255 characters");
  if (request.gpu_memory_bytes_size() > 0 &&
      (request.slot_kind() != "gpu" || request.gpu_memory_bytes_size() != request.slots()))
    return InvalidArgument("gpu_memory_bytes: one entry per GPU slot (" + std::to_string(request.slots()) + " " +
                           request.slot_kind() + " slots), found " + std::to_string(request.gpu_memory_bytes_size()));
  for (int64_t bytes : request.gpu_memory_bytes())
    if (bytes <= 0) return InvalidArgument("gpu_memory_bytes: every GPU's memory must be positive, found " + std::to_string(bytes));
  return OkStatus();
}

Status ValidateLease(const v1::LeaseAttemptsRequest& request) {
  RETURN_IF_ERROR(CheckWorkerId(request.worker_id()));
  if (request.free_slots() < 0 || request.free_slots() > kMaxSlotsPerWorker)
    return InvalidArgument("free_slots: must be between 0 and " + std::to_string(kMaxSlotsPerWorker));
  if (request.gpus_size() > kMaxSlotsPerWorker)
    return InvalidArgument("gpus: more than a worker can hold (" + std::to_string(kMaxSlotsPerWorker) + ")");
  if (request.memory_available_bytes() < 0)
    return InvalidArgument("memory_available_bytes: must be 0 (not known) or more, found " +
                           std::to_string(request.memory_available_bytes()));
  if (request.threads_per_slot() < 0 || request.threads_per_slot() > kMaxSlotsPerWorker)
    return InvalidArgument("threads_per_slot: must be between 0 (not known) and " + std::to_string(kMaxSlotsPerWorker));
  for (const v1::GpuRoom& gpu : request.gpus()) {
    if (gpu.index() < 0 || gpu.total_bytes() <= 0 || gpu.free_bytes() < 0 || gpu.free_bytes() > gpu.total_bytes())
      return InvalidArgument("gpus: GPU " + std::to_string(gpu.index()) + " needs an index >= 0, total_bytes > 0 and "
                             "free_bytes between 0 and total_bytes");
  }
  return OkStatus();
}

Status ValidateHeartbeat(const v1::HeartbeatRequest& request) {
  RETURN_IF_ERROR(CheckWorkerId(request.worker_id()));
  if (request.running_attempt_ids_size() > kMaxSlotsPerWorker)
    return InvalidArgument("running_attempt_ids: " + std::to_string(request.running_attempt_ids_size()) +
                           " attempts, more than a worker can hold (" + std::to_string(kMaxSlotsPerWorker) + ")");
  for (int64_t id : request.running_attempt_ids()) RETURN_IF_ERROR(ValidateId("running_attempt_ids", id));
  return OkStatus();
}

Status ValidateDeregister(const v1::DeregisterWorkerRequest& request) { return CheckWorkerId(request.worker_id()); }

Status ValidateTrialLog(const v1::GetTrialLogRequest& request) {
  RETURN_IF_ERROR(ValidateId("trial_id", request.trial_id()));
  if (request.attempt() < 0) return InvalidArgument("attempt: must be 1 or more, or 0 for the latest");
  if (request.tail_bytes() < 0 || request.tail_bytes() > kMaxLogTailBytes)
    return InvalidArgument("tail_bytes: must be between 0 (1 MiB) and " + std::to_string(kMaxLogTailBytes));
  return OkStatus();
}

Status ValidateMetricsQuery(int64_t trial_id, const std::string& name) {
  RETURN_IF_ERROR(ValidateId("trial_id", trial_id));
  return name.empty() ? OkStatus() : CheckMetricName(name, -1);
}

Status ValidateExit(const v1::ReportAttemptExitRequest& request) {
  RETURN_IF_ERROR(CheckWorkerId(request.worker_id()));
  RETURN_IF_ERROR(ValidateId("attempt_id", request.attempt_id()));
  if (request.reason().size() > 64 * 1024) return InvalidArgument("reason: longer than 64 KiB");
  if (!std::isfinite(request.cpu_seconds()) || request.cpu_seconds() < 0)
    return InvalidArgument("cpu_seconds: must be a finite number, 0 or more");
  if (request.peak_memory_bytes() < 0) return InvalidArgument("peak_memory_bytes: must not be negative");
  if (request.gpu_peak_memory_bytes() < 0) return InvalidArgument("gpu_peak_memory_bytes: must not be negative");
  if (!(request.gpu_utilization_percent() >= 0 && request.gpu_utilization_percent() <= 100))
    return InvalidArgument("gpu_utilization_percent: must be a number from 0 to 100");
  // provenance_json and parameter_digest are checked where they are kept (ProvenanceProblem): a bad
  // one is dropped, never the exit with it.
  return OkStatus();
}

std::string ProvenanceProblem(const v1::ReportAttemptExitRequest& request) {
  if (request.provenance_json().size() > kMaxProvenanceBytes)
    return "its provenance is longer than " + std::to_string(kMaxProvenanceBytes >> 20) + " MiB";
  if (!request.provenance_json().empty()) {
    const StatusOr<Provenance> parsed = ParseProvenance(request.provenance_json());
    if (!parsed.ok()) return parsed.status().message();
  }
  const std::string& digest = request.parameter_digest();
  if (!digest.empty() && (digest.size() != 64 || digest.find_first_not_of("0123456789abcdef") != std::string::npos))
    return "parameter_digest: expected 64 lowercase hex digits (SHA-256), found \"" + digest.substr(0, 80) + "\"";
  return "";
}

Status ValidateMetrics(const v1::ReportMetricsRequest& request) {
  RETURN_IF_ERROR(CheckAttempt(request.attempt_id(), request.token()));
  if (request.points_size() > kMaxPointsPerReport)
    return InvalidArgument("points: " + std::to_string(request.points_size()) + " in one report; at most " +
                           std::to_string(kMaxPointsPerReport) + " are allowed, send them in several reports");
  for (int i = 0; i < request.points_size(); ++i) {
    const v1::MetricPoint& p = request.points(i);
    RETURN_IF_ERROR(CheckMetricName(p.name(), i));
    if (p.step() < 0) return InvalidArgument("points[" + std::to_string(i) + "].step: must not be negative");
    if (!std::isfinite(p.value()))
      return InvalidArgument("points[" + std::to_string(i) + "].value: " + p.name() +
                             " is not a finite number; report divergence as the attempt's exit instead");
  }
  return OkStatus();
}

Status ValidateCheckpoint(const v1::ReportCheckpointRequest& request) {
  RETURN_IF_ERROR(CheckAttempt(request.attempt_id(), request.token()));
  if (request.step() < 0) return InvalidArgument("step: must not be negative");
  if (!IsConfinedRelativePath(request.path()))
    return InvalidArgument("path: '" + request.path() + "' must be relative to the storage root, without '..'");
  return OkStatus();
}

}  // namespace orchard::coordinator
