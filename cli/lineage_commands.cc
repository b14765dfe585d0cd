// `orchard lineage` and `orchard reproduce` (docs/lineage.md).
#include <algorithm>
#include <cctype>
#include <filesystem>

#include "cli/commands.h"
#include "cli/coordinator_calls.h"
#include "cli/lineage_render.h"
#include "cli/run_program.h"
#include "core/atomic_file.h"
#include "orchard/v1/registry_service.grpc.pb.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "worker/agent/trainer_binary.h"

namespace orchard::cli {
namespace {

namespace fs = std::filesystem;

bool AllDigits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

// "digits", "digits:v3", "digits:3": the model and its version (0: the champion).
StatusOr<std::pair<std::string, int64_t>> ParseModelTarget(const std::string& target) {
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos) return std::pair{target, int64_t{0}};
  std::string version = target.substr(colon + 1);
  if (!version.empty() && (version[0] == 'v' || version[0] == 'V')) version.erase(0, 1);
  if (!AllDigits(version) || version.size() > 9 || std::stoll(version) == 0)
    return InvalidArgument("\"" + target + "\": expected MODEL:vN with N a version from 1 (e.g. digits:v3)");
  return std::pair{target.substr(0, colon), static_cast<int64_t>(std::stoll(version))};
}

int GetLineage(const CoordinatorCalls& calls, int64_t trial_id, v1::TrialLineage* lineage) {
  v1::GetTrialLineageRequest request;
  request.set_trial_id(trial_id);
  return calls.Call(&v1::SweepService::Stub::GetTrialLineage, request, lineage);
}

// The last value of each metric the trial reported.
int LastMetrics(const CoordinatorCalls& calls, int64_t trial_id, std::map<std::string, double>* last) {
  v1::GetTrialMetricsRequest request;
  request.set_trial_id(trial_id);
  v1::GetTrialMetricsResponse response;
  if (int code = calls.CallAllPages(&v1::SweepService::Stub::GetTrialMetrics, request,
                                    &v1::GetTrialMetricsResponse::mutable_points, &response);
      code != kExitOk)
    return code;
  for (const v1::MetricPoint& point : response.points()) (*last)[point.name()] = point.value();  // each name by step
  return kExitOk;
}

}  // namespace

int Lineage(const GlobalOptions& global, const std::string& target) {
  const CoordinatorCalls calls(global);
  std::string model_name;
  v1::ModelVersion version;
  int64_t trial_id = 0;
  if (AllDigits(target) && target.size() <= 18) {
    trial_id = std::stoll(target);
  } else {
    const auto parsed = ParseModelTarget(target);
    if (!parsed.ok()) {
      *global.err << "orchard lineage: " << parsed.status().message() << "\n";
      return kExitBadInput;
    }
    model_name = parsed->first;
    v1::GetModelRequest request;
    request.set_name(model_name);
    v1::Model model;
    if (int code = calls.Call(&v1::ModelRegistryService::Stub::GetModel, request, &model); code != kExitOk) return code;
    const int64_t wanted = parsed->second > 0 ? parsed->second : model.champion();
    const auto found = std::find_if(model.versions().begin(), model.versions().end(),
                                    [&](const v1::ModelVersion& v) { return v.version() == wanted; });
    if (found == model.versions().end()) {
      *global.err << "orchard lineage: model " << model_name
                  << (wanted == 0 ? " has no champion yet; name a version, e.g. " + model_name + ":v1"
                                  : " has no version " + std::to_string(wanted))
                  << " (orchard models show " << model_name << " lists them)\n";
      return kExitNotFound;
    }
    version = *found;
    trial_id = version.trial_id();
  }
  v1::TrialLineage lineage;
  if (int code = GetLineage(calls, trial_id, &lineage); code != kExitOk) return code;
  const v1::ModelVersion* shown = model_name.empty() ? nullptr : &version;
  if (global.json) {
    *global.out << LineageJson(lineage, model_name, shown).dump(2) << "\n";
  } else {
    *global.out << LineageText(lineage, model_name, shown);
  }
  return kExitOk;
}

