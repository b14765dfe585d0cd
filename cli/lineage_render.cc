#include "cli/lineage_render.h"

#include <cctype>
#include <sstream>

#include "cli/render.h"
#include "core/format.h"

namespace orchard::cli {
namespace {

using nlohmann::json;

std::string Short(const std::string& digest) { return digest.size() > 16 ? digest.substr(0, 16) : digest; }

std::string Kibibytes(int64_t bytes) {
  std::ostringstream text;
  text.precision(1);
  text << std::fixed << static_cast<double>(bytes) / 1024 << " KiB";
  return text.str();
}

std::string EnvironmentLine(const Provenance& p) {
  std::string line = "LibTorch " + (p.libtorch.empty() ? "?" : p.libtorch);
  if (!p.cuda.empty()) line += ", CUDA " + p.cuda;
  if (!p.cudnn.empty()) line += ", cuDNN " + p.cudnn;
  if (!p.nccl.empty()) line += ", NCCL " + p.nccl;
  return line + "; device " + p.device + ", " + std::to_string(p.world_size) + (p.world_size == 1 ? " rank" : " ranks") +
         (p.host.empty() ? "" : ", host " + p.host);
}

void ProvenanceLines(const Provenance& p, std::ostream& out) {
  out << "    recipe       sha256 " << Short(p.recipe_sha256) << " (resolved from " << p.recipe_file << ")\n";
  if (p.data.empty()) out << "    data         none read from files (synthetic)\n";
  for (const FileFingerprint& f : p.data)
    out << "    data         " << f.path << "  " << Kibibytes(f.bytes) << "  sha256 " << Short(f.sha256) << "\n";
  out << "    code         orchard " << p.orchard_version << ", commit " << Short(p.commit)
      << (p.dirty ? " with uncommitted changes" : "") << "\n";
  out << "    environment  " << EnvironmentLine(p) << "\n";
  out << "    seeds        train " << p.train_seed << ", data " << p.data_seed << "\n";
  if (p.start_step > 0) out << "    resumed      from its checkpoint at step " << p.start_step << "\n";
}

std::string TrialStateName(v1::TrialState state) {
  std::string name = v1::TrialState_Name(state);
  name = name.substr(name.find('_') + 1);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

std::string LineageText(const v1::TrialLineage& lineage, const std::string& model, const v1::ModelVersion* version) {
  std::ostringstream out;
  const v1::Sweep& sweep = lineage.sweep();
  const v1::Trial& trial = lineage.trial();
  if (version != nullptr)
    out << "model " << model << " v" << version->version() << ": " << version->metric() << " "
        << (version->has_value() ? FormatValue(version->value()) : "?") << ", checkpoint " << version->checkpoint()
        << " (step " << version->step() << ")\n";
  out << "sweep " << sweep.id() << " " << sweep.name() << " (" << sweep.strategy() << ", recipe " << sweep.recipe_file()
      << (sweep.schedule().empty() ? "" : ", schedule " + sweep.schedule()) << ")\n";
  out << "trial " << trial.id() << " (number " << trial.number() << "): " << TrialStateName(trial.state());
  if (trial.has_objective())
    out << ", " << sweep.metric() << " " << FormatValue(trial.objective()) << " at step " << trial.objective_step();
  out << "\n";
  if (trial.hyperparameters_size() > 0) out << "  hyperparameters  " << FormatHyperparameters(trial) << "\n";
  for (const v1::LineageHop& hop : trial.lineage())
    out << "  took over trial number " << hop.parent() << "'s checkpoint at step " << hop.step() << " (PBT)\n";
  for (const v1::TrialAttempt& attempt : lineage.attempts()) {
    out << "  attempt " << attempt.number() << ": " << attempt.state();
    if (attempt.state() == "exited") out << " with code " << attempt.exit_code();
    out << " on " << attempt.worker_id() << ", started " << FormatUtcTime(attempt.started_at());
    if (!attempt.reason().empty()) out << " (" << attempt.reason() << ")";
    out << "\n";
    const StatusOr<Provenance> provenance = ParseProvenance(attempt.provenance_json());
    if (provenance.ok()) {
      ProvenanceLines(*provenance, out);
    } else {
      out << "    provenance   none reported (an attempt that never started training, or a worker older than lineage)\n";
    }
    if (!attempt.parameter_digest().empty()) out << "    parameters   sha256 " << attempt.parameter_digest() << "\n";
  }
  return out.str();
}

json LineageJson(const v1::TrialLineage& lineage, const std::string& model, const v1::ModelVersion* version) {
  json doc = json::parse(ToJson(lineage));
  for (json& attempt : doc["attempts"]) {
    json provenance = json::parse(attempt.value("provenance_json", ""), nullptr, /*allow_exceptions=*/false);
    attempt["provenance"] = provenance.is_discarded() ? json(nullptr) : provenance;
    attempt.erase("provenance_json");
  }
  if (version != nullptr) {
    doc["model"] = model;
    doc["model_version"] = json::parse(ToJson(*version));
  }
  return doc;
}

const v1::TrialAttempt* ReproducibleAttempt(const v1::TrialLineage& lineage) {
  for (int i = lineage.attempts_size() - 1; i >= 0; --i) {
    const v1::TrialAttempt& attempt = lineage.attempts(i);
    if (!attempt.parameter_digest().empty() && ParseProvenance(attempt.provenance_json()).ok()) return &attempt;
  }
  return nullptr;
}

ReproductionReport CompareReproduction(const Provenance& original, const std::string& original_digest,
                                       const std::map<std::string, double>& original_metrics,
                                       const Provenance& again, const std::string& again_digest,
                                       const std::map<std::string, double>& again_metrics) {
  ReproductionReport report;
  report.exact = !original_digest.empty() && original_digest == again_digest;
  std::ostringstream out;
  out << "final parameters: sha256 " << original_digest << " (original)\n"
      << "                  sha256 " << (again_digest.empty() ? "none" : again_digest) << " (this run)\n";
  const std::vector<std::string> differences = ProvenanceDifferences(original, again);
  if (differences.empty()) {
    out << "inputs: the same recipe, data, code, libraries, device and seeds\n";
    if (original.dirty && again.dirty)
      out << "  (both built from commit " << Short(original.commit) << " with uncommitted changes, which may differ)\n";
  } else {
    out << "differences:\n";
    for (const std::string& d : differences) out << "  " << d << "\n";
  }
  for (const auto& [name, value] : again_metrics) {
    const auto before = original_metrics.find(name);
    out << "  " << name << " ";
    if (before == original_metrics.end()) {
      out << FormatNumber(value) << " (the original reported none)\n";
      continue;
    }
    out << FormatNumber(before->second) << " vs " << FormatNumber(value)
        << (before->second == value ? " (same)" : " (differs by " + FormatNumber(value - before->second) + ")") << "\n";
  }
  out << (report.exact ? "reproduced exactly: the final parameters are the same, bit for bit\n"
                       : "not reproduced: the final parameters differ\n");
  report.text = out.str();
  return report;
}

json ModelCard(const v1::Model& model, const v1::ModelVersion& version, const v1::TrialLineage* lineage) {
  json decisions = json::array();
  for (const v1::PromotionDecision& d : model.decisions())
    if (d.trial_id() == version.trial_id() || d.new_champion() == version.version() ||
        d.champion_version() == version.version())
      decisions.push_back(json::parse(ToJson(d)));
  json metrics = json::object();
  if (version.has_value()) metrics[version.metric()] = version.value();
  return {{"model", model.name()},
          {"version", version.version()},
          {"champion", model.champion() == version.version()},
          {"metric", version.metric()},
          {"mode", version.mode()},
          {"metrics", metrics},
          {"step", version.step()},
          {"data", version.data()},
          {"hyperparameters", json::parse(ToJson(version))["hyperparameters"]},
          {"decisions", decisions},
          {"lineage", lineage != nullptr ? LineageJson(*lineage, "", nullptr) : json(nullptr)}};
}

}  // namespace orchard::cli
