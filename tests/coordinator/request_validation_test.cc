#include "coordinator/request_validation.h"

#include <gtest/gtest.h>

#include <cmath>

namespace orchard::coordinator {
namespace {

void ExpectInvalid(const Status& status, const std::string& fragment) {
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.message();
  EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message();
}

TEST(RequestValidation, Submit) {
  v1::SubmitSweepRequest r;
  ExpectInvalid(ValidateSubmit(r), "recipe_yaml");
  r.set_recipe_yaml("name: x");
  EXPECT_TRUE(ValidateSubmit(r).ok());
  r.add_overrides("optimizer.lr");
  ExpectInvalid(ValidateSubmit(r), "overrides[0]");
  r.clear_overrides();
  r.set_name("../etc");
  ExpectInvalid(ValidateSubmit(r), "name");
  r.set_name("ok-name_1.2");
  EXPECT_TRUE(ValidateSubmit(r).ok());
  r.set_recipe_yaml(std::string(kMaxRecipeBytes + 1, 'x'));
  ExpectInvalid(ValidateSubmit(r), "1 MiB");
}

TEST(RequestValidation, Register) {
  v1::RegisterWorkerRequest r;
  r.set_hostname("h");
  r.set_slots(0);
  r.set_slot_kind("cpu");
  ExpectInvalid(ValidateRegister(r), "slots");
  r.set_slots(2);
  EXPECT_TRUE(ValidateRegister(r).ok());
  r.set_slot_kind("tpu");
  ExpectInvalid(ValidateRegister(r), "slot_kind");
}

TEST(RequestValidation, MetricsNeedATokenFiniteValuesAndPlainNames) {
  v1::ReportMetricsRequest r;
  r.set_attempt_id(1);
  ExpectInvalid(ValidateMetrics(r), "token");
  r.set_token("t");
  auto* p = r.add_points();
  p->set_name("val_loss");
  p->set_step(3);
  p->set_value(0.5);
  EXPECT_TRUE(ValidateMetrics(r).ok());
  p->set_value(std::nan(""));
  ExpectInvalid(ValidateMetrics(r), "finite");
  p->set_value(1);
  p->set_name("val loss; DROP");
  ExpectInvalid(ValidateMetrics(r), "points[0].name");
  p->set_name("x");
  p->set_step(-1);
  ExpectInvalid(ValidateMetrics(r), "step");
}

TEST(RequestValidation, CheckpointPathsStayInsideTheStorageRoot) {
  EXPECT_TRUE(IsConfinedRelativePath("s-1/trial-0/checkpoints/step-10"));
  EXPECT_FALSE(IsConfinedRelativePath("/etc/passwd"));
  EXPECT_FALSE(IsConfinedRelativePath("s-1/../../etc"));
  EXPECT_FALSE(IsConfinedRelativePath("s-1//x"));
  EXPECT_FALSE(IsConfinedRelativePath(""));
  v1::ReportCheckpointRequest r;
  r.set_attempt_id(1);
  r.set_token("t");
  r.set_path("../x");
  ExpectInvalid(ValidateCheckpoint(r), "path");
}

TEST(RequestValidation, HeartbeatsAndDeregistrationsNameAWorkerAndBoundedAttempts) {
  v1::HeartbeatRequest heartbeat;
  ExpectInvalid(ValidateHeartbeat(heartbeat), "worker_id");
  heartbeat.set_worker_id(std::string(129, 'w'));
  ExpectInvalid(ValidateHeartbeat(heartbeat), "worker_id");
  heartbeat.set_worker_id("w1");
  heartbeat.add_running_attempt_ids(-4);
  ExpectInvalid(ValidateHeartbeat(heartbeat), "running_attempt_ids");
  heartbeat.clear_running_attempt_ids();
  for (int64_t i = 1; i <= kMaxSlotsPerWorker + 1; ++i) heartbeat.add_running_attempt_ids(i);
  ExpectInvalid(ValidateHeartbeat(heartbeat), "running_attempt_ids");
  heartbeat.mutable_running_attempt_ids()->RemoveLast();
  EXPECT_TRUE(ValidateHeartbeat(heartbeat).ok());
  ExpectInvalid(ValidateDeregister(v1::DeregisterWorkerRequest()), "worker_id");
}

TEST(RequestValidation, LogAndMetricQueriesAreBounded) {
  v1::GetTrialLogRequest log;
  log.set_trial_id(1);
  log.set_tail_bytes(kMaxLogTailBytes + 1);
  ExpectInvalid(ValidateTrialLog(log), "tail_bytes");
  log.set_tail_bytes(0);
  log.set_attempt(-1);
  ExpectInvalid(ValidateTrialLog(log), "attempt");
  log.set_attempt(2);
  EXPECT_TRUE(ValidateTrialLog(log).ok());
  ExpectInvalid(ValidateMetricsQuery(1, std::string(200, 'x')), "name");
  ExpectInvalid(ValidateMetricsQuery(1, "val loss"), "name");
  ExpectInvalid(ValidateMetricsQuery(0, ""), "trial_id");
  EXPECT_TRUE(ValidateMetricsQuery(1, "val_loss").ok());
}

TEST(RequestValidation, IdsArePositive) {
  ExpectInvalid(ValidateId("sweep_id", 0), "sweep_id");
  EXPECT_TRUE(ValidateId("sweep_id", 3).ok());
}

}  // namespace
}  // namespace orchard::coordinator
