// The agent's gRPC link against real gRPC servers on loopback: a coordinator that answers the batch
// call, and one older than it (its TrialService has only ReportMetrics).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "orchard/v1/trial_service.grpc.pb.h"
#include "worker/agent/grpc_coordinator_link.h"

namespace orchard::worker {
namespace {

// Attempt 2 has ended; the others' reports are judged at their last step.
grpc::Status Judge(const v1::ReportMetricsRequest& report, v1::ReportMetricsResponse* response) {
  if (report.attempt_id() == 2) return {grpc::StatusCode::FAILED_PRECONDITION, "attempt 2 has ended"};
  response->set_decided_step(report.points(report.points_size() - 1).step());
  return grpc::Status::OK;
}

// A coordinator from before ReportMetricsBatch: the batch call is UNIMPLEMENTED (gRPC's default).
class OlderTrialService : public v1::TrialService::Service {
 public:
  grpc::Status ReportMetrics(grpc::ServerContext*, const v1::ReportMetricsRequest* request,
                             v1::ReportMetricsResponse* response) override {
    ++single_calls;
    return Judge(*request, response);
  }
  std::atomic<int> single_calls{0};
};

class BatchTrialService : public OlderTrialService {
 public:
  grpc::Status ReportMetricsBatch(grpc::ServerContext*, const v1::ReportMetricsBatchRequest* request,
                                  v1::ReportMetricsBatchResponse* response) override {
    for (const v1::ReportMetricsRequest& report : request->reports()) {
      v1::ReportOutcome* outcome = response->add_outcomes();
      const grpc::Status status = Judge(report, outcome->mutable_response());
      outcome->set_code(status.error_code());
      outcome->set_message(status.error_message());
    }
    return grpc::Status::OK;
  }
};

v1::ReportMetricsBatchRequest ThreeReports() {
  v1::ReportMetricsBatchRequest request;
  for (int64_t attempt : {1, 2, 3}) {
    v1::ReportMetricsRequest* report = request.add_reports();
    report->set_attempt_id(attempt);
    v1::MetricPoint* point = report->add_points();
    point->set_name("val_loss");
    point->set_step(10 * attempt);
    point->set_value(0.5);
  }
  return request;
}

void ExpectEachReportsOwnAnswer(const StatusOr<std::vector<StatusOr<v1::ReportMetricsResponse>>>& outcomes) {
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().message();
  ASSERT_EQ(outcomes->size(), 3u);
  ASSERT_TRUE((*outcomes)[0].ok());
  EXPECT_EQ((*outcomes)[0]->decided_step(), 10);
  EXPECT_EQ((*outcomes)[1].status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*outcomes)[1].status().message(), "attempt 2 has ended");
  ASSERT_TRUE((*outcomes)[2].ok());
  EXPECT_EQ((*outcomes)[2]->decided_step(), 30);
}

// ThreeReports() through the agent's link to a coordinator on loopback that serves `service`.
StatusOr<std::vector<StatusOr<v1::ReportMetricsResponse>>> ReportThrough(grpc::Service& service) {
  int port = 0;
  auto server = grpc::ServerBuilder()
                    .AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port)
                    .RegisterService(&service)
                    .BuildAndStart();
  if (server == nullptr) return Internal("the test's gRPC server did not start");
  const auto link = MakeGrpcCoordinatorLink("127.0.0.1:" + std::to_string(port), client::ClientSecurity{});
  auto outcomes = link->ReportMetricsBatch(ThreeReports(), std::chrono::system_clock::now() + std::chrono::seconds(5));
  server->Shutdown();
  return outcomes;
}

TEST(GrpcCoordinatorLinkTest, ABatchCallGivesEachReportItsOwnOutcome) {
  BatchTrialService service;
  ExpectEachReportsOwnAnswer(ReportThrough(service));
  EXPECT_EQ(service.single_calls.load(), 0);
}

TEST(GrpcCoordinatorLinkTest, ACoordinatorWithoutTheBatchCallGetsEachReportAlone) {
  OlderTrialService service;
  ExpectEachReportsOwnAnswer(ReportThrough(service));
  EXPECT_EQ(service.single_calls.load(), 3);
}

}  // namespace
}  // namespace orchard::worker
