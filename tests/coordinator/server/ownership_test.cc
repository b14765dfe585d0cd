// The coordinator's gRPC server with authentication, on loopback: users see and change only their
// own sweeps, schedules and models, and admins all of them.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "coordinator/server/server.h"
#include "orchard/v1/registry_service.grpc.pb.h"
#include "orchard/v1/schedule_service.grpc.pb.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "tests/coordinator/server/security_fixture.h"

namespace orchard::coordinator {
namespace {

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
    v1::GetTrialLineageRequest r;
    r.set_trial_id(trial);
    v1::TrialLineage l;
    denied(bob->GetTrialLineage(&c, r, &l), "GetTrialLineage");
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

}  // namespace
}  // namespace orchard::coordinator
