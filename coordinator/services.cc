#include "coordinator/services.h"

namespace orchard::coordinator {

grpc::Status ToGrpcStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, status.message()};
    case StatusCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, status.message()};
    case StatusCode::kFailedPrecondition: return {grpc::StatusCode::FAILED_PRECONDITION, status.message()};
    case StatusCode::kPermissionDenied: return {grpc::StatusCode::PERMISSION_DENIED, status.message()};
    case StatusCode::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, status.message()};
    case StatusCode::kAborted: return {grpc::StatusCode::ABORTED, status.message()};
    case StatusCode::kDeadlineExceeded: return {grpc::StatusCode::DEADLINE_EXCEEDED, status.message()};
    case StatusCode::kDataLoss: return {grpc::StatusCode::DATA_LOSS, status.message()};
    case StatusCode::kInternal: return {grpc::StatusCode::INTERNAL, status.message()};
  }
  return {grpc::StatusCode::UNKNOWN, status.message()};
}

namespace {

// Copies a StatusOr's value into the response, or converts its error.
template <typename T, typename Response>
grpc::Status Answer(StatusOr<T> result, Response* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(result).value();
  return grpc::Status::OK;
}

}  // namespace

grpc::Status SweepServiceImpl::SubmitSweep(grpc::ServerContext*, const v1::SubmitSweepRequest* request,
                                           v1::SubmitSweepResponse* response) {
  return Answer(coordinator_.Submit(*request), response->mutable_sweep());
}

grpc::Status SweepServiceImpl::GetSweep(grpc::ServerContext*, const v1::GetSweepRequest* request, v1::Sweep* response) {
  return Answer(coordinator_.GetSweep(request->sweep_id()), response);
}

grpc::Status SweepServiceImpl::ListSweeps(grpc::ServerContext*, const v1::ListSweepsRequest* request,
                                          v1::ListSweepsResponse* response) {
  if (request->limit() < 0) return {grpc::StatusCode::INVALID_ARGUMENT, "limit: must not be negative"};
  for (auto& sweep : coordinator_.ListSweeps(request->limit())) *response->add_sweeps() = std::move(sweep);
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::CancelSweep(grpc::ServerContext*, const v1::CancelSweepRequest* request,
                                           v1::Sweep* response) {
  return Answer(coordinator_.Cancel(request->sweep_id()), response);
}

grpc::Status SweepServiceImpl::ListTrials(grpc::ServerContext*, const v1::ListTrialsRequest* request,
                                          v1::ListTrialsResponse* response) {
  auto trials = coordinator_.ListTrials(request->sweep_id());
  if (!trials.ok()) return ToGrpcStatus(trials.status());
  for (auto& trial : *trials) *response->add_trials() = std::move(trial);
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::GetTrialMetrics(grpc::ServerContext*, const v1::GetTrialMetricsRequest* request,
                                               v1::GetTrialMetricsResponse* response) {
  auto points = coordinator_.TrialMetrics(request->trial_id(), request->name());
  if (!points.ok()) return ToGrpcStatus(points.status());
  for (auto& point : *points) *response->add_points() = std::move(point);
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::GetBestTrial(grpc::ServerContext*, const v1::GetBestTrialRequest* request,
                                            v1::Trial* response) {
  return Answer(coordinator_.BestTrial(request->sweep_id()), response);
}

grpc::Status SweepServiceImpl::GetTrialLog(grpc::ServerContext*, const v1::GetTrialLogRequest* request,
                                           v1::GetTrialLogResponse* response) {
  return Answer(coordinator_.TrialLog(*request), response);
}

grpc::Status SweepServiceImpl::WatchSweep(grpc::ServerContext* context, const v1::WatchSweepRequest* request,
                                          grpc::ServerWriter<v1::SweepEvent>* writer) {
  // First the sweep as it is now with its latest event, then every later event as it happens.
  auto first = coordinator_.EventsAfter(request->sweep_id(), 0);
  if (!first.ok()) return ToGrpcStatus(first.status());
  v1::SweepEvent event;
  *event.mutable_sweep() = first->sweep;
  int64_t last_id = 0;
  if (!first->events.empty()) {
    last_id = first->events.back().id;
    event.set_message(first->events.back().message);
    event.set_time(first->events.back().time);
  }
  if (!writer->Write(event)) return grpc::Status::OK;
  uint64_t version = coordinator_.version();
  while (first->sweep.state() == v1::SWEEP_RUNNING || first->sweep.trials_by_state().count("running")) {
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    version = coordinator_.WaitForChange(version, 1.0);
    first = coordinator_.EventsAfter(request->sweep_id(), last_id);
    if (!first.ok()) return ToGrpcStatus(first.status());
    for (const EventRecord& record : first->events) {
      v1::SweepEvent next;
      *next.mutable_sweep() = first->sweep;
      next.set_message(record.message);
      next.set_time(record.time);
      if (!writer->Write(next)) return grpc::Status::OK;
      last_id = record.id;
    }
  }
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                                           v1::ListWorkersResponse* response) {
  for (auto& worker : coordinator_.ListWorkers()) *response->add_workers() = std::move(worker);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::RegisterWorker(grpc::ServerContext*, const v1::RegisterWorkerRequest* request,
                                               v1::RegisterWorkerResponse* response) {
  return Answer(coordinator_.RegisterWorker(*request), response);
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* response) {
  return Answer(coordinator_.Heartbeat(*request), response);
}

grpc::Status WorkerServiceImpl::LeaseAttempts(grpc::ServerContext*, const v1::LeaseAttemptsRequest* request,
                                              v1::LeaseAttemptsResponse* response) {
  return Answer(coordinator_.LeaseAttempts(*request), response);
}

grpc::Status WorkerServiceImpl::ReportAttemptExit(grpc::ServerContext*, const v1::ReportAttemptExitRequest* request,
                                                  v1::ReportAttemptExitResponse*) {
  return ToGrpcStatus(coordinator_.ReportAttemptExit(*request));
}

grpc::Status WorkerServiceImpl::DeregisterWorker(grpc::ServerContext*, const v1::DeregisterWorkerRequest* request,
                                                 v1::DeregisterWorkerResponse*) {
  return ToGrpcStatus(coordinator_.DeregisterWorker(*request));
}

grpc::Status TrialServiceImpl::ReportMetrics(grpc::ServerContext*, const v1::ReportMetricsRequest* request,
                                             v1::ReportMetricsResponse* response) {
  auto decision = coordinator_.ReportMetrics(*request);
  if (!decision.ok()) return ToGrpcStatus(decision.status());
  response->set_decision(*decision);
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
