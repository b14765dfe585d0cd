// The coordinator's gRPC server with authentication and TLS, on loopback: every call is checked
// against its caller's token and role, users see only their own sweeps, and TLS and mutual TLS
// admit only the clients they should. Certificates are made at run time with the openssl command.
#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "client/connection.h"
#include "coordinator/credential_store.h"
#include "coordinator/server.h"
#include "orchard/v1/registry_service.grpc.pb.h"
#include "orchard/v1/schedule_service.grpc.pb.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "orchard/v1/trial_service.grpc.pb.h"
#include "orchard/v1/worker_service.grpc.pb.h"
#include "tests/util/test_util.h"

namespace orchard::coordinator {
namespace {

using orchard::testing::ReadFile;
using orchard::testing::TempDir;

constexpr const char* kRecipe = R"(name: tiny
model: {type: mlp, hidden: [8]}
data: {type: synthetic, samples: 64, features: 4, classes: 2}
train: {steps: 5, batch_size: 8}
sweep:
  strategy: grid
  parameters:
    optimizer.lr: {values: [0.1, 0.01]}
)";

ServerSecurity Tls(const std::string& cert, const std::string& key, const std::string& client_ca) {
  ServerSecurity security;
  security.tls_cert_file = cert;
  security.tls_key_file = key;
  security.tls_client_ca_file = client_ca;
  return security;
}

ServerSecurity WithAuth() {
  ServerSecurity security;
  security.auth = true;
  return security;
}

std::chrono::system_clock::time_point Soon() { return std::chrono::system_clock::now() + std::chrono::seconds(10); }

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
  ASSERT_EQ(methods.size(), 26u) << "a new method: it is checked here as well";
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

TEST_F(AuthTest, UsersSeeAndCancelOnlyTheirOwnSweepsAndAdminsAll) {
  const int64_t sweep = Submit(alice_);
  const std::string id = std::to_string(sweep);
  grpc::ClientContext trials_context;
  v1::ListTrialsRequest list_trials;
  list_trials.set_sweep_id(sweep);
  v1::ListTrialsResponse alices_trials;
  ASSERT_TRUE(Sweeps(alice_)->ListTrials(&trials_context, list_trials, &alices_trials).ok());
  const int64_t trial = alices_trials.trials(0).id();

  // Bob: every call about alice's sweep or trial is refused.
  auto bob = Sweeps(bob_);
  auto denied = [](const grpc::Status& status, const char* what) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what << ": " << status.error_message();
  };
  {
    grpc::ClientContext c;
    v1::GetSweepRequest r;
    r.set_sweep_id(sweep);
    v1::Sweep s;
    denied(bob->GetSweep(&c, r, &s), "GetSweep");
  }
  {
    grpc::ClientContext c;
    v1::ListTrialsResponse s;
    denied(bob->ListTrials(&c, list_trials, &s), "ListTrials");
  }
  {
    grpc::ClientContext c;
    v1::GetBestTrialRequest r;
    r.set_sweep_id(sweep);
    v1::Trial t;
    denied(bob->GetBestTrial(&c, r, &t), "GetBestTrial");
  }
  {
    grpc::ClientContext c;
    v1::GetTrialMetricsRequest r;
    r.set_trial_id(trial);
    v1::GetTrialMetricsResponse m;
    denied(bob->GetTrialMetrics(&c, r, &m), "GetTrialMetrics");
  }
  {
    grpc::ClientContext c;
    v1::GetTrialLogRequest r;
    r.set_trial_id(trial);
    v1::GetTrialLogResponse l;
    denied(bob->GetTrialLog(&c, r, &l), "GetTrialLog");
  }
  {
    grpc::ClientContext c;
    c.set_deadline(Soon());
    v1::WatchSweepRequest r;
    r.set_sweep_id(sweep);
    auto reader = bob->WatchSweep(&c, r);
    v1::SweepEvent event;
    EXPECT_FALSE(reader->Read(&event)) << "bob watched alice's sweep";
    denied(reader->Finish(), "WatchSweep");
  }
  {
    grpc::ClientContext c;
    v1::CancelSweepRequest r;
    r.set_sweep_id(sweep);
    v1::Sweep s;
    denied(bob->CancelSweep(&c, r, &s), "CancelSweep");
  }
  auto list = [&](const IssuedToken& who) {
    grpc::ClientContext c;
    v1::ListSweepsResponse response;
    EXPECT_TRUE(Sweeps(who)->ListSweeps(&c, v1::ListSweepsRequest(), &response).ok());
    return response;
  };
  EXPECT_EQ(list(bob_).sweeps_size(), 0);
  const int64_t bobs = Submit(bob_);
  ASSERT_EQ(list(bob_).sweeps_size(), 1);
  EXPECT_EQ(list(bob_).sweeps(0).id(), bobs);
  ASSERT_EQ(list(alice_).sweeps_size(), 1);
  EXPECT_EQ(list(alice_).sweeps(0).owner(), "alice");
  EXPECT_EQ(list(admin_).sweeps_size(), 2);

