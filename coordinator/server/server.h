// The coordinator as a running server: its gRPC services, server reflection, the HTTP listener
// (dashboard, JSON API, /metrics: http_server.h), and a thread that declares silent workers lost
// and fires schedules. Used by orchard-coordinator and embedded by `orchard run`.
//
//   ASSIGN_OR_RETURN(auto server, CoordinatorServer::Start("127.0.0.1:0", options));
//   ServerSecurity security{.auth = true, .tls_cert_file = "c.pem", .tls_key_file = "k.pem"};
//   ASSIGN_OR_RETURN(auto server, CoordinatorServer::Start("0.0.0.0:7070", options, security));
//   std::cout << server->address();   // "127.0.0.1:41234"
//   std::cout << server->dashboard_url();  // "http://127.0.0.1:41235/" with an http_address
//   server->Wait();                   // until Shutdown() from another thread
//
// Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "coordinator/coordinator.h"
#include "coordinator/server/http_server.h"
#include "coordinator/server/rpc_metrics.h"
#include "coordinator/server/server_security.h"
#include "coordinator/server/services.h"

namespace orchard::coordinator {

class CoordinatorServer {
 public:
  // Binds `listen_address` and, unless empty, `http_address` (port 0: a free port). InvalidArgument
  // for an address other than loopback without security.auth, or for missing or unreadable TLS
  // files; Unavailable when an address cannot be bound.
  static StatusOr<std::unique_ptr<CoordinatorServer>> Start(const std::string& listen_address,
                                                            const CoordinatorOptions& options,
                                                            const ServerSecurity& security = {},
                                                            const std::string& http_address = "");
  CoordinatorServer(const CoordinatorServer&) = delete;
  CoordinatorServer& operator=(const CoordinatorServer&) = delete;
  ~CoordinatorServer();

  // host:port clients dial, with the port actually bound.
  const std::string& address() const { return address_; }
  // The dashboard's URL; empty without an HTTP listener.
  std::string dashboard_url() const { return http_ ? http_->url() : ""; }
  Coordinator& coordinator() { return *coordinator_; }

  void Wait();
  // Stops accepting calls, ends open streams and waits for handlers to return. Idempotent.
  void Shutdown();

 private:
  CoordinatorServer() = default;

  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<CredentialStore> credentials_;  // null when authentication is off
  std::unique_ptr<SweepServiceImpl> sweep_service_;
  std::unique_ptr<ModelRegistryServiceImpl> registry_service_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<TrialServiceImpl> trial_service_;
  std::unique_ptr<ScheduleServiceImpl> schedule_service_;
  RpcMetrics rpc_metrics_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> http_;
  std::string address_;
  std::atomic<bool> stopping_{false};
  std::mutex reaper_mu_;
  std::condition_variable reaper_wake_;  // notified at shutdown, so the reaper ends without finishing a nap
  std::thread reaper_;  // expires silent workers and fires schedules
};

}  // namespace orchard::coordinator
