// Checks on every API request before it reaches the coordinator's state: sizes, ranges, names and
// numbers. Pure; each returns InvalidArgument naming the field, what was wrong and what is allowed.
#pragma once

#include "core/names.h"
#include "core/status.h"
#include "orchard/v1/schedule_service.pb.h"
#include "orchard/v1/sweep_service.pb.h"
#include "orchard/v1/trial_service.pb.h"
#include "orchard/v1/worker_service.pb.h"

namespace orchard::coordinator {

inline constexpr size_t kMaxRecipeBytes = 1 << 20;
inline constexpr int kMaxOverrides = 256;
inline constexpr int kMaxPointsPerReport = 10000;
inline constexpr int kMaxReportsPerBatch = 1000;  // in one ReportMetricsBatch call
inline constexpr int64_t kMaxSlotsPerWorker = 4096;
inline constexpr int64_t kMaxLogTailBytes = 64 << 20;

Status ValidateSubmit(const v1::SubmitSweepRequest& request);
Status ValidateRegister(const v1::RegisterWorkerRequest& request);
Status ValidateLease(const v1::LeaseAttemptsRequest& request);
Status ValidateHeartbeat(const v1::HeartbeatRequest& request);
Status ValidateDeregister(const v1::DeregisterWorkerRequest& request);
Status ValidateExit(const v1::ReportAttemptExitRequest& request);

// Why the exit's provenance or parameter digest cannot be kept ("" when both can): too large, not a
// provenance record (core/provenance.h), or not a SHA-256 in hex. The exit itself is kept either way.
std::string ProvenanceProblem(const v1::ReportAttemptExitRequest& request);
Status ValidateTrialLog(const v1::GetTrialLogRequest& request);
// A trial's metrics: `name` empty for all of them.
Status ValidateMetricsQuery(int64_t trial_id, const std::string& name);
Status ValidateMetrics(const v1::ReportMetricsRequest& request);
Status ValidateCheckpoint(const v1::ReportCheckpointRequest& request);
Status ValidateId(const char* field, int64_t id);
// The request's own fields; its recipe is checked as a submission once its variables are filled.
Status ValidateAddSchedule(const v1::AddScheduleRequest& request);
Status ValidateScheduleName(const std::string& name);
// A registry model's name, as IsValidName (it names the model's folder under registry/).
Status ValidateModelName(const char* field, const std::string& name);

// A path that stays inside the storage root: relative, no "..", no empty or "." components.
bool IsConfinedRelativePath(const std::string& path);

}  // namespace orchard::coordinator
