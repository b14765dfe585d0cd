// The shape every command shares: a failed call in words and an exit code, and commands writing
// their results and errors to the streams they are given, against a fake coordinator in this process.
#include "cli/coordinator_calls.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <sstream>

#include "orchard/v1/sweep_service.grpc.pb.h"

namespace orchard::cli {
namespace {

TEST(CoordinatorCalls, EachFailureHasItsExitCodeAndWordsToActOn) {
  struct Case {
    grpc::StatusCode code;
    int exit_code;
    std::string printed;
  };
  const std::string advice =
      ").\nStart one with `orchard-coordinator`, pass --coordinator HOST:PORT (or set ORCHARD_COORDINATOR), or use "
      "`orchard run` to do everything on this machine.\n";
  const Case cases[] = {
      {grpc::StatusCode::UNAVAILABLE, kExitUnreachable, "orchard: cannot reach a coordinator at host:7070 (why" + advice},
      {grpc::StatusCode::DEADLINE_EXCEEDED, kExitUnreachable, "orchard: cannot reach a coordinator at host:7070 (why" + advice},
      {grpc::StatusCode::INVALID_ARGUMENT, kExitBadInput, "orchard: invalid request; nothing was changed:\nwhy\n"},
      {grpc::StatusCode::NOT_FOUND, kExitNotFound, "orchard: why\n"},
      {grpc::StatusCode::UNAUTHENTICATED, kExitDenied,
       "orchard: the coordinator at host:7070 did not accept our credentials: why\n"},
      {grpc::StatusCode::PERMISSION_DENIED, kExitDenied, "orchard: not allowed: why\n"},
      {grpc::StatusCode::FAILED_PRECONDITION, kExitError, "orchard: why\n"},
      {grpc::StatusCode::INTERNAL, kExitError, "orchard: the coordinator answered 13: why\n"},
  };
  for (const Case& c : cases) {
    std::ostringstream err;
    EXPECT_EQ(PrintFailure(grpc::Status(c.code, "why"), "host:7070", err), c.exit_code) << c.code;
    EXPECT_EQ(err.str(), c.printed) << c.code;
  }
}

// Knows sweep 3 only.
class FakeSweepService final : public v1::SweepService::Service {
 public:
  grpc::Status GetSweep(grpc::ServerContext*, const v1::GetSweepRequest* request, v1::Sweep* sweep) override {
    if (request->sweep_id() != 3) return {grpc::StatusCode::NOT_FOUND, "no sweep " + std::to_string(request->sweep_id())};
    sweep->set_id(3);
    sweep->set_name("quickstart");
    sweep->set_state(v1::SWEEP_CANCELED);
    sweep->set_metric("val_loss");
    return grpc::Status::OK;
  }
  grpc::Status CancelSweep(grpc::ServerContext* context, const v1::CancelSweepRequest* request, v1::Sweep* sweep) override {
    v1::GetSweepRequest get;
    get.set_sweep_id(request->sweep_id());
    return GetSweep(context, &get, sweep);
  }
  grpc::Status GetBestTrial(grpc::ServerContext*, const v1::GetBestTrialRequest*, v1::Trial*) override {
    return {grpc::StatusCode::NOT_FOUND, "sweep 3 has no completed trial yet"};
  }
};

class FakeCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int port = 0;
    server_ = grpc::ServerBuilder()
                  .AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port)
                  .RegisterService(&service_)
                  .BuildAndStart();
    ASSERT_NE(server_, nullptr);
    global_.coordinator = "127.0.0.1:" + std::to_string(port);
    global_.out = &out_;
    global_.err = &err_;
  }
  void TearDown() override { server_->Shutdown(); }

  FakeSweepService service_;
  std::unique_ptr<grpc::Server> server_;
  std::ostringstream out_, err_;
  GlobalOptions global_;
};

TEST_F(FakeCoordinatorTest, AResultGoesToTheOutputStream) {
  EXPECT_EQ(Cancel(global_, 3), kExitOk);
  EXPECT_EQ(out_.str(), "sweep 3 is canceled\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(FakeCoordinatorTest, JsonIsTheResponse) {
  global_.json = true;
  EXPECT_EQ(Cancel(global_, 3), kExitOk);
  EXPECT_EQ(out_.str().rfind("{\"id\":\"3\",\"name\":\"quickstart\",\"state\":\"SWEEP_CANCELED\"", 0), 0u) << out_.str();
}

TEST_F(FakeCoordinatorTest, AFailedCallGoesToTheErrorStreamWithItsExitCode) {
  EXPECT_EQ(ShowStatus(global_, 9), kExitNotFound);
  EXPECT_EQ(err_.str(), "orchard: no sweep 9\n");
  EXPECT_EQ(Best(global_, 3), kExitNotFound) << "the second call of the command failed";
  EXPECT_EQ(err_.str(), "orchard: no sweep 9\norchard: sweep 3 has no completed trial yet\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(FakeCoordinatorTest, AnUnreachableCoordinatorIsExitThreeWithAdvice) {
  server_->Shutdown();
  EXPECT_EQ(Workers(global_), kExitUnreachable);
  EXPECT_EQ(err_.str().rfind("orchard: cannot reach a coordinator at " + global_.coordinator, 0), 0u) << err_.str();
  EXPECT_EQ(out_.str(), "");
}

}  // namespace
}  // namespace orchard::cli
