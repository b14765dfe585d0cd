// The Store's model registry tables (store.h; the schema is migration 6 in store.cc).
#include "coordinator/store/store.h"
#include "coordinator/store/store_json.h"

namespace orchard::coordinator {
namespace {

constexpr const char* kVersionColumns =
    "version, metric, mode, value, recipe_name, recipe_file, recipe_yaml, hyperparameters, data, sweep_id, trial_id, "
    "trial_number, directory, checkpoint, step, created_at FROM model_versions ";

v1::ModelVersion ReadVersion(const Statement& row) {
  v1::ModelVersion v;
  v.set_version(row.Int(0));
  v.set_metric(row.Text(1));
  v.set_mode(row.Text(2));
  if (!row.IsNull(3)) {
    v.set_has_value(true);
    v.set_value(row.Double(3));
  }
  v.set_recipe_name(row.Text(4));
  v.set_recipe_file(row.Text(5));
  v.set_recipe_yaml(row.Text(6));
  ReadHyperparameters(ParseJson(row.Text(7)), v.mutable_hyperparameters());
  v.set_data(row.Text(8));
  v.set_sweep_id(row.Int(9));
  v.set_trial_id(row.Int(10));
  v.set_trial_number(row.Int(11));
  v.set_directory(row.Text(12));
  v.set_checkpoint(row.Text(13));
  v.set_step(row.Int(14));
  v.set_created_at(row.Double(15));
  return v;
}

constexpr const char* kDecisionColumns =
    "id, kind, time, decided_by, sweep_id, trial_id, trial_number, metric, mode, margin, challenger_value, "
    "champion_version, champion_value, promoted, new_champion, reason FROM model_decisions ";

v1::PromotionDecision ReadDecision(const Statement& row) {
  v1::PromotionDecision d;
  d.set_id(row.Int(0));
  d.set_kind(row.Text(1));
  d.set_time(row.Double(2));
  d.set_decided_by(row.Text(3));
  d.set_sweep_id(row.Int(4));
  d.set_trial_id(row.Int(5));
  d.set_trial_number(row.Int(6));
  d.set_metric(row.Text(7));
  d.set_mode(row.Text(8));
  d.set_margin(row.Double(9));
  if (!row.IsNull(10)) {
    d.set_has_challenger_value(true);
    d.set_challenger_value(row.Double(10));
  }
  d.set_champion_version(row.Int(11));
  if (!row.IsNull(12)) {
    d.set_has_champion_value(true);
    d.set_champion_value(row.Double(12));
  }
  d.set_promoted(row.Int(13) != 0);
  d.set_new_champion(row.Int(14));
  d.set_reason(row.Text(15));
  return d;
}

}  // namespace

StatusOr<std::optional<ModelRecord>> Store::LoadModel(const std::string& name) {
  Statement row = db_->Prepare("SELECT name, owner, champion, created_at FROM models WHERE name = ?");
  row.Bind(1, name);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found) return std::optional<ModelRecord>();
  return std::optional<ModelRecord>(ModelRecord{row.Text(0), row.Text(1), row.Int(2), row.Double(3)});
}

Status Store::InsertModel(const std::string& name, const std::string& owner, double now) {
  return db_->Prepare("INSERT INTO models (name, owner, created_at) VALUES (?, ?, ?)")
      .Bind(1, name).Bind(2, owner).Bind(3, now).Run();
}

StatusOr<std::vector<ModelRecord>> Store::ListModels(const std::optional<std::string>& owner) {
  Statement rows = db_->Prepare(owner ? "SELECT name, owner, champion, created_at FROM models WHERE owner = ? ORDER BY name"
                                      : "SELECT name, owner, champion, created_at FROM models ORDER BY name");
  if (owner) rows.Bind(1, *owner);
  std::vector<ModelRecord> models;
  RETURN_IF_ERROR(rows.ForEachRow([&] {
    models.push_back({rows.Text(0), rows.Text(1), rows.Int(2), rows.Double(3)});
  }));
  return models;
}

Status Store::SetChampion(const std::string& model, int64_t version) {
  return db_->Prepare("UPDATE models SET champion = ? WHERE name = ?").Bind(1, version).Bind(2, model).Run();
}

StatusOr<int64_t> Store::NextModelVersion(const std::string& model) {
  Statement row = db_->Prepare("SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model = ?");
  row.Bind(1, model);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  return row_found ? row.Int(0) : 1;
}

