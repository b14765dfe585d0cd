#include "coordinator/services.h"

namespace orchard::coordinator {

grpc::Status ToGrpcStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, status.message()};
    case StatusCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, status.message()};
    case StatusCode::kFailedPrecondition: return {grpc::StatusCode::FAILED_PRECONDITION, status.message()};
    case StatusCode::kPermissionDenied: return {grpc::StatusCode::PERMISSION_DENIED, status.message()};
    case StatusCode::kUnauthenticated: return {grpc::StatusCode::UNAUTHENTICATED, status.message()};
    case StatusCode::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, status.message()};
    case StatusCode::kAborted: return {grpc::StatusCode::ABORTED, status.message()};
    case StatusCode::kDeadlineExceeded: return {grpc::StatusCode::DEADLINE_EXCEEDED, status.message()};
    case StatusCode::kDataLoss: return {grpc::StatusCode::DATA_LOSS, status.message()};
    case StatusCode::kInternal: return {grpc::StatusCode::INTERNAL, status.message()};
  }
  return {grpc::StatusCode::UNKNOWN, status.message()};
}

namespace {

// The caller the call's bearer token names; the local admin when authentication is off.
StatusOr<Principal> Caller(const grpc::ServerContext& context, CredentialStore* credentials) {
  if (credentials == nullptr) return Principal{Principal::Role::kAdmin, kLocalUser};
  const auto& metadata = context.client_metadata();
  const auto header = metadata.find("authorization");
  if (header == metadata.end())
    return Unauthenticated("this coordinator requires a bearer token: pass --token-file FILE or set ORCHARD_TOKEN "
                           "(an admin issues tokens with `orchard-coordinator user add NAME`)");
  const auto token = BearerToken(std::string_view(header->second.data(), header->second.size()));
  if (!token) return Unauthenticated("the authorization metadata must be \"Bearer TOKEN\"");
  return credentials->Authenticate(*token);
}

// The caller, who must be a user (or admin): the CLI-facing services refuse worker tokens.
StatusOr<Principal> CallingUser(const grpc::ServerContext& context, CredentialStore* credentials) {
  ASSIGN_OR_RETURN(Principal caller, Caller(context, credentials));
  if (!caller.is_user())
    return PermissionDenied("a worker token cannot use the sweep, schedule or registry services; use a user's token "
                            "(`orchard-coordinator user token NAME` issues one)");
  return caller;
}

Status MayAccess(const Principal& caller, const StatusOr<std::string>& owner, const std::string& what) {
  if (!owner.ok()) return owner.status();
  if (caller.is_admin() || *owner == caller.name) return OkStatus();
  return PermissionDenied(what + " belongs to another user; only its owner or an admin may see or change it");
}

// Copies a StatusOr's value into the response, or converts its error.
template <typename T, typename Response>
grpc::Status Answer(StatusOr<T> result, Response* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(result).value();
  return grpc::Status::OK;
}

}  // namespace

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
  if (request->limit() < 0) return {grpc::StatusCode::INVALID_ARGUMENT, "limit: must not be negative"};
  const auto owner = caller->is_admin() ? std::nullopt : std::optional<std::string>(caller->name);
  for (auto& sweep : coordinator_.ListSweeps(request->limit(), owner)) *response->add_sweeps() = std::move(sweep);
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
  auto trials = coordinator_.ListTrials(request->sweep_id());
  if (!trials.ok()) return ToGrpcStatus(trials.status());
  for (auto& trial : *trials) *response->add_trials() = std::move(trial);
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::GetTrialMetrics(grpc::ServerContext* context, const v1::GetTrialMetricsRequest* request,
                                               v1::GetTrialMetricsResponse* response) {
  if (Status allowed = MayAccessTrial(*context, request->trial_id()); !allowed.ok()) return ToGrpcStatus(allowed);
  auto points = coordinator_.TrialMetrics(request->trial_id(), request->name());
  if (!points.ok()) return ToGrpcStatus(points.status());
  for (auto& point : *points) *response->add_points() = std::move(point);
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
  for (auto& worker : coordinator_.ListWorkers()) *response->add_workers() = std::move(worker);
  return grpc::Status::OK;
}

