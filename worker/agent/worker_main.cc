// orchard-worker: the agent on one node; runs the coordinator's trials as orchard-train processes.
//
//   orchard-worker --coordinator 127.0.0.1:7070 --cpu-slots 2
//
// mpirun mode (mpi_world.h): every MPI rank is a slot and trains in-process.
//
//   mpirun -np 8 orchard-worker --mpi --coordinator HOST:PORT      # serve a coordinator's sweeps
//   mpirun -np 8 orchard-worker --mpi --sweep recipe.yaml          # the coordinator on rank 0, one sweep
#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>

#include "cli/commands.h"
#include "worker/agent/agent.h"
#include "worker/agent/mpi_world.h"
#include "worker/agent/trainer_binary.h"
#include "worker/comm/mpi_communicator.h"

namespace {
std::atomic<bool> stop_requested{false};
void RequestStop(int) { stop_requested.store(true); }

// Every rank serves its slot; rank 0 also runs the agent (and, with --sweep, the coordinator).
int RunMpiWorld(orchard::worker::AgentOptions options, const std::string& sweep_recipe,
                const std::vector<std::string>& overrides, const std::string& state_dir) {
  using namespace orchard;
  Status mpi = comm::InitMpi();
  if (!mpi.ok()) {
    std::cerr << "orchard-worker --mpi: " << mpi.message() << "\n";
    return 1;
  }
  worker::MpiWorld world;
  if (world.rank() != 0) {
    world.Serve();
    comm::FinalizeMpi(0);
    return 0;
  }
  world.StartServing();
  options.slots = world.slots();
  options.make_launcher = world.LauncherFactory();
  int code = 0;
  if (!sweep_recipe.empty()) {
    cli::RunOptions run;
    run.submit.recipe = sweep_recipe;
    run.submit.overrides = overrides;
    run.state_dir = state_dir;
    run.configure_agent = [&](worker::AgentOptions& agent) {
      agent.slots = options.slots;
      agent.make_launcher = options.make_launcher;
      agent.threads_per_slot = options.threads_per_slot;
    };
    code = cli::Run(cli::GlobalOptions{}, run);
  } else {
    const Status status = worker::WorkerAgent(options).Run(stop_requested);
    if (!status.ok()) std::cerr << "orchard-worker: " << status.message() << "\n", code = 1;
  }
  world.Shutdown();
  comm::FinalizeMpi(code);
  return code;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"orchard-worker: offers this machine's GPUs (or CPU slots) to an Orchard coordinator and runs trials."};
  orchard::worker::AgentOptions options;
  std::string start = "warm", sweep_recipe, state_dir = "orchard-state";
  std::vector<std::string> overrides;
  bool mpi = false;
  app.add_option("--coordinator", options.coordinator, "Coordinator HOST:PORT")
      ->envname("ORCHARD_COORDINATOR")->capture_default_str();
  orchard::client::ClientSecurityFlags security_flags;
  orchard::client::AddClientSecurityFlags(app, security_flags);
  app.add_option("--cpu-slots", options.cpu_slots, "CPU slots to offer when there is no GPU (0: one per two cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--cpu", options.force_cpu, "Offer CPU slots even if GPUs are present");
  app.add_option("--threads-per-slot", options.threads_per_slot, "Intra-op threads per CPU slot (0: cores / slots)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--storage", options.storage_root, "Storage root for trial output (default: the coordinator's)");
  app.add_option("--trainer", options.trainer_binary, "The orchard-train binary (default: next to this one)");
  app.add_option("--trainer-start", start,
                 "warm: one process with LibTorch loaded forks each trial; cold: start orchard-train per trial")
      ->check(CLI::IsMember({"warm", "cold"}))->capture_default_str();
  app.add_flag("-q,--quiet", options.quiet, "No per-attempt lines");
  app.add_flag("--mpi", mpi, "Run under mpirun: the MPI world is one worker, each rank a slot that trains in-process");
  auto* sweep = app.add_option("--sweep", sweep_recipe,
                               "With --mpi: run this recipe's sweep with the coordinator on rank 0, then exit");
  app.add_option("--set", overrides, "With --sweep: override a recipe field (repeatable)");
  app.add_option("--state-dir", state_dir, "With --sweep: the coordinator's SQLite database and trial storage")
      ->capture_default_str();
  app.footer("Exit codes: 0 stopped by SIGTERM/SIGINT (running trials checkpoint first), 1 the coordinator could not\n"
             "be reached or refused us, 2 bad flags. With --sweep: the exit codes of `orchard run`.");
  CLI11_PARSE(app, argc, argv);
  if (sweep->count() > 0 && !mpi) {
    std::cerr << "orchard-worker: --sweep runs a sweep inside an mpirun allocation; add --mpi (or use `orchard run`)\n";
    return 2;
  }
  options.warm_start = start == "warm";
  auto security = orchard::client::LoadClientSecurity(security_flags);
  if (!security.ok()) {
    std::cerr << "orchard-worker: " << security.status().message() << "\n";
    return 2;
  }
  options.security = *std::move(security);
  if (options.trainer_binary.empty()) options.trainer_binary = orchard::worker::DefaultTrainerBinary();

  std::signal(SIGTERM, RequestStop);
  std::signal(SIGINT, RequestStop);
  if (mpi) return RunMpiWorld(options, sweep_recipe, overrides, state_dir);
  orchard::worker::WorkerAgent agent(options);
  const orchard::Status status = agent.Run(stop_requested);
  if (!status.ok()) {
    std::cerr << "orchard-worker: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
