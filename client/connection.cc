#include "client/connection.h"

#include <CLI/CLI.hpp>
#include <grpcpp/support/client_interceptor.h>

#include <cstdlib>

#include "core/flag_file.h"

namespace orchard::client {
namespace {

namespace experimental = grpc::experimental;

// Adds the bearer token to each call's metadata, so no call site can forget it.
class BearerTokenInterceptor final : public experimental::Interceptor {
 public:
  explicit BearerTokenInterceptor(std::string header) : header_(std::move(header)) {}
  void Intercept(experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA))
      methods->GetSendInitialMetadata()->insert({"authorization", header_});
    methods->Proceed();
  }

 private:
  const std::string header_;
};

class BearerTokenInterceptorFactory final : public experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenInterceptorFactory(const std::string& token) : header_("Bearer " + token) {}
  experimental::Interceptor* CreateClientInterceptor(experimental::ClientRpcInfo*) override {
    return new BearerTokenInterceptor(header_);
  }

 private:
  const std::string header_;
};

std::string Trimmed(std::string text) {
  const auto space = " \t\r\n";
  text.erase(text.find_last_not_of(space) + 1);
  text.erase(0, text.find_first_not_of(space));
  return text;
}

}  // namespace

void AddClientSecurityFlags(CLI::App& app, ClientSecurityFlags& flags) {
  app.add_option("--token-file", flags.token_file,
                 "File holding this client's bearer token (default: the ORCHARD_TOKEN variable)")
      ->envname("ORCHARD_TOKEN_FILE");
  app.add_option("--tls-ca", flags.tls_ca_file, "Connect with TLS, trusting the coordinator's certificate from this CA (PEM)")
      ->envname("ORCHARD_TLS_CA");
  app.add_option("--tls-cert", flags.tls_cert_file, "Client certificate (PEM) for a coordinator that requires mutual TLS")
      ->envname("ORCHARD_TLS_CERT");
  app.add_option("--tls-key", flags.tls_key_file, "Private key (PEM) of --tls-cert")->envname("ORCHARD_TLS_KEY");
}

// A token goes into a gRPC header, which takes one word of printable ASCII; anything else would
// make every call fail inside gRPC, so it is refused here with the place it came from.
Status CheckToken(const std::string& token, const std::string& origin) {
  for (size_t i = 0; i < token.size(); ++i)
    if (token[i] < 0x21 || token[i] > 0x7e)
      return InvalidArgument(origin + ": a token is one word of printable characters, but character " +
                             std::to_string(i + 1) + " is not; the file should hold only the token, as "
                             "orchard-coordinator user add / worker-token create print it on stdout");
  return OkStatus();
}

StatusOr<ClientSecurity> LoadClientSecurity(const ClientSecurityFlags& flags) {
  ClientSecurity security;
  if (!flags.token_file.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadFlagFile("--token-file", flags.token_file));
    security.token = Trimmed(text);
    RETURN_IF_ERROR(CheckToken(security.token, "--token-file " + flags.token_file));
  } else if (const char* token = std::getenv("ORCHARD_TOKEN"); token != nullptr) {
    security.token = Trimmed(token);
    RETURN_IF_ERROR(CheckToken(security.token, "ORCHARD_TOKEN"));
  }
  if (flags.tls_cert_file.empty() != flags.tls_key_file.empty())
    return InvalidArgument("--tls-cert and --tls-key go together: the client certificate and its private key");
  if (!flags.tls_cert_file.empty() && flags.tls_ca_file.empty())
    return InvalidArgument("--tls-cert needs --tls-ca: a client certificate is only sent over TLS");
  if (flags.tls_ca_file.empty()) return security;
  security.tls = true;
  ASSIGN_OR_RETURN(security.tls_ca_pem, ReadFlagFile("--tls-ca", flags.tls_ca_file));
  if (!flags.tls_cert_file.empty()) {
    ASSIGN_OR_RETURN(security.tls_cert_pem, ReadFlagFile("--tls-cert", flags.tls_cert_file));
    ASSIGN_OR_RETURN(security.tls_key_pem, ReadFlagFile("--tls-key", flags.tls_key_file));
  }
  return security;
}

std::shared_ptr<grpc::Channel> CreateCoordinatorChannel(const std::string& address, const ClientSecurity& security) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (security.tls) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = security.tls_ca_pem;
    options.pem_cert_chain = security.tls_cert_pem;
    options.pem_private_key = security.tls_key_pem;
    credentials = grpc::SslCredentials(options);
  }
  // gRPC's default reconnect backoff grows to two minutes: a coordinator back after a restart
  // would wait that long for its workers, which fence their trainers meanwhile. One second at most.
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A sweep report inlines plotly.js (~5 MB) and the sweep's data: more than gRPC's 4 MB default.
  arguments.SetMaxReceiveMessageSize(256 << 20);
  std::vector<std::unique_ptr<experimental::ClientInterceptorFactoryInterface>> interceptors;
  if (!security.token.empty())
    interceptors.push_back(std::make_unique<BearerTokenInterceptorFactory>(security.token));
  return experimental::CreateCustomChannelWithInterceptors(address, credentials, arguments, std::move(interceptors));
}

}  // namespace orchard::client
