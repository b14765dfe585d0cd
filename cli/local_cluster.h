// A coordinator and a worker in one process: the embedded coordinator (SQLite under a state
// directory, gRPC on a free loopback port, no TLS or tokens) and one worker agent on its own thread.
// `orchard run`, `orchard-worker --mpi --sweep` and the benchmarks run sweeps on it.
//
//   worker::AgentOptions agent;
//   agent.slots = worker::DetectSlots(2, /*force_cpu=*/true).value();
//   ASSIGN_OR_RETURN(auto cluster, LocalCluster::Start({.state_dir = "runs/orchard"}, agent));
//   ... submit to cluster->address() ...
//   cluster->WorkSubmitted();          // the worker leases now, not at its next poll
//   Status worker = cluster->Stop();   // the worker's own status
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "coordinator/server/server.h"
#include "core/status.h"
#include "worker/agent/agent.h"

namespace orchard::cli {

class LocalCluster {
 public:
  // Starts the coordinator, then the agent, which is pointed at it (agent.coordinator is replaced).
  // `http_address` (e.g. "127.0.0.1:0"): where the dashboard listens; empty: no dashboard.
  static StatusOr<std::unique_ptr<LocalCluster>> Start(const coordinator::CoordinatorOptions& coordinator,
                                                       worker::AgentOptions agent, const std::string& http_address = "");
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;
  ~LocalCluster() { (void)Stop(); }

  const std::string& address() const { return server_->address(); }
  std::string dashboard_url() const { return server_->dashboard_url(); }
  coordinator::Coordinator& coordinator() { return server_->coordinator(); }

  // Tells the agent that work was submitted: it leases at once instead of at its next poll.
  void WorkSubmitted() { agent_.Wake(); }

  // Stops the agent (its trainers checkpoint and their exits are reported), then the coordinator.
  // Returns how the agent ended; OK once already stopped.
  Status Stop();

 private:
  LocalCluster(std::unique_ptr<coordinator::CoordinatorServer> server, worker::AgentOptions agent);

  std::unique_ptr<coordinator::CoordinatorServer> server_;
  worker::WorkerAgent agent_;
  std::atomic<bool> stop_agent_{false};
  Status agent_status_;
  std::thread agent_thread_;
};

}  // namespace orchard::cli
