// The model registry: named models, their versions and one champion each (docs/registry.md).
//
//   ModelRegistry registry(store, storage_root, {canonical_storage_root});
//   ASSIGN_OR_RETURN(int64_t champion, registry.ClaimModel("digits", "alice", now));  // at submit
//   ...
//   ASSIGN_OR_RETURN(std::string event, registry.JudgeSweep(sweep, now));            // once it completed
//
// A version is a trial's checkpoint copied (hard links where possible) into
// <storage_root>/registry/<model>/v<version>/step-<n>, beside recipe.yaml, the recipe that trial
// trained; nothing under registry/ belongs to a trial, so checkpoint retention never touches it.
// A sweep submitted with a model challenges its champion: the champion is judged on the sweep's
// own validation data by an extra trial (kChampionEvaluationTrial) that a worker runs with
// orchard-train --evaluate-only, and when the sweep completes JudgeChallenger (promotion.h)
// decides between its best trial and that figure. Every decision is recorded with both figures.
//
// Not thread-safe: the coordinator calls it with its mutex held, inside the transaction of the
// state change (files are written before the commit; repeating a half-done step writes the same).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/store/store.h"
#include "core/status.h"
#include "orchard/v1/registry_service.pb.h"

namespace orchard::coordinator {

// The overrides that make a trial's recipe from its sweep's: the sweep's own, the trial's values, and
// removal ("path=") of each field whose conditions fail for it (`parameters`: the sweep's space).
std::vector<std::string> TrialOverrides(const SweepRecord& sweep, const std::vector<ParameterSpace>& parameters,
                                        const v1::Trial& trial);

class ModelRegistry {
 public:
  // `roots`: canonical roots checkpoint paths must stay in (CanonicalRoots).
  ModelRegistry(Store& store, std::string storage_root, std::vector<std::string> roots)
      : store_(store), storage_root_(std::move(storage_root)), roots_(std::move(roots)) {}

  // A sweep of `owner` is about to challenge `model`: creates the model for them when it is new,
  // PermissionDenied when it is another user's. Returns the champion version (0: none yet).
  StatusOr<int64_t> ClaimModel(const std::string& model, const std::string& owner, double now);

  // Adds the sweep's trial kChampionEvaluationTrial: `champion`'s checkpoint copied into its output
  // directory and its hyperparameters (without data.* ones, so the data is the sweep's) as overrides.
  // When the copy fails (the registry's files unreadable) nothing is added and the error returned;
  // the sweep can run without it, and JudgeSweep then keeps the champion.
  Status AddChampionEvaluation(int64_t sweep_id, const std::string& sweep_name, const std::string& model,
                               int64_t champion, double now);

  // The completed sweep's best trial against the champion's figure on the same data; promotes it
  // (a new version) when JudgeChallenger says so. Records the decision; returns the sweep event. A
  // version that cannot be written (files) is recorded in the decision as not promoted, not returned.
  StatusOr<std::string> JudgeSweep(const SweepRecord& sweep, double now);

  // orchard models promote: the trial's latest checkpoint becomes a new version and the champion,
  // in a model created for `user` when new. FailedPrecondition for a trial without a checkpoint or
  // for a champion evaluation.
  StatusOr<v1::Model> PromoteTrial(const std::string& model, int64_t trial_id, const std::string& user, double now);

  // orchard models rollback: the champion the current one replaced becomes champion again.
  // FailedPrecondition when there is no champion or it replaced none.
  StatusOr<v1::Model> Rollback(const std::string& model, const std::string& user, double now);

  StatusOr<v1::Model> GetModel(const std::string& model);
  // Only `owner`'s when given.
  StatusOr<std::vector<v1::ModelSummary>> ListModels(const std::optional<std::string>& owner);

 private:
  StatusOr<ModelRecord> LoadModel(const std::string& model);
  // Copies the trial's latest checkpoint and writes its recipe as the model's next version.
  StatusOr<v1::ModelVersion> RegisterVersion(const std::string& model, const v1::Trial& trial, const SweepRecord& sweep,
                                             double now);

  Store& store_;
  std::string storage_root_;
  std::vector<std::string> roots_;
};

}  // namespace orchard::coordinator
