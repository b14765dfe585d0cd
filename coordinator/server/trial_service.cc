#include "coordinator/server/caller.h"
#include "coordinator/server/services.h"

namespace orchard::coordinator {

grpc::Status TrialServiceImpl::ReportMetrics(grpc::ServerContext*, const v1::ReportMetricsRequest* request,
                                             v1::ReportMetricsResponse* response) {
  auto answer = coordinator_.ReportMetrics(*request);
  if (!answer.ok()) return ToGrpcStatus(answer.status());
  *response = *std::move(answer);
  return grpc::Status::OK;
}

grpc::Status TrialServiceImpl::ReportMetricsBatch(grpc::ServerContext*, const v1::ReportMetricsBatchRequest* request,
                                                  v1::ReportMetricsBatchResponse* response) {
  auto outcomes = coordinator_.ReportMetricsBatch(*request);
  if (!outcomes.ok()) return ToGrpcStatus(outcomes.status());
  for (StatusOr<v1::ReportMetricsResponse>& answer : *outcomes) {
    v1::ReportOutcome* outcome = response->add_outcomes();
    if (answer.ok()) {
      *outcome->mutable_response() = *std::move(answer);
    } else {
      const grpc::Status status = ToGrpcStatus(answer.status());
      outcome->set_code(status.error_code());
      outcome->set_message(status.error_message());
    }
  }
  return grpc::Status::OK;
}

grpc::Status TrialServiceImpl::ReportCheckpoint(grpc::ServerContext*, const v1::ReportCheckpointRequest* request,
                                                v1::ReportCheckpointResponse* response) {
  auto decision = coordinator_.ReportCheckpoint(*request);
  if (!decision.ok()) return ToGrpcStatus(decision.status());
  response->set_decision(*decision);
  return grpc::Status::OK;
}

}  // namespace orchard::coordinator
