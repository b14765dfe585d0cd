#include "coordinator/server/caller.h"
#include "coordinator/server/services.h"

namespace orchard::coordinator {

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
  auto schedules = coordinator_.ListSchedules(owner);
  if (!schedules.ok()) return ToGrpcStatus(schedules.status());
  for (auto& schedule : *schedules) *response->add_schedules() = std::move(schedule);
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

}  // namespace orchard::coordinator