  // The admin cancels alice's sweep; alice sees it canceled.
  grpc::ClientContext cancel_context;
  v1::CancelSweepRequest cancel;
  cancel.set_sweep_id(sweep);
  v1::Sweep canceled;
  ASSERT_TRUE(Sweeps(admin_)->CancelSweep(&cancel_context, cancel, &canceled).ok());
  EXPECT_EQ(canceled.state(), v1::SWEEP_CANCELED);
  grpc::ClientContext get_context;
  v1::GetSweepRequest get;
  get.set_sweep_id(sweep);
  v1::Sweep seen;
  ASSERT_TRUE(Sweeps(alice_)->GetSweep(&get_context, get, &seen).ok());
  EXPECT_EQ(seen.state(), v1::SWEEP_CANCELED);
}

TEST_F(AuthTest, UsersSeeAndChangeOnlyTheirOwnSchedulesAndAdminsAll) {
  auto schedules = [&](const IssuedToken& who) { return v1::ScheduleService::NewStub(Channel(who.token)); };
  v1::AddScheduleRequest add;
  add.set_name("nightly");
  add.set_cron("0 2 * * *");
  add.set_recipe_yaml(kRecipe);
  add.set_recipe_file("/recipes/tiny.yaml");
  {
    grpc::ClientContext c;
    v1::AddScheduleResponse added;
    const grpc::Status status = schedules(alice_)->AddSchedule(&c, add, &added);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(added.schedule().owner(), "alice");
  }

  // Bob: every call about alice's schedule is refused, a new version of it included.
  auto bob = schedules(bob_);
  auto denied = [](const grpc::Status& status, const char* what) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what << ": " << status.error_message();
  };
  {
    grpc::ClientContext c;
    v1::AddScheduleRequest changed = add;
    changed.set_cron("0 3 * * *");
    v1::AddScheduleResponse r;
    denied(bob->AddSchedule(&c, changed, &r), "AddSchedule");
  }
  {
    grpc::ClientContext c;
    v1::GetScheduleRequest r;
    r.set_name("nightly");
    v1::ScheduleDetails d;
    denied(bob->GetSchedule(&c, r, &d), "GetSchedule");
  }
  {
    grpc::ClientContext c;
    v1::PauseScheduleRequest r;
    r.set_name("nightly");
    v1::Schedule s;
    denied(bob->PauseSchedule(&c, r, &s), "PauseSchedule");
  }
  {
    grpc::ClientContext c;
    v1::ResumeScheduleRequest r;
    r.set_name("nightly");
    v1::Schedule s;
    denied(bob->ResumeSchedule(&c, r, &s), "ResumeSchedule");
  }
  {
    grpc::ClientContext c;
    v1::RunScheduleNowRequest r;
    r.set_name("nightly");
    v1::ScheduleRun run;
    denied(bob->RunScheduleNow(&c, r, &run), "RunScheduleNow");
  }
  {
    grpc::ClientContext c;
    v1::RemoveScheduleRequest r;
    r.set_name("nightly");
    v1::RemoveScheduleResponse removed;
    denied(bob->RemoveSchedule(&c, r, &removed), "RemoveSchedule");
  }
  auto list = [&](const IssuedToken& who) {
    grpc::ClientContext c;
    v1::ListSchedulesResponse response;
    EXPECT_TRUE(schedules(who)->ListSchedules(&c, v1::ListSchedulesRequest(), &response).ok());
    return response;
  };
  EXPECT_EQ(list(bob_).schedules_size(), 0);
  EXPECT_EQ(list(alice_).schedules_size(), 1);
  EXPECT_EQ(list(admin_).schedules_size(), 1);

  // Run-now submits as the schedule's owner, whoever asks (here the admin).
  grpc::ClientContext run_context;
  v1::RunScheduleNowRequest run_now;
  run_now.set_name("nightly");
  v1::ScheduleRun run;
  ASSERT_TRUE(schedules(admin_)->RunScheduleNow(&run_context, run_now, &run).ok());
  grpc::ClientContext get_context;
  v1::GetSweepRequest get;
  get.set_sweep_id(run.sweep_id());
  v1::Sweep sweep;
  ASSERT_TRUE(Sweeps(alice_)->GetSweep(&get_context, get, &sweep).ok());
  EXPECT_EQ(sweep.owner(), "alice");
  EXPECT_EQ(sweep.schedule(), "nightly");
}

