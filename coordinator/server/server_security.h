// How the coordinator's listeners (gRPC and HTTP) admit clients (docs/security.md).
#pragma once

#include <string>

#include "core/status.h"

namespace orchard::coordinator {

struct ServerSecurity {
  bool auth = false;               // bearer tokens on every call (users and worker tokens in the state database)
  std::string tls_cert_file;       // PEM certificate chain; with tls_key_file, serve TLS only
  std::string tls_key_file;        // PEM private key
  std::string tls_client_ca_file;  // PEM CA bundle: require client certificates it signed (mutual TLS)
};

// Whether `listen_address` ("HOST:PORT") only accepts connections from this machine.
bool IsLoopbackAddress(const std::string& listen_address);

// InvalidArgument, naming `flag`, for an address other than loopback without authentication, and
// for TLS flags that do not go together.
Status CheckAdmission(const std::string& flag, const std::string& listen_address, const ServerSecurity& security);

}  // namespace orchard::coordinator
