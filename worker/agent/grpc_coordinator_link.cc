#include "worker/agent/grpc_coordinator_link.h"

#include <grpcpp/grpcpp.h>

#include "orchard/v1/trial_service.grpc.pb.h"
#include "orchard/v1/worker_service.grpc.pb.h"

namespace orchard::worker {
namespace {

// The status of a call that failed.
Status FromGrpcStatus(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT: return InvalidArgument(status.error_message());
    case grpc::StatusCode::NOT_FOUND: return NotFound(status.error_message());
    case grpc::StatusCode::FAILED_PRECONDITION: return FailedPrecondition(status.error_message());
    case grpc::StatusCode::PERMISSION_DENIED: return PermissionDenied(status.error_message());
    case grpc::StatusCode::UNAUTHENTICATED: return Unauthenticated(status.error_message());
    case grpc::StatusCode::UNAVAILABLE: return Unavailable(status.error_message());
    case grpc::StatusCode::DEADLINE_EXCEEDED: return DeadlineExceeded(status.error_message());
    case grpc::StatusCode::ABORTED: return Aborted(status.error_message());
    case grpc::StatusCode::DATA_LOSS: return DataLoss(status.error_message());
    default: return Internal(status.error_message());
  }
}

// One unary call of `stub` with a deadline: the response, or the call's status as a Status.
template <typename Stub, typename Request, typename Response>
StatusOr<Response> Call(Stub& stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                        const Request& request, CoordinatorLink::Deadline deadline) {
  grpc::ClientContext context;
  context.set_deadline(deadline);
  Response response;
  const grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

class GrpcCoordinatorLink final : public CoordinatorLink {
 public:
  explicit GrpcCoordinatorLink(std::shared_ptr<grpc::Channel> channel)
      : workers_(v1::WorkerService::NewStub(channel)), trials_(v1::TrialService::NewStub(channel)) {}

  StatusOr<v1::RegisterWorkerResponse> RegisterWorker(const v1::RegisterWorkerRequest& request,
                                                      Deadline deadline) override {
    return Call(*workers_, &v1::WorkerService::Stub::RegisterWorker, request, deadline);
  }
  StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request, Deadline deadline) override {
    return Call(*workers_, &v1::WorkerService::Stub::Heartbeat, request, deadline);
  }
  StatusOr<v1::LeaseAttemptsResponse> LeaseAttempts(const v1::LeaseAttemptsRequest& request,
                                                    Deadline deadline) override {
    return Call(*workers_, &v1::WorkerService::Stub::LeaseAttempts, request, deadline);
  }
  Status ReportAttemptExit(const v1::ReportAttemptExitRequest& request, Deadline deadline) override {
    return Call(*workers_, &v1::WorkerService::Stub::ReportAttemptExit, request, deadline).status();
  }
  Status DeregisterWorker(const v1::DeregisterWorkerRequest& request, Deadline deadline) override {
    return Call(*workers_, &v1::WorkerService::Stub::DeregisterWorker, request, deadline).status();
  }
  StatusOr<std::vector<StatusOr<v1::ReportMetricsResponse>>> ReportMetricsBatch(
      const v1::ReportMetricsBatchRequest& request, Deadline deadline) override {
    grpc::ClientContext context;
    context.set_deadline(deadline);
    v1::ReportMetricsBatchResponse response;
    const grpc::Status status = trials_->ReportMetricsBatch(&context, request, &response);
    std::vector<StatusOr<v1::ReportMetricsResponse>> outcomes;
    // A coordinator older than the batch call (during an upgrade): each report in a call of its own.
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      for (const v1::ReportMetricsRequest& report : request.reports())
        outcomes.push_back(Call(*trials_, &v1::TrialService::Stub::ReportMetrics, report, deadline));
      return outcomes;
    }
    if (!status.ok()) return FromGrpcStatus(status);
    if (response.outcomes_size() != request.reports_size())
      return Internal("the coordinator answered " + std::to_string(response.outcomes_size()) + " of " +
                      std::to_string(request.reports_size()) + " reports");
    for (const v1::ReportOutcome& outcome : response.outcomes()) {
      if (outcome.code() == grpc::StatusCode::OK) outcomes.emplace_back(outcome.response());
      else outcomes.emplace_back(FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(outcome.code()), outcome.message())));
    }
    return outcomes;
  }
  StatusOr<v1::ReportCheckpointResponse> ReportCheckpoint(const v1::ReportCheckpointRequest& request,
                                                          Deadline deadline) override {
    return Call(*trials_, &v1::TrialService::Stub::ReportCheckpoint, request, deadline);
  }

 private:
  std::unique_ptr<v1::WorkerService::Stub> workers_;
  std::unique_ptr<v1::TrialService::Stub> trials_;
};

}  // namespace

std::unique_ptr<CoordinatorLink> MakeGrpcCoordinatorLink(const std::string& address,
                                                         const client::ClientSecurity& security) {
  return std::make_unique<GrpcCoordinatorLink>(client::CreateCoordinatorChannel(address, security));
}

}  // namespace orchard::worker
