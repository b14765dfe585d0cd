// orchard-worker: the agent on one node; runs the coordinator's trials as orchard-train processes.
//
//   orchard-worker --coordinator 127.0.0.1:7070 --cpu-slots 2
#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>

#include "worker/agent/agent.h"
#include "worker/agent/trainer_binary.h"

namespace {
std::atomic<bool> stop_requested{false};
void RequestStop(int) { stop_requested.store(true); }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"orchard-worker: offers this machine's GPUs (or CPU slots) to an Orchard coordinator and runs trials."};
  orchard::worker::AgentOptions options;
  std::string start = "warm";
  app.add_option("--coordinator", options.coordinator, "Coordinator HOST:PORT")
      ->envname("ORCHARD_COORDINATOR")->capture_default_str();
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
  app.footer("Exit codes: 0 stopped by SIGTERM/SIGINT (running trials checkpoint first), 1 the coordinator could not\n"
             "be reached or refused us, 2 bad flags.");
  CLI11_PARSE(app, argc, argv);
  options.warm_start = start == "warm";
  if (options.trainer_binary.empty()) options.trainer_binary = orchard::worker::DefaultTrainerBinary();

  std::signal(SIGTERM, RequestStop);
  std::signal(SIGINT, RequestStop);
  orchard::worker::WorkerAgent agent(options);
  const orchard::Status status = agent.Run(stop_requested);
  if (!status.ok()) {
    std::cerr << "orchard-worker: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
