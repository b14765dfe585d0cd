#include "coordinator/server/caller.h"
#include "coordinator/server/services.h"

namespace orchard::coordinator {

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
  auto models = coordinator_.ListModels(owner);
  if (!models.ok()) return ToGrpcStatus(models.status());
  for (auto& model : *models) *response->add_models() = std::move(model);
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

}  // namespace orchard::coordinator
