// How Orchard's clients (the orchard CLI and orchard-worker) reach the coordinator: one channel,
// TLS (and a client certificate for mutual TLS) when configured, and the bearer token on every call.
//
//   ClientSecurityFlags flags;
//   AddClientSecurityFlags(app, flags);   // --token-file, --tls-ca, --tls-cert, --tls-key
//   CLI11_PARSE(app, argc, argv);
//   ASSIGN_OR_RETURN(ClientSecurity security, LoadClientSecurity(flags));
//   auto stub = v1::SweepService::NewStub(CreateCoordinatorChannel("host:7070", security));
//
// Thread-safe; a channel may be shared by any number of calls.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "core/status.h"

namespace CLI {
class App;
}

namespace orchard::client {

// File names as given on the command line (or in the environment).
struct ClientSecurityFlags {
  std::string token_file;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
};

// What a channel needs, read from those files. Default: plaintext, no token (a loopback coordinator).
struct ClientSecurity {
  std::string token;         // sent as "authorization: Bearer TOKEN" on every call; empty: none
  bool tls = false;
  std::string tls_ca_pem;    // the CA that signed the coordinator's certificate
  std::string tls_cert_pem;  // the client's certificate chain, for mutual TLS; empty: none
  std::string tls_key_pem;
};

// Adds --token-file, --tls-ca, --tls-cert and --tls-key (and their ORCHARD_* variables) to `app`.
void AddClientSecurityFlags(CLI::App& app, ClientSecurityFlags& flags);

// Reads the files. Without --token-file the token comes from the ORCHARD_TOKEN variable, if set.
// InvalidArgument names the flag of an unreadable or empty file, or a client certificate without a CA.
StatusOr<ClientSecurity> LoadClientSecurity(const ClientSecurityFlags& flags);

// A channel to `address` ("host:port") that carries `security` on every call.
std::shared_ptr<grpc::Channel> CreateCoordinatorChannel(const std::string& address, const ClientSecurity& security);

}  // namespace orchard::client
