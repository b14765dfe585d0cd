#include "coordinator/server/server.h"

#include <absl/synchronization/mutex.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "core/flag_file.h"

namespace orchard::coordinator {
namespace {

StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerSecurity& security) {
  if (security.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(security.tls_client_ca_file.empty()
                                                ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.cert_chain, ReadFlagFile("--tls-cert", security.tls_cert_file));
  ASSIGN_OR_RETURN(pair.private_key, ReadFlagFile("--tls-key", security.tls_key_file));
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!security.tls_client_ca_file.empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs, ReadFlagFile("--tls-client-ca", security.tls_client_ca_file));
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace

StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(const std::string& listen_address,
                                                                      const CoordinatorOptions& options,
                                                                      const ServerSecurity& security,
                                                                      const std::string& http_address) {
  RETURN_IF_ERROR(CheckAdmission("--listen", listen_address, security));
  if (!http_address.empty()) RETURN_IF_ERROR(CheckAdmission("--http", http_address, security));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, Credentials(security));
  // gRPC takes Abseil mutexes on every call, and Debian's Abseil checks each for lock-order cycles:
  // a cost the coordinator's load measured (README, "The coordinator under load"). Process-wide, so
  // `orchard run`'s embedded coordinator gains too.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer());
  CoordinatorOptions opening = options;
  if (!opening.before_schema_upgrade)
    opening.before_schema_upgrade = [path = (std::filesystem::path(options.state_dir) / "orchard.db").string()](
                                        int64_t from, int64_t to) {
      std::cerr << "orchard-coordinator: upgrading the state database " << path << " from schema version " << from
                << " to " << to << "; this is done once, and a large metric history takes a while (about 1.3 s per "
                << "million points)\n";
    };
  ASSIGN_OR_RETURN(server->coordinator_, Coordinator::Open(opening));
  if (security.auth) {
    ASSIGN_OR_RETURN(server->credentials_,
                     CredentialStore::Open((std::filesystem::path(options.state_dir) / "orchard.db").string(),
                                           options.clock));
  }
  server->sweep_service_ = std::make_unique<SweepServiceImpl>(*server->coordinator_, server->credentials_.get());
  server->registry_service_ = std::make_unique<ModelRegistryServiceImpl>(*server->coordinator_, server->credentials_.get());
  server->worker_service_ = std::make_unique<WorkerServiceImpl>(*server->coordinator_, server->credentials_.get());
  server->trial_service_ = std::make_unique<TrialServiceImpl>(*server->coordinator_);
  server->schedule_service_ = std::make_unique<ScheduleServiceImpl>(*server->coordinator_, server->credentials_.get());

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen_address, credentials, &port);
  builder.RegisterService(server->sweep_service_.get());
  builder.RegisterService(server->registry_service_.get());
  builder.RegisterService(server->worker_service_.get());
  builder.RegisterService(server->trial_service_.get());
  builder.RegisterService(server->schedule_service_.get());
  builder.SetMaxReceiveMessageSize(8 << 20);
  // A write's handler waits for its group commit, so a burst of writes holds as many threads; with
  // few idle threads allowed, each burst's threads exit and the next burst starts new ones (README,
  // "The coordinator under load").
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 128);
  builder.experimental().SetInterceptorCreators(server->rpc_metrics_.InterceptorFactories());
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || port == 0)
    return Unavailable("cannot listen on " + listen_address +
                       " (is the port in use? choose another with --listen HOST:PORT, or port 0 for any free one)");
  server->address_ = listen_address.substr(0, listen_address.rfind(':')) + ":" + std::to_string(port);
  if (!http_address.empty()) {
    ASSIGN_OR_RETURN(server->http_, HttpServer::Start(http_address, *server->coordinator_, server->credentials_.get(),
                                                      security, &server->rpc_metrics_));
  }

  // Declare silent workers lost a few times per lease timeout, and fire schedules every second, the
  // first time at once (catching up what was missed while the coordinator was down).
  server->reaper_ = std::thread([raw = server.get()] {
    const auto period = std::chrono::duration<double>(raw->coordinator_->options().lease_timeout_seconds / 4);
    auto next_expiry = std::chrono::steady_clock::now();
    auto next_firing = std::chrono::steady_clock::now();
    std::string last_firing_error;  // a failing schedule is reported when its error changes, not every second
    while (!raw->stopping_.load()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_firing) {
        next_firing = now + std::chrono::seconds(1);
        Status status = raw->coordinator_->FireDueSchedules();
        if (!status.ok() && status.message() != last_firing_error)
          std::cerr << "orchard-coordinator: firing schedules: " << status.message() << "\n";
        last_firing_error = status.message();
      }
      if (now >= next_expiry) {
        next_expiry = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
        Status status = raw->coordinator_->ExpireWorkers();
        if (!status.ok()) std::cerr << "orchard-coordinator: expiring workers: " << status.message() << "\n";
        status = raw->coordinator_->CheckUnplaceableTrials();
        if (!status.ok()) std::cerr << "orchard-coordinator: checking waiting trials: " << status.message() << "\n";
      }
      std::unique_lock<std::mutex> lock(raw->reaper_mu_);
      raw->reaper_wake_.wait_for(lock, std::chrono::milliseconds(100), [raw] { return raw->stopping_.load(); });
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
  if (http_) http_->Shutdown();
  // Streams (WatchSweep) notice the deadline and end; unary calls finish.
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  {
    // Taken after stopping_ is set: the reaper is then either waiting (and woken) or yet to look.
    std::lock_guard<std::mutex> lock(reaper_mu_);
    reaper_wake_.notify_all();
  }
  if (reaper_.joinable()) reaper_.join();
}

}  // namespace orchard::coordinator
