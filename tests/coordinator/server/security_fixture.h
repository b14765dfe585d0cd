// What the tests of the coordinator's gRPC server with authentication and TLS share (security_test.cc,
// ownership_test.cc, tls_test.cc): a recipe, the server's security settings, and a server on
// loopback with users, an admin, a worker token and a revoked token.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "client/connection.h"
#include "coordinator/access/credential_store.h"
#include "coordinator/server/server.h"
#include "orchard/v1/registry_service.grpc.pb.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "tests/util/test_util.h"

namespace orchard::coordinator {

using orchard::testing::ReadFile;
using orchard::testing::TempDir;

inline constexpr const char* kRecipe = R"(name: tiny
model: {type: mlp, hidden: [8]}
data: {type: synthetic, samples: 64, features: 4, classes: 2}
train: {steps: 5, batch_size: 8}
sweep:
  strategy: grid
  parameters:
    optimizer.lr: {values: [0.1, 0.01]}
)";

inline ServerSecurity WithAuth() {
  ServerSecurity security;
  security.auth = true;
  return security;
}

inline std::chrono::system_clock::time_point Soon() {
  return std::chrono::system_clock::now() + std::chrono::seconds(10);
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.state_dir = dir_ / "state";
    std::filesystem::create_directories(options_.state_dir);
    auto store = CredentialStore::Open(options_.state_dir + "/orchard.db").value();
    alice_ = store->AddUser("alice", false).value();
    bob_ = store->AddUser("bob", false).value();
    admin_ = store->AddUser("root", true).value();
    worker_ = store->IssueWorkerToken().value();
    revoked_ = store->IssueUserToken("alice").value();
    ASSERT_TRUE(store->Revoke(revoked_.id).ok());
    server_ = CoordinatorServer::Start("127.0.0.1:0", options_, WithAuth()).value();
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& token) {
    client::ClientSecurity security;
    security.token = token;
    return client::CreateCoordinatorChannel(server_->address(), security);
  }
  std::unique_ptr<v1::SweepService::Stub> Sweeps(const IssuedToken& who) { return v1::SweepService::NewStub(Channel(who.token)); }

  // Calls `method` with an empty request through a generic stub (as any gRPC client could).
  grpc::Status CallEmpty(const std::string& method, const std::string& token) {
    grpc::GenericStub stub(Channel(token));
    grpc::ClientContext context;
    context.set_deadline(Soon());
    grpc::CompletionQueue queue;
    grpc::ByteBuffer request, response;
    grpc::Slice empty("");
    request = grpc::ByteBuffer(&empty, 1);
    auto call = stub.PrepareUnaryCall(&context, method, request, &queue);
    call->StartCall();
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag;
    bool ok;
    EXPECT_TRUE(queue.Next(&tag, &ok));
    return status;
  }

  std::unique_ptr<v1::ModelRegistryService::Stub> Registry(const IssuedToken& who) {
    return v1::ModelRegistryService::NewStub(Channel(who.token));
  }

  // `model`: the registry model the sweep challenges (created for `who` when new), if any.
  int64_t Submit(const IssuedToken& who, const std::string& model = "") {
    grpc::ClientContext context;
    v1::SubmitSweepRequest request;
    request.set_recipe_yaml(kRecipe);
    request.set_recipe_file("/recipes/tiny.yaml");
    request.set_model(model);
    v1::SubmitSweepResponse response;
    const grpc::Status status = Sweeps(who)->SubmitSweep(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.sweep().id();
  }

  TempDir dir_;
  CoordinatorOptions options_;
  IssuedToken alice_, bob_, admin_, worker_, revoked_;
  std::unique_ptr<CoordinatorServer> server_;
};

}  // namespace orchard::coordinator