TEST_F(AuthTest, UsersSeeAndChangeOnlyTheirOwnModelsAndAdminsAll) {
  const int64_t sweep = Submit(alice_, "alices");  // creates the model for alice
  grpc::ClientContext trials_context;
  v1::ListTrialsRequest list_trials;
  list_trials.set_sweep_id(sweep);
  v1::ListTrialsResponse trials;
  ASSERT_TRUE(Sweeps(alice_)->ListTrials(&trials_context, list_trials, &trials).ok());
  const int64_t alices_trial = trials.trials(0).id();

  auto bob = Registry(bob_);
  auto denied = [](const grpc::Status& status, const char* what) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what << ": " << status.error_message();
  };
  {
    grpc::ClientContext c;
    v1::GetModelRequest r;
    r.set_name("alices");
    v1::Model m;
    denied(bob->GetModel(&c, r, &m), "GetModel");
  }
  {
    grpc::ClientContext c;
    v1::RollbackModelRequest r;
    r.set_model("alices");
    v1::Model m;
    denied(bob->RollbackModel(&c, r, &m), "RollbackModel");
  }
  for (const char* model : {"alices", "bobs-new"}) {
    grpc::ClientContext c;
    v1::PromoteTrialRequest r;
    r.set_model(model);
    r.set_trial_id(alices_trial);
    v1::Model m;
    denied(bob->PromoteTrial(&c, r, &m), model);  // alice's model, or alice's trial
  }
  {
    grpc::ClientContext c;
    v1::SubmitSweepRequest r;
    r.set_recipe_yaml(kRecipe);
    r.set_model("alices");
    v1::SubmitSweepResponse s;
    denied(Sweeps(bob_)->SubmitSweep(&c, r, &s), "SubmitSweep challenging alice's model");
  }
  auto list = [&](const IssuedToken& who) {
    grpc::ClientContext c;
    v1::ListModelsResponse response;
    EXPECT_TRUE(Registry(who)->ListModels(&c, v1::ListModelsRequest(), &response).ok());
    return response;
  };
  EXPECT_EQ(list(bob_).models_size(), 0);
  ASSERT_EQ(list(alice_).models_size(), 1);
  EXPECT_EQ(list(alice_).models(0).owner(), "alice");
  EXPECT_EQ(list(admin_).models_size(), 1);
  grpc::ClientContext c;
  v1::GetModelRequest r;
  r.set_name("alices");
  v1::Model seen;
  ASSERT_TRUE(Registry(admin_)->GetModel(&c, r, &seen).ok());
  EXPECT_EQ(seen.champion(), 0);
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
