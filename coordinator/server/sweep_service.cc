#include <chrono>

#include "coordinator/server/caller.h"
#include "coordinator/server/json_api.h"
#include "coordinator/server/services.h"

namespace orchard::coordinator {

StatusOr<Principal> SweepServiceImpl::CallingUser(const grpc::ServerContext& context) {
  return orchard::coordinator::CallingUser(context, credentials_);
}

Status SweepServiceImpl::MayAccessSweep(const grpc::ServerContext& context, int64_t sweep_id) {
  ASSIGN_OR_RETURN(Principal caller, CallingUser(context));
  return MayAccess(caller, coordinator_.SweepOwner(sweep_id), "sweep " + std::to_string(sweep_id));
}

Status SweepServiceImpl::MayAccessTrial(const grpc::ServerContext& context, int64_t trial_id) {
  ASSIGN_OR_RETURN(Principal caller, CallingUser(context));
  return MayAccess(caller, coordinator_.TrialOwner(trial_id), "trial " + std::to_string(trial_id));
}

grpc::Status SweepServiceImpl::SubmitSweep(grpc::ServerContext* context, const v1::SubmitSweepRequest* request,
                                           v1::SubmitSweepResponse* response) {
  auto caller = CallingUser(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return Answer(coordinator_.Submit(*request, caller->name), response->mutable_sweep());
}

grpc::Status SweepServiceImpl::GetSweep(grpc::ServerContext* context, const v1::GetSweepRequest* request,
                                        v1::Sweep* response) {
  if (Status allowed = MayAccessSweep(*context, request->sweep_id()); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.GetSweep(request->sweep_id()), response);
}

grpc::Status SweepServiceImpl::ListSweeps(grpc::ServerContext* context, const v1::ListSweepsRequest* request,
                                          v1::ListSweepsResponse* response) {
  auto caller = CallingUser(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  const auto owner = caller->is_admin() ? std::nullopt : std::optional<std::string>(caller->name);
  auto sweeps = coordinator_.ListSweeps(request->page_size(), request->page_token(), owner);
  if (!sweeps.ok()) return ToGrpcStatus(sweeps.status());
  *response = PageAnswer(std::move(*sweeps), &v1::ListSweepsResponse::mutable_sweeps);
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::CancelSweep(grpc::ServerContext* context, const v1::CancelSweepRequest* request,
                                           v1::Sweep* response) {
  if (Status allowed = MayAccessSweep(*context, request->sweep_id()); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.Cancel(request->sweep_id()), response);
}

grpc::Status SweepServiceImpl::ListTrials(grpc::ServerContext* context, const v1::ListTrialsRequest* request,
                                          v1::ListTrialsResponse* response) {
  if (Status allowed = MayAccessSweep(*context, request->sweep_id()); !allowed.ok()) return ToGrpcStatus(allowed);
  auto trials = coordinator_.ListTrialsPage(request->sweep_id(), request->page_size(), request->page_token());
  if (!trials.ok()) return ToGrpcStatus(trials.status());
  *response = PageAnswer(std::move(*trials), &v1::ListTrialsResponse::mutable_trials);
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::GetTrialMetrics(grpc::ServerContext* context, const v1::GetTrialMetricsRequest* request,
                                               v1::GetTrialMetricsResponse* response) {
  if (Status allowed = MayAccessTrial(*context, request->trial_id()); !allowed.ok()) return ToGrpcStatus(allowed);
  auto points = coordinator_.TrialMetrics(request->trial_id(), request->name(), request->page_size(),
                                          request->page_token());
  if (!points.ok()) return ToGrpcStatus(points.status());
  *response = PageAnswer(std::move(*points), &v1::GetTrialMetricsResponse::mutable_points);
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::GetBestTrial(grpc::ServerContext* context, const v1::GetBestTrialRequest* request,
                                            v1::Trial* response) {
  if (Status allowed = MayAccessSweep(*context, request->sweep_id()); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.BestTrial(request->sweep_id()), response);
}

grpc::Status SweepServiceImpl::GetTrialLog(grpc::ServerContext* context, const v1::GetTrialLogRequest* request,
                                           v1::GetTrialLogResponse* response) {
  if (Status allowed = MayAccessTrial(*context, request->trial_id()); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.TrialLog(*request), response);
}

grpc::Status SweepServiceImpl::GetTrialLineage(grpc::ServerContext* context, const v1::GetTrialLineageRequest* request,
                                               v1::TrialLineage* response) {
  if (Status allowed = MayAccessTrial(*context, request->trial_id()); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.TrialLineage(request->trial_id()), response);
}

grpc::Status SweepServiceImpl::WatchSweep(grpc::ServerContext* context, const v1::WatchSweepRequest* request,
                                          grpc::ServerWriter<v1::SweepEvent>* writer) {
  if (Status allowed = MayAccessSweep(*context, request->sweep_id()); !allowed.ok()) return ToGrpcStatus(allowed);
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

grpc::Status SweepServiceImpl::ListWorkers(grpc::ServerContext* context, const v1::ListWorkersRequest*,
                                           v1::ListWorkersResponse* response) {
  // Every user may see the cluster's capacity.
  if (auto caller = CallingUser(*context); !caller.ok()) return ToGrpcStatus(caller.status());
  auto workers = coordinator_.ListWorkers();
  if (!workers.ok()) return ToGrpcStatus(workers.status());
  for (auto& worker : *workers) *response->add_workers() = std::move(worker);
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::GetSweepReport(grpc::ServerContext* context, const v1::GetSweepReportRequest* request,
                                              v1::GetSweepReportResponse* response) {
  auto caller = CallingUser(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (Status allowed = MayAccess(*caller, coordinator_.SweepOwner(request->sweep_id()),
                                 "sweep " + std::to_string(request->sweep_id()));
      !allowed.ok())
    return ToGrpcStatus(allowed);
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  HttpAnswer report = JsonApi(coordinator_, credentials_ != nullptr).SweepReport(*caller, request->sweep_id(), now);
  if (report.status != 200) return {grpc::StatusCode::INTERNAL, report.body};
  response->set_html(std::move(report.body));
  return grpc::Status::OK;
}

}  // namespace orchard::coordinator
