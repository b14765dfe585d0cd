// The coordinator as a running gRPC server: the three services, server reflection, and a thread
// that declares silent workers lost. Used by orchard-coordinator and embedded by `orchard run`.
//
//   ASSIGN_OR_RETURN(auto server, CoordinatorServer::Start("127.0.0.1:0", options));
//   std::cout << server->address();   // "127.0.0.1:41234"
//   server->Wait();                   // until Shutdown() from another thread
//
// Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "coordinator/coordinator.h"
#include "coordinator/services.h"

namespace orchard::coordinator {

class CoordinatorServer {
 public:
  // Binds `listen_address` (port 0: a free port). Unavailable when the address cannot be bound.
  static StatusOr<std::unique_ptr<CoordinatorServer>> Start(const std::string& listen_address,
                                                            const CoordinatorOptions& options);
  CoordinatorServer(const CoordinatorServer&) = delete;
  CoordinatorServer& operator=(const CoordinatorServer&) = delete;
  ~CoordinatorServer();

  // host:port clients dial, with the port actually bound.
  const std::string& address() const { return address_; }
  Coordinator& coordinator() { return *coordinator_; }

  void Wait();
  // Stops accepting calls, ends open streams and waits for handlers to return. Idempotent.
  void Shutdown();

 private:
  CoordinatorServer() = default;

  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<SweepServiceImpl> sweep_service_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<TrialServiceImpl> trial_service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::atomic<bool> stopping_{false};
  std::thread reaper_;
};

}  // namespace orchard::coordinator