Status ScheduleServiceImpl::MayAccessSchedule(const grpc::ServerContext& context, const std::string& name) {
  ASSIGN_OR_RETURN(Principal caller, CallingUser(context, credentials_));
  return MayAccess(caller, coordinator_.ScheduleOwner(name), "schedule " + name);
}

grpc::Status ScheduleServiceImpl::AddSchedule(grpc::ServerContext* context, const v1::AddScheduleRequest* request,
                                              v1::AddScheduleResponse* response) {
  auto caller = CallingUser(*context, credentials_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  // A new version of an existing schedule needs the right to change it; a new name is the caller's.
  const StatusOr<std::string> owner = coordinator_.ScheduleOwner(request->name());
  if (owner.ok() || owner.status().code() != StatusCode::kNotFound) {
    if (Status allowed = MayAccess(*caller, owner, "schedule " + request->name()); !allowed.ok())
      return ToGrpcStatus(allowed);
  }
  return Answer(coordinator_.AddSchedule(*request, caller->name), response);
}

grpc::Status ScheduleServiceImpl::ListSchedules(grpc::ServerContext* context, const v1::ListSchedulesRequest*,
                                                v1::ListSchedulesResponse* response) {
  auto caller = CallingUser(*context, credentials_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  const auto owner = caller->is_admin() ? std::nullopt : std::optional<std::string>(caller->name);
  for (auto& schedule : coordinator_.ListSchedules(owner)) *response->add_schedules() = std::move(schedule);
  return grpc::Status::OK;
}

grpc::Status ScheduleServiceImpl::GetSchedule(grpc::ServerContext* context, const v1::GetScheduleRequest* request,
                                              v1::ScheduleDetails* response) {
  if (Status allowed = MayAccessSchedule(*context, request->name()); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.GetSchedule(request->name(), request->runs_limit()), response);
}

grpc::Status ScheduleServiceImpl::PauseSchedule(grpc::ServerContext* context, const v1::PauseScheduleRequest* request,
                                                v1::Schedule* response) {
  if (Status allowed = MayAccessSchedule(*context, request->name()); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.PauseSchedule(request->name()), response);
}

grpc::Status ScheduleServiceImpl::ResumeSchedule(grpc::ServerContext* context, const v1::ResumeScheduleRequest* request,
                                                 v1::Schedule* response) {
  if (Status allowed = MayAccessSchedule(*context, request->name()); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.ResumeSchedule(request->name()), response);
}

grpc::Status ScheduleServiceImpl::RemoveSchedule(grpc::ServerContext* context, const v1::RemoveScheduleRequest* request,
                                                 v1::RemoveScheduleResponse*) {
  if (Status allowed = MayAccessSchedule(*context, request->name()); !allowed.ok()) return ToGrpcStatus(allowed);
  return ToGrpcStatus(coordinator_.RemoveSchedule(request->name()));
}

grpc::Status ScheduleServiceImpl::RunScheduleNow(grpc::ServerContext* context, const v1::RunScheduleNowRequest* request,
                                                 v1::ScheduleRun* response) {
  if (Status allowed = MayAccessSchedule(*context, request->name()); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.RunScheduleNow(request->name()), response);
}

StatusOr<Principal> ModelRegistryServiceImpl::MayAccessModel(const grpc::ServerContext& context,
                                                              const std::string& model) {
  ASSIGN_OR_RETURN(Principal caller, CallingUser(context, credentials_));
  RETURN_IF_ERROR(MayAccess(caller, coordinator_.ModelOwner(model), "model " + model));
  return caller;
}

grpc::Status ModelRegistryServiceImpl::ListModels(grpc::ServerContext* context, const v1::ListModelsRequest*,
                                                  v1::ListModelsResponse* response) {
  auto caller = CallingUser(*context, credentials_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  const auto owner = caller->is_admin() ? std::nullopt : std::optional<std::string>(caller->name);
  for (auto& model : coordinator_.ListModels(owner)) *response->add_models() = std::move(model);
  return grpc::Status::OK;
}

grpc::Status ModelRegistryServiceImpl::GetModel(grpc::ServerContext* context, const v1::GetModelRequest* request,
                                                v1::Model* response) {
  if (auto allowed = MayAccessModel(*context, request->name()); !allowed.ok()) return ToGrpcStatus(allowed.status());
  return Answer(coordinator_.GetModel(request->name()), response);
}

grpc::Status ModelRegistryServiceImpl::PromoteTrial(grpc::ServerContext* context, const v1::PromoteTrialRequest* request,
                                                    v1::Model* response) {
  auto caller = CallingUser(*context, credentials_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  // A new model is created for the caller; an existing one must be theirs, like the trial.
  const auto owner = coordinator_.ModelOwner(request->model());
  if (owner.ok() || owner.status().code() != StatusCode::kNotFound)
    if (Status allowed = MayAccess(*caller, owner, "model " + request->model()); !allowed.ok()) return ToGrpcStatus(allowed);
  if (Status allowed = MayAccess(*caller, coordinator_.TrialOwner(request->trial_id()), "trial " + std::to_string(request->trial_id()));
      !allowed.ok())
    return ToGrpcStatus(allowed);
  return Answer(coordinator_.PromoteTrial(request->model(), request->trial_id(), caller->name), response);
}

grpc::Status ModelRegistryServiceImpl::RollbackModel(grpc::ServerContext* context, const v1::RollbackModelRequest* request,
                                                     v1::Model* response) {
  auto caller = MayAccessModel(*context, request->model());
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return Answer(coordinator_.RollbackModel(request->model(), caller->name), response);
}

Status WorkerServiceImpl::CallingWorker(const grpc::ServerContext& context) {
  ASSIGN_OR_RETURN(Principal caller, Caller(context, credentials_));
  // Without authentication the caller is the local admin, who runs its own workers.
  if (caller.role != Principal::Role::kWorker && credentials_ != nullptr)
    return PermissionDenied("only worker agents may call the worker service; start orchard-worker with a worker "
                            "token (`orchard-coordinator worker-token create` issues one)");
  return OkStatus();
}

grpc::Status WorkerServiceImpl::RegisterWorker(grpc::ServerContext* context, const v1::RegisterWorkerRequest* request,
                                               v1::RegisterWorkerResponse* response) {
  if (Status allowed = CallingWorker(*context); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.RegisterWorker(*request), response);
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* response) {
  if (Status allowed = CallingWorker(*context); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.Heartbeat(*request), response);
}

grpc::Status WorkerServiceImpl::LeaseAttempts(grpc::ServerContext* context, const v1::LeaseAttemptsRequest* request,
                                              v1::LeaseAttemptsResponse* response) {
  if (Status allowed = CallingWorker(*context); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.LeaseAttempts(*request), response);
}

grpc::Status WorkerServiceImpl::ReportAttemptExit(grpc::ServerContext* context, const v1::ReportAttemptExitRequest* request,
                                                  v1::ReportAttemptExitResponse*) {
  if (Status allowed = CallingWorker(*context); !allowed.ok()) return ToGrpcStatus(allowed);
  return ToGrpcStatus(coordinator_.ReportAttemptExit(*request));
}

grpc::Status WorkerServiceImpl::DeregisterWorker(grpc::ServerContext* context, const v1::DeregisterWorkerRequest* request,
                                                 v1::DeregisterWorkerResponse*) {
  if (Status allowed = CallingWorker(*context); !allowed.ok()) return ToGrpcStatus(allowed);
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
