// The services over a real gRPC server on loopback: a store that fails answers INTERNAL with
// SQLite's message, never an empty list a person would take for "nothing there".
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "coordinator/server/server.h"
#include "orchard/v1/registry_service.grpc.pb.h"
#include "orchard/v1/schedule_service.grpc.pb.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "tests/util/sql.h"
#include "tests/util/test_util.h"

namespace orchard::coordinator {
namespace {

using orchard::testing::BreakTable;
using orchard::testing::TempDir;

class ServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CoordinatorOptions options;
    options.state_dir = dir_.path().string();
    auto started = CoordinatorServer::Start("127.0.0.1:0", options);
    ASSERT_TRUE(started.ok()) << started.status().message();
    server_ = std::move(started).value();
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  }
  void TearDown() override { server_->Shutdown(); }

  // Calls `list` while `table` is broken and checks the answer is the store's error.
  void ExpectStoreError(const std::string& table, const std::function<grpc::Status(grpc::ClientContext*)>& list) {
    grpc::ClientContext healthy;
    ASSERT_TRUE(list(&healthy).ok()) << "fails before " << table << " is broken";
    BreakTable(dir_ / "orchard.db", table);
    grpc::ClientContext broken;
    const grpc::Status status = list(&broken);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << table << ": " << status.error_message();
    EXPECT_NE(status.error_message().find("no such table: " + table), std::string::npos) << status.error_message();
  }

  TempDir dir_;
  std::unique_ptr<CoordinatorServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ServicesTest, ListSweepsAnswersTheStoreError) {
  auto stub = v1::SweepService::NewStub(channel_);
  ExpectStoreError("sweeps", [&](grpc::ClientContext* context) {
    v1::ListSweepsResponse response;
    return stub->ListSweeps(context, v1::ListSweepsRequest(), &response);
  });
}

TEST_F(ServicesTest, ListWorkersAnswersTheStoreError) {
  auto stub = v1::SweepService::NewStub(channel_);
  ExpectStoreError("workers", [&](grpc::ClientContext* context) {
    v1::ListWorkersResponse response;
    return stub->ListWorkers(context, v1::ListWorkersRequest(), &response);
  });
}

TEST_F(ServicesTest, ListSchedulesAnswersTheStoreError) {
  auto stub = v1::ScheduleService::NewStub(channel_);
  ExpectStoreError("schedules", [&](grpc::ClientContext* context) {
    v1::ListSchedulesResponse response;
    return stub->ListSchedules(context, v1::ListSchedulesRequest(), &response);
  });
}

TEST_F(ServicesTest, ListModelsAnswersTheStoreError) {
  auto stub = v1::ModelRegistryService::NewStub(channel_);
  ExpectStoreError("models", [&](grpc::ClientContext* context) {
    v1::ListModelsResponse response;
    return stub->ListModels(context, v1::ListModelsRequest(), &response);
  });
}

}  // namespace
}  // namespace orchard::coordinator