int Reproduce(const GlobalOptions& global, int64_t trial_id, const std::string& out_dir) {
  std::ostream& out = *global.out;
  std::ostream& err = *global.err;
  const CoordinatorCalls calls(global);
  v1::TrialLineage lineage;
  if (int code = GetLineage(calls, trial_id, &lineage); code != kExitOk) return code;
  if (lineage.trial().number() < 0) {
    err << "orchard reproduce: trial " << trial_id << " evaluated registry model " << lineage.sweep().model()
        << "'s champion on this sweep's data; it trained nothing. Reproduce the champion's own trial (orchard lineage "
        << lineage.sweep().model() << " names it)\n";
    return kExitBadInput;
  }
  const v1::TrialAttempt* attempt = ReproducibleAttempt(lineage);
  if (attempt == nullptr) {
    err << "orchard reproduce: trial " << trial_id << " has no completed attempt with a provenance record (it has not "
           "completed, or was trained before Orchard recorded provenance): there is nothing to compare with\n";
    return kExitNotFound;
  }
  const Provenance original = ParseProvenance(attempt->provenance_json()).value();  // ReproducibleAttempt parsed it
  const fs::path dir = out_dir.empty() ? fs::path("runs") / ("reproduce-trial-" + std::to_string(trial_id)) : fs::path(out_dir);
  std::error_code error;
  if (fs::exists(dir, error) && !fs::is_empty(dir, error)) {
    err << "orchard reproduce: " << dir.string() << " is not empty; pass --out with a new directory (or remove it)\n";
    return kExitBadInput;
  }
  const fs::path recipe = dir / "recipe.yaml";
  if (Status written = WriteFileAtomically(recipe.string(), original.resolved_recipe); !written.ok()) {
    err << "orchard reproduce: " << written.message() << "\n";
    return kExitError;
  }
  if (lineage.trial().lineage_size() > 0)
    out << "note: trial " << trial_id << " took over another member's checkpoint (PBT); a run from the start trains "
           "only its own hyperparameters, so it cannot match\n";
  out << "reproducing trial " << trial_id << " (sweep " << lineage.sweep().id() << ", attempt " << attempt->number()
      << ") in " << dir.string() << "\n";
  const fs::path summary = dir / "result.json";
  const int trained = RunToCompletion(
      {worker::DefaultTrainerBinary(), recipe.string(), "--out", dir.string(), "--summary", summary.string(), "--quiet"});
  if (trained != 0) {
    err << "orchard reproduce: " << worker::DefaultTrainerBinary()
        << (trained < 0 ? " could not run (is orchard-train next to orchard?)" : " failed with exit code " + std::to_string(trained))
        << "; its output is in " << dir.string() << "\n";
    return kExitError;
  }
  const StatusOr<Provenance> again = ParseProvenance(ReadWholeFile((dir / "provenance.json").string()).value_or(""));
  const std::string result_text = ReadWholeFile(summary.string()).value_or("");
  const nlohmann::json result = nlohmann::json::parse(result_text, nullptr, /*allow_exceptions=*/false);
  if (!again.ok() || !result.is_object()) {
    err << "orchard reproduce: the re-run left no readable provenance.json or result.json in " << dir.string() << "\n";
    return kExitError;
  }
  std::map<std::string, double> original_metrics, again_metrics;
  if (int code = LastMetrics(calls, trial_id, &original_metrics); code != kExitOk) return code;
  const nlohmann::json final_eval = result.value("final_eval", nlohmann::json::object());
  for (const auto& [name, value] : final_eval.items())
    if (value.is_number()) again_metrics[name] = value.get<double>();
  const ReproductionReport report =
      CompareReproduction(original, attempt->parameter_digest(), original_metrics, *again,
                          result.value("parameter_digest", ""), again_metrics);
  out << report.text;
  return report.exact ? kExitOk : kExitNotReproduced;
}

}  // namespace orchard::cli
