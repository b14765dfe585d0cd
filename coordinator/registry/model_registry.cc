#include "coordinator/registry/model_registry.h"

#include <filesystem>
#include <fstream>

#include "coordinator/registry/checkpoint_clone.h"
#include "coordinator/registry/promotion.h"
#include "core/atomic_file.h"
#include "core/format.h"
#include "core/recipe.h"

namespace orchard::coordinator {
namespace {

namespace fs = std::filesystem;

constexpr char kCoordinator[] = "coordinator";

std::string VersionName(int64_t version) { return "v" + std::to_string(version); }

// "csv /data/2026-11-21.csv (seed 0, 20% validation)": what a version was trained and validated on.
std::string DescribeData(const DataSpec& data) {
  std::string text = data.type;
  if (!data.path.empty()) text += " " + data.path;
  else if (data.type == "digits") text += " (the copy scripts/setup extracts)";
  else if (data.type == "synthetic") text += " (" + std::to_string(data.samples) + " samples)";
  if (!data.labels_path.empty()) text += " labels " + data.labels_path;
  return text + " (seed " + std::to_string(data.seed) + ", " + FormatNumber(100 * data.validation_fraction) + "% validation)";
}


std::string ChallengeEvent(const std::string& model, const v1::PromotionDecision& d) {
  std::string text = "model " + model + ": ";
  if (!d.has_challenger_value())
    return text + d.reason() + "; " +
           (d.champion_version() ? VersionName(d.champion_version()) + " stays champion" : "there is no champion yet");
  text += "challenger trial " + std::to_string(d.trial_number()) + " " + d.metric() + " " + FormatNumber(d.challenger_value());
  if (d.champion_version() != 0) {
    text += " vs champion " + VersionName(d.champion_version()) + " " +
            (d.has_champion_value() ? FormatNumber(d.champion_value()) + " on the same data" : "(not evaluated)");
  }
  return text + ": " + (d.promoted() ? "promoted as " + VersionName(d.new_champion()) : "not promoted") + " (" + d.reason() + ")";
}

}  // namespace

std::vector<std::string> TrialOverrides(const SweepRecord& sweep, const std::vector<ParameterSpace>& parameters,
                                        const v1::Trial& trial) {
  std::vector<std::string> overrides = sweep.overrides;
  for (const auto& h : trial.hyperparameters()) overrides.push_back(h.path() + "=" + h.value());
  const auto value_of = [&](const std::string& path) -> const std::string* {
    for (const auto& h : trial.hyperparameters())
      if (h.path() == path) return &h.value();
    return nullptr;
  };
  for (std::string& removed : RemovedConditionalFields(parameters, value_of)) overrides.push_back(std::move(removed));
  return overrides;
}

StatusOr<ModelRecord> ModelRegistry::LoadModel(const std::string& model) {
  ASSIGN_OR_RETURN(const std::optional<ModelRecord> record, store_.LoadModel(model));
  if (!record)
    return NotFound("model " + model + " does not exist (orchard models list shows the models; a sweep submitted with "
                    "--model " + model + ", or orchard models promote " + model + " TRIAL, creates it)");
  return *record;
}

StatusOr<int64_t> ModelRegistry::ClaimModel(const std::string& model, const std::string& owner, double now) {
  ASSIGN_OR_RETURN(const std::optional<ModelRecord> record, store_.LoadModel(model));
  if (!record) {
    RETURN_IF_ERROR(store_.InsertModel(model, owner, now));
    return int64_t{0};
  }
  if (record->owner != owner)
    return PermissionDenied("model " + model + " belongs to " + record->owner +
                            "; a sweep may only challenge its own user's models (choose another --model name)");
  return record->champion;
}

Status ModelRegistry::AddChampionEvaluation(int64_t sweep_id, const std::string& sweep_name, const std::string& model,
                                            int64_t champion, double now) {
  ASSIGN_OR_RETURN(v1::ModelVersion version, store_.GetModelVersion(model, champion));
  std::vector<Hyperparameter> hyperparameters;
  for (const auto& h : version.hyperparameters())
    if (h.path().rfind("data.", 0) != 0) hyperparameters.push_back({h.path(), h.value()});
  const std::string output_dir = sweep_name + "-" + std::to_string(sweep_id) + "/champion-" + VersionName(champion);
  // Copied first: a registry copy that cannot be read adds no evaluation that could only fail.
  ASSIGN_OR_RETURN(ClonedCheckpoint cloned,
                   CloneCheckpoint(storage_root_, version.checkpoint(), version.directory(), output_dir + "/checkpoints", roots_));
  RETURN_IF_ERROR(store_.InsertTrial(sweep_id, kChampionEvaluationTrial, hyperparameters, output_dir, now));
  ASSIGN_OR_RETURN(int64_t trial_id, store_.TrialId(sweep_id, kChampionEvaluationTrial));
  return store_.RecordCheckpoint(trial_id, cloned.path);
}

StatusOr<v1::ModelVersion> ModelRegistry::RegisterVersion(const std::string& model, const v1::Trial& trial,
                                                          const SweepRecord& sweep, double now) {
  ASSIGN_OR_RETURN(const Recipe swept, ParseRecipe(sweep.recipe_yaml, sweep.recipe_file, sweep.overrides));
  const std::vector<std::string> overrides = TrialOverrides(sweep, swept.sweep.parameters, trial);
  ASSIGN_OR_RETURN(Recipe recipe, ParseRecipe(sweep.recipe_yaml, sweep.recipe_file, overrides));
  ASSIGN_OR_RETURN(std::string recipe_yaml, TrialRecipeYaml(sweep.recipe_yaml, sweep.recipe_file, overrides));
  v1::ModelVersion version;
  ASSIGN_OR_RETURN(const int64_t next_version, store_.NextModelVersion(model));
  version.set_version(next_version);
  version.set_directory("registry/" + model + "/" + VersionName(version.version()));
  ASSIGN_OR_RETURN(ClonedCheckpoint cloned,
                   CloneCheckpoint(storage_root_, trial.checkpoint(), trial.output_dir(), version.directory(), roots_));
  RETURN_IF_ERROR(WriteFileAtomically((fs::path(storage_root_) / version.directory() / "recipe.yaml").string(), recipe_yaml));
  version.set_metric(sweep.spec.value("metric", ""));
  version.set_mode(sweep.spec.value("mode", "min"));
  if (trial.has_objective()) {
    version.set_has_value(true);
    version.set_value(trial.objective());
  }
  version.set_recipe_name(recipe.name);
  version.set_recipe_file(sweep.recipe_file);
  version.set_recipe_yaml(recipe_yaml);
  *version.mutable_hyperparameters() = trial.hyperparameters();
  version.set_data(DescribeData(recipe.data));
  version.set_sweep_id(sweep.id);
  version.set_trial_id(trial.id());
  version.set_trial_number(trial.number());
  version.set_checkpoint(cloned.path);
  version.set_step(cloned.step);
  version.set_created_at(now);
  RETURN_IF_ERROR(store_.InsertModelVersion(model, version));
  RETURN_IF_ERROR(store_.SetChampion(model, version.version()));
  return version;
}

StatusOr<std::string> ModelRegistry::JudgeSweep(const SweepRecord& sweep, double now) {
  ASSIGN_OR_RETURN(ModelRecord model, LoadModel(sweep.model));
  v1::PromotionDecision decision;
  decision.set_kind("challenge");
  decision.set_time(now);
  decision.set_decided_by(kCoordinator);
  decision.set_sweep_id(sweep.id);
  decision.set_metric(sweep.spec.value("metric", ""));
  decision.set_mode(sweep.spec.value("mode", "min"));
  decision.set_margin(sweep.promotion_margin);
  decision.set_champion_version(model.champion);
  decision.set_new_champion(model.champion);
  ASSIGN_OR_RETURN(const std::optional<v1::Trial> best, store_.BestTrial(sweep.id, decision.mode()));
  if (!best) {
    decision.set_reason("no trial of sweep " + std::to_string(sweep.id) + " reported " + decision.metric());
    RETURN_IF_ERROR(store_.InsertPromotionDecision(sweep.model, decision));
    return ChallengeEvent(sweep.model, decision);
  }
  decision.set_trial_id(best->id());
  decision.set_trial_number(best->number());
  decision.set_has_challenger_value(true);
  decision.set_challenger_value(best->objective());

  Challenge challenge;
  challenge.metric = decision.metric();
  challenge.mode = decision.mode();
  challenge.margin = sweep.promotion_margin;
  challenge.challenger = best->objective();
  challenge.champion_version = model.champion;
  if (model.champion != 0 && model.champion != sweep.evaluated_version) {
    challenge.champion_unevaluated =
        sweep.evaluated_version == 0 ? "it became champion while this sweep ran"
                                     : "the champion changed from " + VersionName(sweep.evaluated_version) +
                                           " while this sweep ran";
  } else if (model.champion != 0) {
    const StatusOr<int64_t> evaluation_id = store_.TrialId(sweep.id, kChampionEvaluationTrial);
    const StatusOr<v1::Trial> evaluation =
        evaluation_id.ok() ? store_.GetTrial(*evaluation_id) : StatusOr<v1::Trial>(evaluation_id.status());
    if (!evaluation.ok()) {
      challenge.champion_unevaluated = "its evaluation could not be set up when the sweep was submitted (the sweep's "
                                       "events say why)";
    } else if (evaluation->state() == v1::TRIAL_COMPLETED && evaluation->has_objective()) {
      challenge.champion = evaluation->objective();
      decision.set_has_champion_value(true);
      decision.set_champion_value(evaluation->objective());
    } else if (evaluation->state() == v1::TRIAL_COMPLETED) {
      challenge.champion_unevaluated = "its evaluation reported no " + decision.metric();
    } else {
      challenge.champion_unevaluated = "its evaluation (trial id " + std::to_string(evaluation->id()) +
                                       ") did not complete" +
                                       (evaluation->message().empty() ? "" : ": " + evaluation->message());
    }
  }
  PromotionVerdict verdict = JudgeChallenger(challenge);
  if (verdict.promote && best->checkpoint().empty())
    verdict = {false, "trial " + std::to_string(best->number()) + " has no checkpoint to register"};
  decision.set_reason(verdict.reason);
  if (verdict.promote) {
    // A registry that cannot take the version (files) must not stop the sweep from ending: the
    // decision says so, and orchard models promote can retry.
    StatusOr<v1::ModelVersion> version = RegisterVersion(sweep.model, *best, sweep, now);
    if (version.ok()) {
      decision.set_promoted(true);
      decision.set_new_champion(version->version());
    } else {
      decision.set_reason(verdict.reason + ", but it could not be registered: " + version.status().message());
    }
  }
  RETURN_IF_ERROR(store_.InsertPromotionDecision(sweep.model, decision));
  return ChallengeEvent(sweep.model, decision);
}

StatusOr<v1::Model> ModelRegistry::PromoteTrial(const std::string& model, int64_t trial_id, const std::string& user,
                                                double now) {
  ASSIGN_OR_RETURN(v1::Trial trial, store_.GetTrial(trial_id));
  if (trial.number() == kChampionEvaluationTrial)
    return FailedPrecondition("trial id " + std::to_string(trial_id) + " is sweep " + std::to_string(trial.sweep_id()) +
                              "'s evaluation of a champion, not a trained model; promote one of its trials");
  if (trial.checkpoint().empty())
    return FailedPrecondition("trial id " + std::to_string(trial_id) + " (sweep " + std::to_string(trial.sweep_id()) +
                              ", trial " + std::to_string(trial.number()) +
                              ") has no checkpoint yet; promote it once it has written one, or promote another trial");
  ASSIGN_OR_RETURN(SweepRecord sweep, store_.LoadSweep(trial.sweep_id()));
  ASSIGN_OR_RETURN(std::optional<ModelRecord> record, store_.LoadModel(model));
  if (!record) {
    RETURN_IF_ERROR(store_.InsertModel(model, user, now));
    record = ModelRecord{model, user, 0, now};
  }
  ASSIGN_OR_RETURN(v1::ModelVersion version, RegisterVersion(model, trial, sweep, now));
  v1::PromotionDecision decision;
  decision.set_kind("manual");
  decision.set_time(now);
  decision.set_decided_by(user);
  decision.set_sweep_id(sweep.id);
  decision.set_trial_id(trial.id());
  decision.set_trial_number(trial.number());
  decision.set_metric(version.metric());
  decision.set_mode(version.mode());
  decision.set_has_challenger_value(version.has_value());
  decision.set_challenger_value(version.value());
  decision.set_champion_version(record->champion);
  decision.set_promoted(true);
  decision.set_new_champion(version.version());
  decision.set_reason("promoted by hand by " + user + ", without a comparison");
  RETURN_IF_ERROR(store_.InsertPromotionDecision(model, decision));
  RETURN_IF_ERROR(store_.AddEvent(sweep.id, now, "model " + model + ": trial " + std::to_string(trial.number()) +
                                                     " promoted by hand as " + VersionName(version.version()) + " by " + user));
  return GetModel(model);
}

StatusOr<v1::Model> ModelRegistry::Rollback(const std::string& model, const std::string& user, double now) {
  ASSIGN_OR_RETURN(ModelRecord record, LoadModel(model));
  if (record.champion == 0) return FailedPrecondition("model " + model + " has no champion to roll back");
  ASSIGN_OR_RETURN(const int64_t previous, store_.ChampionReplacedBy(model, record.champion));
  if (previous == 0)
    return FailedPrecondition("model " + model + ": " + VersionName(record.champion) +
                              " was its first champion; there is no earlier one to roll back to (orchard models "
                              "promote " + model + " TRIAL registers another)");
  RETURN_IF_ERROR(store_.SetChampion(model, previous));
  ASSIGN_OR_RETURN(v1::ModelVersion restored, store_.GetModelVersion(model, previous));
  v1::PromotionDecision decision;
  decision.set_kind("rollback");
  decision.set_time(now);
  decision.set_decided_by(user);
  decision.set_metric(restored.metric());
  decision.set_mode(restored.mode());
  decision.set_champion_version(record.champion);
  decision.set_promoted(true);
  decision.set_new_champion(previous);
  decision.set_reason("rolled back by " + user + ": " + VersionName(previous) + " is champion again, as before " +
                      VersionName(record.champion) + " replaced it");
  RETURN_IF_ERROR(store_.InsertPromotionDecision(model, decision));
  return GetModel(model);
}

StatusOr<v1::Model> ModelRegistry::GetModel(const std::string& model) {
  ASSIGN_OR_RETURN(ModelRecord record, LoadModel(model));
  v1::Model out;
  out.set_name(record.name);
  out.set_owner(record.owner);
  out.set_created_at(record.created_at);
  out.set_champion(record.champion);
  out.set_storage_root(storage_root_);
  ASSIGN_OR_RETURN(std::vector<v1::ModelVersion> versions, store_.ListModelVersions(model));
  for (v1::ModelVersion& version : versions) *out.add_versions() = std::move(version);
  ASSIGN_OR_RETURN(std::vector<v1::PromotionDecision> decisions, store_.ListPromotionDecisions(model));
  for (v1::PromotionDecision& decision : decisions) *out.add_decisions() = std::move(decision);
  return out;
}

StatusOr<std::vector<v1::ModelSummary>> ModelRegistry::ListModels(const std::optional<std::string>& owner) {
  ASSIGN_OR_RETURN(const std::vector<ModelRecord> records, store_.ListModels(owner));
  std::vector<v1::ModelSummary> models;
  for (const ModelRecord& record : records) {
    v1::ModelSummary summary;
    summary.set_name(record.name);
    summary.set_owner(record.owner);
    summary.set_created_at(record.created_at);
    ASSIGN_OR_RETURN(const int64_t versions_total, store_.CountModelVersions(record.name));
    summary.set_versions_total(versions_total);
    if (record.champion != 0) {
      ASSIGN_OR_RETURN(*summary.mutable_champion(), store_.GetModelVersion(record.name, record.champion));
    }
    ASSIGN_OR_RETURN(std::optional<v1::PromotionDecision> last, store_.LastPromotionDecision(record.name));
    if (last) *summary.mutable_last_decision() = *std::move(last);
    models.push_back(std::move(summary));
  }
  return models;
}

}  // namespace orchard::coordinator
