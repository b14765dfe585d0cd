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

grpc::Status TrialServiceImpl::ReportCheckpoint(grpc::ServerContext*, const v1::ReportCheckpointRequest* request,
                                                v1::ReportCheckpointResponse* response) {
  auto decision = coordinator_.ReportCheckpoint(*request);
  if (!decision.ok()) return ToGrpcStatus(decision.status());
  response->set_decision(*decision);
  return grpc::Status::OK;
}

}  // namespace orchard::coordinator
