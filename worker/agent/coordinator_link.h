// Every call the worker agent makes to the coordinator, one method per RPC of WorkerService and
// TrialService (proto/orchard/v1/), so that the agent can run against a fake in tests.
//
//   std::unique_ptr<CoordinatorLink> link = MakeGrpcCoordinatorLink("host:7070", security);
//   StatusOr<v1::LeaseAttemptsResponse> leased = link->LeaseAttempts(request, deadline);
//   if (!leased.ok() && !IsRefusal(leased.status())) ...  // unreachable: try again later
//
// A failed call's Status carries the coordinator's answer as a code: a refusal (IsRefusal) is an
// answer that retrying cannot change; any other failure (unreachable, timed out, an internal error
// while the coordinator restarts) may succeed when tried again. Each call gives up at `deadline`.
// Implementations are thread-safe: the agent's heartbeat thread calls Heartbeat while its loop
// makes the other calls.
#pragma once

#include <chrono>
#include <vector>

#include "core/status.h"
#include "orchard/v1/trial_service.pb.h"
#include "orchard/v1/worker_service.pb.h"

namespace orchard::worker {

class CoordinatorLink {
 public:
  using Deadline = std::chrono::system_clock::time_point;

  virtual ~CoordinatorLink() = default;

  virtual StatusOr<v1::RegisterWorkerResponse> RegisterWorker(const v1::RegisterWorkerRequest& request,
                                                              Deadline deadline) = 0;
  // NotFound: the coordinator declared this worker lost (or never knew it).
  virtual StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request, Deadline deadline) = 0;
  // A successful lease renews this worker's lease as a heartbeat does.
  virtual StatusOr<v1::LeaseAttemptsResponse> LeaseAttempts(const v1::LeaseAttemptsRequest& request,
                                                            Deadline deadline) = 0;
  virtual Status ReportAttemptExit(const v1::ReportAttemptExitRequest& request, Deadline deadline) = 0;
  virtual Status DeregisterWorker(const v1::DeregisterWorkerRequest& request, Deadline deadline) = 0;
  // Each report's answer, in the request's order, or the call's own failure. A report's
  // FailedPrecondition: its attempt has ended (its token no longer authorises reports).
  virtual StatusOr<std::vector<StatusOr<v1::ReportMetricsResponse>>> ReportMetricsBatch(
      const v1::ReportMetricsBatchRequest& request, Deadline deadline) = 0;
  virtual StatusOr<v1::ReportCheckpointResponse> ReportCheckpoint(const v1::ReportCheckpointRequest& request,
                                                                  Deadline deadline) = 0;
};

// An answer that retrying cannot change: the coordinator refused the call.
inline bool IsRefusal(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kPermissionDenied:
    case StatusCode::kUnauthenticated:
      return true;
    default:
      return false;
  }
}

// Delivered, or refused for good: either way the call is done.
inline bool IsSettled(const Status& status) { return status.ok() || IsRefusal(status); }

}  // namespace orchard::worker
