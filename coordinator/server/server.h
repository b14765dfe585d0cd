// The coordinator as a running gRPC server: its services, server reflection, and a thread that
// declares silent workers lost and fires schedules. Used by orchard-coordinator and embedded by
// `orchard run`.
//
//   ASSIGN_OR_RETURN(auto server, CoordinatorServer::Start("127.0.0.1:0", options));
//   ServerSecurity security{.auth = true, .tls_cert_file = "c.pem", .tls_key_file = "k.pem"};
//   ASSIGN_OR_RETURN(auto server, CoordinatorServer::Start("0.0.0.0:7070", options, security));
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
#include "coordinator/server/services.h"

namespace orchard::coordinator {

// How the server admits clients (docs/security.md).
struct ServerSecurity {
  bool auth = false;               // bearer tokens on every call (users and worker tokens in the state database)
  std::string tls_cert_file;       // PEM certificate chain; with tls_key_file, serve TLS only
  std::string tls_key_file;        // PEM private key
  std::string tls_client_ca_file;  // PEM CA bundle: require client certificates it signed (mutual TLS)
};

// Whether `listen_address` ("HOST:PORT") only accepts connections from this machine.
bool IsLoopbackAddress(const std::string& listen_address);

class CoordinatorServer {
 public:
  // Binds `listen_address` (port 0: a free port). InvalidArgument for an address other than
  // loopback without security.auth, or for missing or unreadable TLS files; Unavailable when the
  // address cannot be bound.
  static StatusOr<std::unique_ptr<CoordinatorServer>> Start(const std::string& listen_address,
                                                            const CoordinatorOptions& options,
                                                            const ServerSecurity& security = {});
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
  std::unique_ptr<CredentialStore> credentials_;  // null when authentication is off
  std::unique_ptr<SweepServiceImpl> sweep_service_;
  std::unique_ptr<ModelRegistryServiceImpl> registry_service_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<TrialServiceImpl> trial_service_;
  std::unique_ptr<ScheduleServiceImpl> schedule_service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::atomic<bool> stopping_{false};
  std::thread reaper_;  // expires silent workers and fires schedules
};

}  // namespace orchard::coordinator
