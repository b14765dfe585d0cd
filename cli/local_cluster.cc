#include "cli/local_cluster.h"

namespace orchard::cli {

StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(const coordinator::CoordinatorOptions& coordinator,
                                                            worker::AgentOptions agent, const std::string& http_address) {
  ASSIGN_OR_RETURN(std::unique_ptr<coordinator::CoordinatorServer> server,
                   coordinator::CoordinatorServer::Start("127.0.0.1:0", coordinator, {}, http_address));
  agent.coordinator = server->address();
  return std::unique_ptr<LocalCluster>(new LocalCluster(std::move(server), std::move(agent)));
}

LocalCluster::LocalCluster(std::unique_ptr<coordinator::CoordinatorServer> server, worker::AgentOptions agent)
    : server_(std::move(server)), agent_(std::move(agent)) {
  agent_thread_ = std::thread([this] { agent_status_ = agent_.Run(stop_agent_); });
}

Status LocalCluster::Stop() {
  if (!agent_thread_.joinable()) return OkStatus();
  stop_agent_.store(true);
  agent_.Wake();
  agent_thread_.join();
  server_->Shutdown();
  return agent_status_;
}

}  // namespace orchard::cli
