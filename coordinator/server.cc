#include "coordinator/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>

#include <chrono>
#include <iostream>

namespace orchard::coordinator {

StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(const std::string& listen_address,
                                                                      const CoordinatorOptions& options) {
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer());
  ASSIGN_OR_RETURN(server->coordinator_, Coordinator::Open(options));
  server->sweep_service_ = std::make_unique<SweepServiceImpl>(*server->coordinator_);
  server->worker_service_ = std::make_unique<WorkerServiceImpl>(*server->coordinator_);
  server->trial_service_ = std::make_unique<TrialServiceImpl>(*server->coordinator_);

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen_address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(server->sweep_service_.get());
  builder.RegisterService(server->worker_service_.get());
  builder.RegisterService(server->trial_service_.get());
  builder.SetMaxReceiveMessageSize(8 << 20);
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || port == 0)
    return Unavailable("cannot listen on " + listen_address +
                       " (is the port in use? choose another with --listen HOST:PORT, or port 0 for any free one)");
  server->address_ = listen_address.substr(0, listen_address.rfind(':')) + ":" + std::to_string(port);

  // Declare silent workers lost a few times per lease timeout.
  server->reaper_ = std::thread([raw = server.get()] {
    const auto period = std::chrono::duration<double>(raw->coordinator_->options().lease_timeout_seconds / 4);
    auto next = std::chrono::steady_clock::now();
    while (!raw->stopping_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (std::chrono::steady_clock::now() < next) continue;
      next = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
      Status status = raw->coordinator_->ExpireWorkers();
      if (!status.ok()) std::cerr << "orchard-coordinator: expiring workers: " << status.message() << "\n";
    }
  });
  return server;
}

CoordinatorServer::~CoordinatorServer() { Shutdown(); }

void CoordinatorServer::Wait() {
  if (server_) server_->Wait();
}

void CoordinatorServer::Shutdown() {
  if (stopping_.exchange(true)) return;
  // Streams (WatchSweep) notice the deadline and end; unary calls finish.
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (reaper_.joinable()) reaper_.join();
}

}  // namespace orchard::coordinator
