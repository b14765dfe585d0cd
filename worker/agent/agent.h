// The worker agent: registers its slots with the coordinator, heartbeats, leases attempts, runs each
// as an orchard-train process, relays the trainer's metrics and checkpoints to the coordinator with
// the attempt's token, and reports how each attempt ended. It never trains in its own process, so a
// crashing trial cannot take it down.
//
//   WorkerAgent agent(options);
//   Status status = agent.Run(stop_flag);   // until stop_flag is set
//
// Every call to the coordinator goes through a CoordinatorLink: gRPC's unless one is given (tests
// give a fake). Run blocks; call it from one thread. Stop by setting the flag: running trainers get
// SIGTERM (they checkpoint and exit) and their exits are reported before Run returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>

#include "client/connection.h"
#include "core/status.h"
#include "worker/agent/slots.h"
#include "worker/agent/trainer_launcher.h"

namespace orchard::worker {

// Declared only: orchard-worker includes this header beside LibTorch's, whose bundled protobuf
// headers clash with those coordinator_link.h includes.
class CoordinatorLink;

struct AgentOptions {
  std::string coordinator = "127.0.0.1:7070";
  client::ClientSecurity security;   // TLS and the worker token (docs/security.md)
  std::string trainer_binary;        // orchard-train
  bool warm_start = true;            // keep a warm trainer (zygote) instead of exec per trial
  int64_t cpu_slots = 0;             // 0: one per two cores
  bool force_cpu = false;            // offer CPU slots even where GPUs exist
  int64_t threads_per_slot = 0;      // intra-op threads of a CPU trial per slot; 0: cores / slots
  std::string storage_root;          // default: the coordinator's
  std::string hostname;              // default: gethostname()
  double poll_seconds = 0.25;        // lease and relay period while idle
  double connect_timeout_seconds = 30;  // give up when the coordinator cannot be reached this long
  bool quiet = false;                // no per-attempt lines on stdout
  // Set by mpirun mode (mpi_world.h): the slots are the MPI ranks, and trials train in-process on
  // them instead of as orchard-train processes.
  std::optional<Slots> slots;
  std::function<std::unique_ptr<TrainerLauncher>(std::function<void()> on_exit)> make_launcher;
};

class WorkerAgent {
 public:
  // Reaches options.coordinator over gRPC with options.security.
  explicit WorkerAgent(AgentOptions options);
  // Reaches the coordinator through `link` (not null); options.coordinator only names it in
  // messages, and options.security is not used.
  WorkerAgent(AgentOptions options, std::unique_ptr<CoordinatorLink> link);
  WorkerAgent(const WorkerAgent&) = delete;
  WorkerAgent& operator=(const WorkerAgent&) = delete;
  ~WorkerAgent();

  // Unavailable when the coordinator cannot be reached within the connect timeout.
  Status Run(const std::atomic<bool>& stop);
  // Makes Run look now instead of at its next poll: it leases at once if a slot is free (work was
  // just submitted) and sees a stop set before this call. Safe from any thread.
  void Wake();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orchard::worker
