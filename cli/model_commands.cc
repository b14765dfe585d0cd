// `orchard models ...`: the model registry (docs/registry.md).
#include <algorithm>
#include <filesystem>

#include "cli/commands.h"
#include "cli/coordinator_calls.h"
#include "cli/lineage_render.h"
#include "cli/model_render.h"
#include "cli/run_program.h"
#include "core/atomic_file.h"
#include "orchard/v1/registry_service.grpc.pb.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "worker/agent/trainer_binary.h"

namespace orchard::cli {
namespace {

void PrintModelNow(const v1::Model& model, bool json, std::ostream& out) { PrintModel(model, Now(), json, out); }

}  // namespace

int Models(const GlobalOptions& global) {
  return CoordinatorCalls(global).CallAndPrint(
      &v1::ModelRegistryService::Stub::ListModels, v1::ListModelsRequest(),
      [](const v1::ListModelsResponse& models, bool json, std::ostream& out) { PrintModels(models, Now(), json, out); });
}

int ShowModel(const GlobalOptions& global, const std::string& name) {
  v1::GetModelRequest request;
  request.set_name(name);
  return CoordinatorCalls(global).CallAndPrint(&v1::ModelRegistryService::Stub::GetModel, request, PrintModelNow);
}

int PromoteTrial(const GlobalOptions& global, const std::string& name, int64_t trial_id) {
  v1::PromoteTrialRequest request;
  request.set_model(name);
  request.set_trial_id(trial_id);
  return CoordinatorCalls(global).CallAndPrint(&v1::ModelRegistryService::Stub::PromoteTrial, request, PrintModelNow);
}

int RollbackModel(const GlobalOptions& global, const std::string& name) {
  v1::RollbackModelRequest request;
  request.set_model(name);
  return CoordinatorCalls(global).CallAndPrint(&v1::ModelRegistryService::Stub::RollbackModel, request, PrintModelNow);
}

int ExportModel(const GlobalOptions& global, const std::string& name, int64_t version, const std::string& out_dir) {
  std::ostream& err = *global.err;
  v1::GetModelRequest request;
  request.set_name(name);
  v1::Model model;
  if (int code = CoordinatorCalls(global).Call(&v1::ModelRegistryService::Stub::GetModel, request, &model);
      code != kExitOk)
    return code;
  const int64_t wanted = version > 0 ? version : model.champion();
  if (wanted == 0) {
    err << "orchard: model " << name << " has no champion yet; pass --version V (orchard models show " << name
        << " lists them)\n";
    return kExitNotFound;
  }
  const auto found = std::find_if(model.versions().begin(), model.versions().end(),
                                  [&](const v1::ModelVersion& v) { return v.version() == wanted; });
  if (found == model.versions().end()) {
    err << "orchard: model " << name << " has no version " << wanted << " (orchard models show " << name
        << " lists them)\n";
    return kExitNotFound;
  }
  const std::filesystem::path root(model.storage_root());
  const std::filesystem::path recipe = root / found->directory() / "recipe.yaml";
  std::error_code error;
  if (!std::filesystem::exists(recipe, error)) {
    err << "orchard: " << recipe.string() << " is not readable on this machine: export where the coordinator's "
           "storage root " << model.storage_root() << " is mounted\n";
    return kExitError;
  }
  std::filesystem::create_directories(out_dir, error);
  if (error) {
    err << "orchard: cannot create " << out_dir << ": " << error.message() << "\n";
    return kExitBadInput;
  }
  const std::string model_file = (std::filesystem::path(out_dir) / "model.pt").string();
  const int exported = RunToCompletion({worker::DefaultTrainerBinary(), "export", "--recipe", recipe.string(),
                                        "--checkpoint", (root / found->checkpoint()).string(), "--out", model_file});
  if (exported != 0) {
    err << "orchard: " << worker::DefaultTrainerBinary() << " export failed"
        << (exported < 0 ? " to run (is orchard-train next to orchard?)" : "") << "; nothing was exported\n";
    return exported == 2 ? kExitBadInput : kExitError;
  }
  std::filesystem::copy_file(recipe, std::filesystem::path(out_dir) / "recipe.yaml",
                             std::filesystem::copy_options::overwrite_existing, error);
  if (error) {
    err << "orchard: cannot copy " << recipe.string() << " to " << out_dir << ": " << error.message() << "\n";
    return kExitError;
  }
  // The card: what the version is, why it was promoted, and what trained it. Without its lineage
  // (the coordinator would not give it: an older one, or another user's sweep) the card says so.
  v1::GetTrialLineageRequest lineage_request;
  lineage_request.set_trial_id(found->trial_id());
  v1::TrialLineage lineage;
  const bool have_lineage =
      CoordinatorCalls(global).Call(&v1::SweepService::Stub::GetTrialLineage, lineage_request, &lineage) == kExitOk;
  if (!have_lineage) err << "orchard: model-card.json is written without the trial's lineage\n";
  const std::string card = (std::filesystem::path(out_dir) / "model-card.json").string();
  const nlohmann::json card_json = ModelCard(model, *found, have_lineage ? &lineage : nullptr);
  if (Status written = WriteFileAtomically(card, card_json.dump(2) + "\n"); !written.ok()) {
    err << "orchard: " << written.message() << "\n";
    return kExitError;
  }
  PrintExportedModel(name, wanted, model_file, *global.out);
  return kExitOk;
}

}  // namespace orchard::cli
