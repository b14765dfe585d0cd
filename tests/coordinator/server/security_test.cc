// The coordinator's gRPC server with authentication, on loopback: every call is checked against its
// caller's token and role, and only loopback may go without authentication. Users see only their
// own sweeps, schedules and models: ownership_test.cc; TLS and mutual TLS: tls_test.cc.
#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "client/connection.h"
#include "coordinator/server/server.h"
#include "orchard/v1/registry_service.grpc.pb.h"
#include "orchard/v1/schedule_service.grpc.pb.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "orchard/v1/trial_service.grpc.pb.h"
#include "orchard/v1/worker_service.grpc.pb.h"
#include "tests/coordinator/server/security_fixture.h"
#include "tests/util/test_util.h"

namespace orchard::coordinator {
namespace {

std::vector<std::string> Methods(const std::string& service) {
  const auto* descriptor = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
  std::vector<std::string> methods;
  for (int i = 0; i < descriptor->method_count(); ++i) methods.push_back("/" + service + "/" + descriptor->method(i)->name());
  return methods;
}

TEST_F(AuthTest, EveryCallWithoutAValidTokenIsUnauthenticated) {
  std::vector<std::string> methods = Methods(v1::SweepService::service_full_name());
  for (const char* service : {v1::WorkerService::service_full_name(), v1::ScheduleService::service_full_name(),
                              v1::ModelRegistryService::service_full_name()}) {
    const auto more = Methods(service);
    methods.insert(methods.end(), more.begin(), more.end());
  }
  ASSERT_EQ(methods.size(), 28u) << "a new method: it is checked here as well";
  for (const std::string& method : methods) {
    for (const std::string& token : {std::string(), std::string("orc_u_forged"), revoked_.token}) {
      const grpc::Status status = CallEmpty(method, token);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << method << " with " << (token.empty() ? "no token" : token == revoked_.token ? "a revoked token" : "a forged token")
          << ": " << status.error_message();
      EXPECT_EQ(status.error_message().find(revoked_.token), std::string::npos) << "a token in an error message";
    }
  }
  const grpc::Status missing = CallEmpty(methods[0], "");
  EXPECT_NE(missing.error_message().find("--token-file"), std::string::npos) << missing.error_message();
}

TEST_F(AuthTest, EachServiceTakesOnlyItsOwnKindOfToken) {
  for (const IssuedToken* user : {&alice_, &admin_}) {
    for (const std::string& method : Methods(v1::WorkerService::service_full_name()))
      EXPECT_EQ(CallEmpty(method, user->token).error_code(), grpc::StatusCode::PERMISSION_DENIED) << method;
  }
  for (const char* service : {v1::SweepService::service_full_name(), v1::ScheduleService::service_full_name(),
                              v1::ModelRegistryService::service_full_name()}) {
    for (const std::string& method : Methods(service)) {
      const grpc::Status status = CallEmpty(method, worker_.token);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method;
      EXPECT_NE(status.error_message().find("worker token"), std::string::npos) << status.error_message();
    }
  }
  // And each works with the right one.
  EXPECT_EQ(CallEmpty("/orchard.v1.SweepService/ListWorkers", alice_.token).error_code(), grpc::StatusCode::OK);
  grpc::ClientContext context;
  v1::RegisterWorkerRequest request;
  request.set_hostname("h");
  request.set_slots(1);
  request.set_slot_kind("cpu");
  v1::RegisterWorkerResponse response;
  EXPECT_TRUE(v1::WorkerService::NewStub(Channel(worker_.token))->RegisterWorker(&context, request, &response).ok());
}

TEST_F(AuthTest, AnAttemptTokenAuthorisesReportsOfItsAttemptOnlyWhileItRuns) {
  Submit(alice_);
  auto workers = v1::WorkerService::NewStub(Channel(worker_.token));
  // Trainers report with no bearer token at all: the attempt's token in the request is the credential.
  auto trials = v1::TrialService::NewStub(Channel(""));
  grpc::ClientContext register_context;
  v1::RegisterWorkerRequest registration;
  registration.set_hostname("h");
  registration.set_slots(2);
  registration.set_slot_kind("cpu");
  v1::RegisterWorkerResponse registered;
  ASSERT_TRUE(workers->RegisterWorker(&register_context, registration, &registered).ok());
  grpc::ClientContext lease_context;
  v1::LeaseAttemptsRequest lease;
  lease.set_worker_id(registered.worker_id());
  lease.set_free_slots(2);
  v1::LeaseAttemptsResponse leased;
  ASSERT_TRUE(workers->LeaseAttempts(&lease_context, lease, &leased).ok());
  ASSERT_EQ(leased.attempts_size(), 2);
  const v1::Attempt& first = leased.attempts(0);
  const v1::Attempt& second = leased.attempts(1);

  auto report = [&](const v1::Attempt& attempt, const std::string& token) {
    grpc::ClientContext context;
    v1::ReportMetricsRequest request;
    request.set_attempt_id(attempt.attempt_id());
    request.set_token(token);
    auto* point = request.add_points();
    point->set_step(1);
    point->set_name("val_loss");
    point->set_value(0.5);
    v1::ReportMetricsResponse response;
    return trials->ReportMetrics(&context, request, &response).error_code();
  };
  EXPECT_EQ(report(first, second.token()), grpc::StatusCode::UNAUTHENTICATED) << "another attempt's token";
  EXPECT_EQ(report(first, worker_.token), grpc::StatusCode::UNAUTHENTICATED) << "the worker token";
  EXPECT_EQ(report(first, first.token()), grpc::StatusCode::OK);
  grpc::ClientContext exit_context;
  v1::ReportAttemptExitRequest exit;
  exit.set_worker_id(registered.worker_id());
  exit.set_attempt_id(first.attempt_id());
  v1::ReportAttemptExitResponse exited;
  ASSERT_TRUE(workers->ReportAttemptExit(&exit_context, exit, &exited).ok());
  EXPECT_EQ(report(first, first.token()), grpc::StatusCode::FAILED_PRECONDITION) << "the attempt has ended";
  EXPECT_EQ(report(second, second.token()), grpc::StatusCode::OK);
}

TEST(ListenAddress, AnythingButLoopbackNeedsAuthentication) {
  TempDir dir;
  CoordinatorOptions options;
  options.state_dir = dir / "state";
  for (const char* address : {"0.0.0.0:0", "[::]:0", "10.1.2.3:7070"}) {
    auto refused = CoordinatorServer::Start(address, options);
    ASSERT_FALSE(refused.ok()) << address;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("--auth"), std::string::npos) << refused.status().message();
  }
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:7070"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:7070"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:7070"));
  auto served = CoordinatorServer::Start("0.0.0.0:0", options, WithAuth());
  EXPECT_TRUE(served.ok()) << served.status().message();
}

TEST(ListenAddress, WithoutAuthenticationEveryCallerIsTheLocalAdmin) {
  TempDir dir;
  CoordinatorOptions options;
  options.state_dir = dir / "state";
  auto server = CoordinatorServer::Start("127.0.0.1:0", options).value();
  auto stub = v1::SweepService::NewStub(client::CreateCoordinatorChannel(server->address(), {}));
  grpc::ClientContext context;
  v1::SubmitSweepRequest request;
  request.set_recipe_yaml(kRecipe);
  v1::SubmitSweepResponse response;
  ASSERT_TRUE(stub->SubmitSweep(&context, request, &response).ok());
  EXPECT_EQ(response.sweep().owner(), kLocalUser);
}

}  // namespace
}  // namespace orchard::coordinator
