// `orchard models ...`: the model registry (docs/registry.md).
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "cli/commands.h"
#include "cli/coordinator_calls.h"
#include "cli/model_render.h"
#include "orchard/v1/registry_service.grpc.pb.h"
#include "worker/agent/trainer_binary.h"

namespace orchard::cli {
namespace {

void PrintModelNow(const v1::Model& model, bool json, std::ostream& out) { PrintModel(model, Now(), json, out); }

// Runs `argv` with this process's stdout and stderr; its exit code, or -1 when it could not start
// or was killed.
int RunToCompletion(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

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
  PrintExportedModel(name, wanted, model_file, *global.out);
  return kExitOk;
}

}  // namespace orchard::cli
