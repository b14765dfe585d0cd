// `orchard submit` (to a running coordinator) and `orchard run` (to one embedded in this process):
// both read a recipe, submit its sweep and may follow it to its end.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/coordinator_calls.h"
#include "cli/local_cluster.h"
#include "cli/render.h"
#include "cli/sweep_follow.h"
#include "core/recipe.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "worker/agent/agent.h"
#include "worker/agent/trainer_binary.h"

namespace orchard::cli {
namespace {

// A recipe read and checked here, so errors name the path as the user typed it and nothing is sent.
struct Submission {
  v1::SubmitSweepRequest request;
  Recipe recipe;
};

StatusOr<Submission> ReadSubmission(const SubmitOptions& options) {
  std::ifstream in(options.recipe);
  if (!in) return NotFound(options.recipe + ": cannot read the recipe file");
  std::stringstream text;
  text << in.rdbuf();
  v1::SubmitSweepRequest request;
  request.set_recipe_yaml(text.str());
  std::error_code error;
  request.set_recipe_file(std::filesystem::absolute(options.recipe, error).lexically_normal().string());
  for (const std::string& o : options.overrides) request.add_overrides(o);
  request.set_name(options.name);
  request.set_model(options.model);
  request.set_promotion_margin(options.promotion_margin);
  ASSIGN_OR_RETURN(Recipe recipe, ParseRecipe(text.str(), options.recipe, options.overrides));
  return Submission{std::move(request), std::move(recipe)};
}

// Says why `verb` ("submitted", "run") did not happen, and the exit code for it.
int RefuseSubmission(const Status& status, const char* verb, std::ostream& err) {
  err << "orchard: invalid recipe; nothing was " << verb << ":\n" << status.message() << "\n";
  return status.code() == StatusCode::kNotFound ? kExitNotFound : kExitBadInput;
}

}  // namespace

int Submit(const GlobalOptions& global, const SubmitOptions& options, AfterSubmit after) {
  auto submission = ReadSubmission(options);
  if (!submission.ok()) return RefuseSubmission(submission.status(), "submitted", *global.err);
  const CoordinatorCalls calls(global);
  v1::SubmitSweepResponse response;
  if (int code = calls.CallAndPrint(
          &v1::SweepService::Stub::SubmitSweep, submission->request,
          [&](const v1::SubmitSweepResponse& submitted, bool json, std::ostream& out) {
            PrintSubmitted(submitted.sweep(), /*waiting=*/after == AfterSubmit::kWait, json, out);
          },
          &response);
      code != kExitOk)
    return code;
  switch (after) {
    case AfterSubmit::kReturn: return kExitOk;
    case AfterSubmit::kWatch: return FollowSweep(calls, response.sweep().id(), /*cancel_on_interrupt=*/false);
    case AfterSubmit::kWait: return WaitForSweepEnd(calls, response.sweep().id());
  }
  return kExitOk;
}

int Run(const GlobalOptions& global, const RunOptions& options) {
  std::ostream& err = *global.err;
  auto submission = ReadSubmission(options.submit);
  if (!submission.ok()) return RefuseSubmission(submission.status(), "run", err);
  const v1::SubmitSweepRequest& request = submission->request;
  worker::AgentOptions agent_options;
  agent_options.trainer_binary = worker::DefaultTrainerBinary();
  agent_options.cpu_slots = options.cpu_slots;
  agent_options.warm_start = options.warm_start;
  agent_options.quiet = true;
  if (options.configure_agent) options.configure_agent(agent_options);
  // The local worker is all there is: a trial that needs more slots than it has would wait forever.
  if (!agent_options.slots) {
    auto detected = worker::DetectSlots(agent_options.cpu_slots, agent_options.force_cpu);
    if (!detected.ok()) {
      err << "orchard: " << detected.status().message() << "; nothing was run\n";
      return kExitBadInput;
    }
    agent_options.slots = *std::move(detected);
  }
  const std::vector<int64_t>& gpu_memory = agent_options.slots->gpu_memory_bytes;
  const double share_gib = submission->recipe.sweep.gpu_memory_gib;
  if (share_gib > 0 && !gpu_memory.empty() &&
      share_gib * 1024 * 1024 * 1024 > static_cast<double>(*std::max_element(gpu_memory.begin(), gpu_memory.end()))) {
    err << "orchard: " << options.submit.recipe << ": sweep.gpu_memory_gib: each trial needs " << share_gib
        << " GiB of one GPU, and this machine's largest GPU has "
        << static_cast<double>(*std::max_element(gpu_memory.begin(), gpu_memory.end())) / (1024.0 * 1024 * 1024)
        << " GiB; nothing was run. Lower sweep.gpu_memory_gib, or use sweep.gpu_fraction\n";
    return kExitBadInput;
  }
  if (const int64_t ranks = submission->recipe.sweep.ranks; ranks > agent_options.slots->count) {
    err << "orchard: " << options.submit.recipe << ": sweep.ranks: each trial needs " << ranks << " slots, and this "
        << (options.configure_agent ? "mpirun world has " : "machine offers ") << agent_options.slots->count << " "
        << agent_options.slots->kind << " slots; nothing was run. Lower sweep.ranks, or "
        << (options.configure_agent ? "start mpirun with -np " + std::to_string(ranks) + " or more"
                                    : "offer more slots (--cpu-slots)") << "\n";
    return kExitBadInput;
  }
  coordinator::CoordinatorOptions coordinator_options;
  coordinator_options.state_dir = options.state_dir;
  auto cluster = LocalCluster::Start(coordinator_options, agent_options, options.http);
  if (!cluster.ok()) {
    err << "orchard: cannot start the embedded coordinator: " << cluster.status().message() << "\n";
    return kExitError;
  }

  GlobalOptions local = global;
  local.coordinator = (*cluster)->address();
  local.security = {};  // the embedded coordinator listens on loopback without TLS or tokens
  const CoordinatorCalls calls(local);
  // A rerun after a crash (a requeued batch job) finishes the sweep it left unfinished instead of
  // starting it again: its done trials stay done and the others resume from their checkpoints.
  v1::SubmitSweepResponse response;
  int code = kExitOk;
  auto unfinished = (*cluster)->coordinator().FindUnfinishedSweep(request);
  if (!unfinished.ok()) {
    err << "orchard: cannot read the state in " << options.state_dir << ": " << unfinished.status().message() << "\n";
    code = kExitError;
  } else if (unfinished->has_value()) {
    *response.mutable_sweep() = **unfinished;
  } else {
    code = calls.Call(&v1::SweepService::Stub::SubmitSweep, request, &response);
    if (code == kExitOk) (*cluster)->WorkSubmitted();
  }
  if (code == kExitOk) {
    PrintRunStarted(response.sweep(), /*resumed=*/unfinished->has_value(), options.state_dir, global.json, *global.out);
    if (!(*cluster)->dashboard_url().empty())
      (global.json ? err : *global.out) << "dashboard: " << (*cluster)->dashboard_url() << "#/sweeps/"
                                        << response.sweep().id() << " (served until the sweep ends)" << std::endl;
    code = FollowSweep(calls, response.sweep().id(), /*cancel_on_interrupt=*/true);
  }
  const Status agent_status = (*cluster)->Stop();
  if (!agent_status.ok()) err << "orchard: local worker: " << agent_status.message() << "\n";
  return code;
}

}  // namespace orchard::cli
