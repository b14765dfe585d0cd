// The Coordinator's side of the model registry (registry/model_registry.h does the work).
#include "coordinator/coordinator.h"

#include "coordinator/request_validation.h"

namespace orchard::coordinator {

StatusOr<std::vector<v1::ModelSummary>> Coordinator::ListModels(const std::optional<std::string>& owner) {
  const auto lock = LockSettled();
  return registry_->ListModels(owner);
}

StatusOr<v1::Model> Coordinator::GetModel(const std::string& name) {
  RETURN_IF_ERROR(ValidateModelName("name", name));
  const auto lock = LockSettled();
  return registry_->GetModel(name);
}

StatusOr<std::string> Coordinator::ModelOwner(const std::string& name) {
  RETURN_IF_ERROR(ValidateModelName("model", name));
  const auto lock = LockSettled();
  ASSIGN_OR_RETURN(const std::optional<ModelRecord> record, store_->LoadModel(name));
  if (!record) return NotFound("model " + name + " does not exist (orchard models list shows the models)");
  return record->owner;
}

StatusOr<v1::Model> Coordinator::PromoteTrial(const std::string& model, int64_t trial_id, const std::string& user) {
  RETURN_IF_ERROR(ValidateModelName("model", model));
  RETURN_IF_ERROR(ValidateId("trial_id", trial_id));
  const auto lock = LockSettled();
  Transaction tx = store_->Begin();
  RETURN_IF_ERROR(tx.status());
  ASSIGN_OR_RETURN(v1::Model promoted, registry_->PromoteTrial(model, trial_id, user, Now()));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return promoted;
}

StatusOr<v1::Model> Coordinator::RollbackModel(const std::string& model, const std::string& user) {
  RETURN_IF_ERROR(ValidateModelName("model", model));
  const auto lock = LockSettled();
  Transaction tx = store_->Begin();
  RETURN_IF_ERROR(tx.status());
  ASSIGN_OR_RETURN(v1::Model rolled_back, registry_->Rollback(model, user, Now()));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return rolled_back;
}

}  // namespace orchard::coordinator
