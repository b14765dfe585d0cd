#include "coordinator/server/server_security.h"

namespace orchard::coordinator {

bool IsLoopbackAddress(const std::string& listen_address) {
  for (const char* prefix : {"127.", "localhost:", "[::1]:"})
    if (listen_address.rfind(prefix, 0) == 0) return true;
  return false;
}

Status CheckAdmission(const std::string& flag, const std::string& listen_address, const ServerSecurity& security) {
  if (!IsLoopbackAddress(listen_address) && !security.auth)
    return InvalidArgument(flag + " " + listen_address +
                           ": only loopback addresses are allowed without authentication; add --auth (and "
                           "--tls-cert/--tls-key; see docs/security.md), or serve on 127.0.0.1 and tunnel (ssh -L)");
  if (security.tls_cert_file.empty() != security.tls_key_file.empty())
    return InvalidArgument("--tls-cert and --tls-key go together: the certificate chain and its private key");
  if (security.tls_cert_file.empty() && !security.tls_client_ca_file.empty())
    return InvalidArgument("--tls-client-ca needs --tls-cert and --tls-key: client certificates are checked over TLS");
  return OkStatus();
}

}  // namespace orchard::coordinator