Status Store::InsertModelVersion(const std::string& model, const v1::ModelVersion& v) {
  Statement insert = db_->Prepare(
      "INSERT INTO model_versions (model, version, metric, mode, value, recipe_name, recipe_file, recipe_yaml, "
      "hyperparameters, data, sweep_id, trial_id, trial_number, directory, checkpoint, step, created_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert.Bind(1, model).Bind(2, v.version()).Bind(3, v.metric()).Bind(4, v.mode());
  if (v.has_value()) insert.Bind(5, v.value());
  else insert.BindNull(5);
  insert.Bind(6, v.recipe_name()).Bind(7, v.recipe_file()).Bind(8, v.recipe_yaml());
  insert.Bind(9, HyperparametersJson(v.hyperparameters()).dump()).Bind(10, v.data()).Bind(11, v.sweep_id());
  insert.Bind(12, v.trial_id()).Bind(13, v.trial_number()).Bind(14, v.directory()).Bind(15, v.checkpoint());
  insert.Bind(16, v.step()).Bind(17, v.created_at());
  return insert.Run();
}

StatusOr<v1::ModelVersion> Store::GetModelVersion(const std::string& model, int64_t version) {
  Statement row = db_->Prepare(std::string("SELECT ") + kVersionColumns + "WHERE model = ? AND version = ?");
  row.Bind(1, model).Bind(2, version);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found)
    return NotFound("model " + model + " has no version " + std::to_string(version) +
                    " (orchard models show " + model + " lists them)");
  return ReadVersion(row);
}

StatusOr<std::vector<v1::ModelVersion>> Store::ListModelVersions(const std::string& model) {
  Statement rows = db_->Prepare(std::string("SELECT ") + kVersionColumns + "WHERE model = ? ORDER BY version");
  rows.Bind(1, model);
  std::vector<v1::ModelVersion> versions;
  RETURN_IF_ERROR(rows.ForEachRow([&] { versions.push_back(ReadVersion(rows)); }));
  return versions;
}

StatusOr<int64_t> Store::CountModelVersions(const std::string& model) {
  Statement row = db_->Prepare("SELECT COUNT(*) FROM model_versions WHERE model = ?");
  row.Bind(1, model);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  return row_found ? row.Int(0) : 0;
}

Status Store::InsertPromotionDecision(const std::string& model, const v1::PromotionDecision& d) {
  Statement insert = db_->Prepare(
      "INSERT INTO model_decisions (model, kind, time, decided_by, sweep_id, trial_id, trial_number, metric, mode, "
      "margin, challenger_value, champion_version, champion_value, promoted, new_champion, reason) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert.Bind(1, model).Bind(2, d.kind()).Bind(3, d.time()).Bind(4, d.decided_by()).Bind(5, d.sweep_id());
  insert.Bind(6, d.trial_id()).Bind(7, d.trial_number()).Bind(8, d.metric()).Bind(9, d.mode()).Bind(10, d.margin());
  if (d.has_challenger_value()) insert.Bind(11, d.challenger_value());
  else insert.BindNull(11);
  insert.Bind(12, d.champion_version());
  if (d.has_champion_value()) insert.Bind(13, d.champion_value());
  else insert.BindNull(13);
  insert.Bind(14, int64_t{d.promoted() ? 1 : 0}).Bind(15, d.new_champion()).Bind(16, d.reason());
  return insert.Run();
}

StatusOr<std::vector<v1::PromotionDecision>> Store::ListPromotionDecisions(const std::string& model) {
  Statement rows = db_->Prepare(std::string("SELECT ") + kDecisionColumns + "WHERE model = ? ORDER BY id");
  rows.Bind(1, model);
  std::vector<v1::PromotionDecision> decisions;
  RETURN_IF_ERROR(rows.ForEachRow([&] { decisions.push_back(ReadDecision(rows)); }));
  return decisions;
}

StatusOr<std::optional<v1::PromotionDecision>> Store::LastPromotionDecision(const std::string& model) {
  Statement row = db_->Prepare(std::string("SELECT ") + kDecisionColumns + "WHERE model = ? ORDER BY id DESC LIMIT 1");
  row.Bind(1, model);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found) return std::optional<v1::PromotionDecision>();
  return std::optional<v1::PromotionDecision>(ReadDecision(row));
}

StatusOr<int64_t> Store::ChampionReplacedBy(const std::string& model, int64_t version) {
  Statement row = db_->Prepare(
      "SELECT champion_version FROM model_decisions WHERE model = ? AND new_champion = ? AND promoted = 1 AND "
      "kind != 'rollback' ORDER BY id DESC LIMIT 1");
  row.Bind(1, model).Bind(2, version);
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  return row_found ? row.Int(0) : 0;
}

}  // namespace orchard::coordinator
