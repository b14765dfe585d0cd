// The coordinator's gRPC server with TLS and mutual TLS, on loopback: they admit only the clients
// they should. Certificates are made at run time with the openssl command.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <string>

#include "client/connection.h"
#include "coordinator/server/server.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "tests/coordinator/server/security_fixture.h"
#include "tests/util/test_util.h"

namespace orchard::coordinator {
namespace {

ServerSecurity Tls(const std::string& cert, const std::string& key, const std::string& client_ca) {
  ServerSecurity security;
  security.tls_cert_file = cert;
  security.tls_key_file = key;
  security.tls_client_ca_file = client_ca;
  return security;
}

// Certificates: a CA that signs the server's and a client's certificate, and a second CA with a
// client certificate of its own, which the server must not trust.
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string d = dir_->path().string();
    testing::MakeCertificateAuthority(d, "ca");
    testing::MakeSignedCertificate(d, "ca", "server");
    testing::MakeSignedCertificate(d, "ca", "client");
    testing::MakeCertificateAuthority(d, "other-ca");
    testing::MakeSignedCertificate(d, "other-ca", "stranger");
  }
  static void TearDownTestSuite() { delete dir_; }

  void Start(bool mutual) {
    options_.state_dir = state_ / "state";
    auto started = CoordinatorServer::Start("127.0.0.1:0", options_,
                                            Tls(*dir_ / "server.pem", *dir_ / "server.key", mutual ? *dir_ / "ca.pem" : ""));
    ASSERT_TRUE(started.ok()) << started.status().message();
    server_ = std::move(started).value();
  }

  // A call through a client that trusts `ca` (none: plaintext) and presents `certificate` (if any).
  grpc::Status Call(const std::string& ca, const std::string& certificate = "") {
    client::ClientSecurity security;
    if (!ca.empty()) {
      security.tls = true;
      security.tls_ca_pem = ReadFile(*dir_ / (ca + ".pem"));
    }
    if (!certificate.empty()) {
      security.tls_cert_pem = ReadFile(*dir_ / (certificate + ".pem"));
      security.tls_key_pem = ReadFile(*dir_ / (certificate + ".key"));
    }
    auto stub = v1::SweepService::NewStub(client::CreateCoordinatorChannel(server_->address(), security));
    grpc::ClientContext context;
    context.set_deadline(Soon());
    v1::ListWorkersResponse response;
    return stub->ListWorkers(&context, v1::ListWorkersRequest(), &response);
  }

  static TempDir* dir_;
  TempDir state_;
  CoordinatorOptions options_;
  std::unique_ptr<CoordinatorServer> server_;
};
TempDir* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, OnlyClientsThatTrustTheServersCaConnect) {
  Start(/*mutual=*/false);
  EXPECT_TRUE(Call("ca").ok()) << Call("ca").error_message();
  EXPECT_FALSE(Call("").ok()) << "a plaintext client";
  EXPECT_FALSE(Call("other-ca").ok()) << "a client that does not trust the server's certificate";
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutACertificateFromTheClientCa) {
  Start(/*mutual=*/true);
  EXPECT_TRUE(Call("ca", "client").ok()) << Call("ca", "client").error_message();
  EXPECT_FALSE(Call("ca").ok()) << "no client certificate";
  EXPECT_FALSE(Call("ca", "stranger").ok()) << "a client certificate from another CA";
  EXPECT_FALSE(Call("").ok()) << "a plaintext client";
}

TEST_F(TlsTest, BadTlsSettingsAreRefusedNamingTheFlag) {
  options_.state_dir = state_ / "state";
  auto missing = CoordinatorServer::Start("127.0.0.1:0", options_, Tls(*dir_ / "no.pem", *dir_ / "server.key", ""));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--tls-cert " + (*dir_ / "no.pem")), std::string::npos) << missing.status().message();
  auto half = CoordinatorServer::Start("127.0.0.1:0", options_, Tls(*dir_ / "server.pem", "", ""));
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.status().message().find("--tls-key"), std::string::npos);
  auto client_ca_only = CoordinatorServer::Start("127.0.0.1:0", options_, Tls("", "", *dir_ / "ca.pem"));
  EXPECT_FALSE(client_ca_only.ok());
}

}  // namespace
}  // namespace orchard::coordinator
