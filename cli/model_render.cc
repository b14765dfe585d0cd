#include "cli/model_render.h"

#include "cli/render.h"

namespace orchard::cli {
namespace {

std::string VersionName(int64_t version) { return "v" + std::to_string(version); }

std::string Hyperparameters(const v1::ModelVersion& version) {
  std::string text;
  for (const auto& h : version.hyperparameters()) text += (text.empty() ? "" : " ") + h.path() + "=" + h.value();
  return text.empty() ? "-" : text;
}

std::string Figure(const v1::ModelVersion& version) {
  return version.metric() + " " + (version.has_value() ? FormatValue(version.value()) : "-");
}

std::string Ago(double time, double now) { return FormatDuration(now - time) + " ago"; }

}  // namespace

std::string ModelsTable(const std::vector<v1::ModelSummary>& models, double now) {
  std::vector<std::vector<std::string>> rows = {{"NAME", "OWNER", "CHAMPION", "METRIC", "VERSIONS", "LAST DECISION"}};
  for (const v1::ModelSummary& m : models) {
    const bool has_champion = m.has_champion();
    std::string last = "-";
    if (m.has_last_decision()) {
      const v1::PromotionDecision& d = m.last_decision();
      last = d.kind() + (d.promoted() ? ": " + VersionName(d.new_champion()) : ": kept") + ", " + Ago(d.time(), now);
    }
    rows.push_back({m.name(), m.owner(), has_champion ? VersionName(m.champion().version()) : "none",
                    has_champion ? Figure(m.champion()) : "-", std::to_string(m.versions_total()), last});
  }
  return Table(rows);
}

std::string DecisionText(const v1::PromotionDecision& d) {
  std::string subject;
  if (d.kind() == "rollback") {
    subject = "rollback by " + d.decided_by() + " from " + VersionName(d.champion_version());
  } else {
    subject = (d.kind() == "manual" ? "manual promotion by " + d.decided_by() + " of sweep " : "sweep ") +
              std::to_string(d.sweep_id()) + (d.kind() == "manual" ? " trial " : "'s best trial ") +
              (d.trial_id() == 0 ? "-" : std::to_string(d.trial_number()));
    subject += ": " + d.metric() + " " + (d.has_challenger_value() ? FormatValue(d.challenger_value()) : "-");
    if (d.champion_version() != 0) {
      subject += " vs champion " + VersionName(d.champion_version()) + " " +
                 (d.has_champion_value() ? FormatValue(d.champion_value()) + " on the same data"
                                         : std::string("(not evaluated on this data)"));
    }
    if (d.kind() == "challenge") subject += " (" + d.mode() + ", margin " + FormatValue(d.margin()) + ")";
  }
  const std::string outcome = d.promoted() ? (d.kind() == "rollback" ? "champion is " : "promoted as ") + VersionName(d.new_champion())
                                           : "not promoted";
  return subject + ": " + outcome + ": " + d.reason();
}

std::string ModelText(const v1::Model& model, double now) {
  std::string out = "model " + model.name() + " (owner " + model.owner() + "), champion " +
                    (model.champion() ? VersionName(model.champion()) : "none yet") + "\n";
  std::vector<std::vector<std::string>> rows = {
      {"", "VERSION", "METRIC", "STEP", "SWEEP", "TRIAL", "CREATED", "RECIPE", "DATA", "HYPERPARAMETERS"}};
  for (const v1::ModelVersion& v : model.versions())
    rows.push_back({v.version() == model.champion() ? "*" : "", VersionName(v.version()), Figure(v),
                    std::to_string(v.step()), std::to_string(v.sweep_id()),
                    std::to_string(v.trial_number()) + " (id " + std::to_string(v.trial_id()) + ")",
                    Ago(v.created_at(), now), v.recipe_name(), v.data(), Hyperparameters(v)});
  out += model.versions().empty() ? "no versions yet\n" : Table(rows);
  out += "\ndecisions, oldest first:\n";
  if (model.decisions().empty()) out += "  none yet\n";
  for (const v1::PromotionDecision& d : model.decisions()) out += "  " + Ago(d.time(), now) + "  " + DecisionText(d) + "\n";
  return out;
}

void PrintModels(const v1::ListModelsResponse& response, double now, bool json, std::ostream& out) {
  if (json) return PrintJson(response, out);
  out << ModelsTable({response.models().begin(), response.models().end()}, now);
}

void PrintModel(const v1::Model& model, double now, bool json, std::ostream& out) {
  if (json) return PrintJson(model, out);
  out << ModelText(model, now);
}

void PrintExportedModel(const std::string& name, int64_t version, const std::string& model_file, std::ostream& out) {
  out << "exported " << name << " v" << version << " to " << model_file << " with its recipe.yaml and model-card.json; load it with "
      << "torch.jit.load(\"" << model_file << "\")\n";
}

}  // namespace orchard::cli
