// The coordinator's HTTP listener: the dashboard's pages, its JSON API (json_api.h) with live
// updates as Server-Sent Events, and Prometheus metrics on /metrics (docs/dashboard.md).
//
//   ASSIGN_OR_RETURN(auto http, HttpServer::Start("127.0.0.1:0", coordinator, credentials, security, &rpc_metrics));
//   std::cout << http->url();   // "http://127.0.0.1:41235/"
//
// The same admission rules as gRPC: an address other than loopback needs authentication, and with
// a certificate it serves HTTPS only. With authentication, every API call and /metrics needs a
// user's bearer token, in an "Authorization: Bearer" header or the cookie POST /api/login sets.
// Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "coordinator/access/credential_store.h"
#include "coordinator/coordinator.h"
#include "coordinator/server/json_api.h"
#include "coordinator/server/rpc_metrics.h"
#include "coordinator/server/server_security.h"

namespace httplib {
class Server;
struct Response;
}

namespace orchard::coordinator {

class HttpServer {
 public:
  // `credentials` null: authentication off. `rpc_metrics` null: no gRPC figures on /metrics (a
  // coordinator opened only to be looked at). InvalidArgument or Unavailable as for gRPC's Start.
  static StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen_address, Coordinator& coordinator,
                                                     CredentialStore* credentials, const ServerSecurity& security,
                                                     const RpcMetrics* rpc_metrics);
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();

  // "http://HOST:PORT/" (https with TLS), with the port actually bound.
  const std::string& url() const { return url_; }
  // Ends live streams and stops listening. Idempotent.
  void Shutdown();

 private:
  HttpServer(Coordinator& coordinator, CredentialStore* credentials, const RpcMetrics* rpc_metrics);
  void Route();
  // Server-Sent Events: `message()` at once and after every change (at most twice a second), a
  // keep-alive comment after 15 s without one; the stream ends when the server stops or `message`
  // answers nullopt.
  void StreamChanges(httplib::Response& response, std::function<std::optional<std::string>()> message);
  StatusOr<Principal> Caller(const std::string& authorization, const std::string& cookie) const;
  std::string MetricsPage();

  Coordinator& coordinator_;
  CredentialStore* credentials_;
  const RpcMetrics* rpc_metrics_;
  JsonApi api_;
  bool tls_ = false;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  std::string url_;
  std::atomic<bool> stopping_{false};
};

}  // namespace orchard::coordinator
