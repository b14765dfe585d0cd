#include "cli/render.h"

#include <gtest/gtest.h>

namespace orchard::cli {
namespace {

v1::Sweep RunningSweep() {
  v1::Sweep sweep;
  sweep.set_id(3);
  sweep.set_name("quickstart");
  sweep.set_state(v1::SWEEP_RUNNING);
  sweep.set_strategy("random");
  sweep.set_metric("val_accuracy");
  sweep.set_mode("max");
  sweep.set_created_at(1000);
  sweep.set_trials_total(8);
  (*sweep.mutable_trials_by_state())["completed"] = 2;
  (*sweep.mutable_trials_by_state())["running"] = 2;
  (*sweep.mutable_trials_by_state())["pending"] = 4;
  return sweep;
}

TEST(Render, Durations) {
  EXPECT_EQ(FormatDuration(7), "0:07");
  EXPECT_EQ(FormatDuration(245), "4:05");
  EXPECT_EQ(FormatDuration(3723), "1:02:03");
  EXPECT_EQ(FormatDuration(-1), "0:00");
}

TEST(Render, EstimateScalesElapsedByTrialsLeft) {
  v1::Sweep sweep = RunningSweep();
  EXPECT_DOUBLE_EQ(EstimateSecondsLeft(sweep, 1040), 40.0 / 2 * 6);
  (*sweep.mutable_trials_by_state())["completed"] = 0;
  EXPECT_LT(EstimateSecondsLeft(sweep, 1040), 0);  // nothing to go on yet
}

TEST(Render, ProgressBlockShowsStatesBestAndTimeLeft) {
  v1::Sweep sweep = RunningSweep();
  v1::Trial* best = sweep.mutable_best_trial();
  best->set_number(5);
  best->set_objective(0.91234);
  auto* h = best->add_hyperparameters();
  h->set_path("optimizer.lr");
  h->set_value("0.003");
  const std::string block = ProgressBlock(sweep, {"trial 5 completed"}, 1040);
  EXPECT_NE(block.find("0:40 elapsed, ~2:00 left"), std::string::npos) << block;
  EXPECT_NE(block.find("pending 4  running 2  completed 2"), std::string::npos) << block;
  EXPECT_NE(block.find("best   trial 5: val_accuracy 0.9123  optimizer.lr=0.003"), std::string::npos) << block;
  EXPECT_NE(block.find("  trial 5 completed\n"), std::string::npos) << block;
}

TEST(Render, CsvHasAColumnPerHyperparameterAndQuotesWhereNeeded) {
  v1::Sweep sweep = RunningSweep();
  v1::Trial a;
  a.set_id(1);
  a.set_rung(-1);
  a.set_state(v1::TRIAL_COMPLETED);
  a.set_has_objective(true);
  a.set_objective(0.5);
  a.set_objective_step(10);
  auto* h = a.add_hyperparameters();
  h->set_path("model.hidden");
  h->set_value("[64, 64]");
  v1::Trial b;
  b.set_id(2);
  b.set_number(1);
  b.set_rung(2);
  b.set_decision("stop");
  b.set_state(v1::TRIAL_FAILED);
  b.set_message("diverged at step 3: loss is nan");
  const std::string csv = TrialsCsv(sweep, {a, b});
  EXPECT_EQ(csv,
            "trial_id,number,state,val_accuracy,objective_step,last_step,model.hidden,rung,decision,lineage,checkpoint,message\n"
            "1,0,completed,0.5,10,0,\"[64, 64]\",,,,,\n"
            "2,1,failed,,,0,,2,stop,,,diverged at step 3: loss is nan\n");
}

v1::Trial Member(int64_t number, const std::string& decision) {
  v1::Trial t;
  t.set_id(number + 10);
  t.set_number(number);
  t.set_rung(-1);
  t.set_state(v1::TRIAL_RUNNING);
  t.set_decision(decision);
  return t;
}

TEST(Render, TrialsShowRungDecisionAndLineageOnlyWhenTheStrategyUsesThem) {
  v1::Sweep sweep = RunningSweep();
  v1::Trial plain = Member(0, "");
  EXPECT_EQ(TrialsTable(sweep, {plain}, 1000).find("DECISION"), std::string::npos) << "grid and random sweeps";

  v1::Trial exploited = Member(1, "exploit");
  for (auto [parent, step] : {std::pair<int64_t, int64_t>{0, 400}, {2, 800}}) {
    v1::LineageHop* hop = exploited.add_lineage();
    hop->set_parent(parent);
    hop->set_step(step);
  }
  const std::string pbt = TrialsTable(sweep, {Member(0, "continue"), exploited}, 1000);
  EXPECT_NE(pbt.find("DECISION"), std::string::npos);
  EXPECT_NE(pbt.find("LINEAGE"), std::string::npos);
  EXPECT_EQ(pbt.find("RUNG"), std::string::npos) << "pbt has no rungs";
  EXPECT_NE(pbt.find("exploit   0@400 2@800"), std::string::npos) << pbt;

  v1::Trial promoted = Member(2, "continue");
  promoted.set_rung(1);
  const std::string asha = TrialsTable(sweep, {promoted}, 1000);
  EXPECT_NE(asha.find("RUNG"), std::string::npos);
  EXPECT_EQ(asha.find("LINEAGE"), std::string::npos);
}

v1::ScheduleDetails NightlyDetails() {
  v1::ScheduleDetails details;
  v1::Schedule* s = details.mutable_schedule();
  s->set_name("nightly");
  s->set_owner("alice");
  s->set_version(2);
  s->set_cron("0 2 * * *");
  s->set_time_zone("Europe/Berlin");
  s->set_overlap("skip");
  s->set_model("digits");
  s->set_promotion_margin(0.01);
  s->set_recipe_file("/recipes/nightly.yaml");
  s->add_overrides("train.steps=200");
  s->set_next_slot(1795309200);  // 2026-11-22 01:00 UTC
  s->set_next_slot_local("2026-11-22 02:00 Europe/Berlin");
  v1::ScheduleVersion* v = details.add_versions();
  v->set_version(2);
  v->set_created_at(1795176000);  // 2026-11-20 12:00 UTC
  v->set_cron("0 2 * * *");
  v->set_time_zone("Europe/Berlin");
  v->set_overlap("skip");
  v->set_recipe_file("/recipes/nightly.yaml");
  v1::ScheduleRun* failed = details.add_runs();
  failed->set_number(2);
  failed->set_version(2);
  failed->set_slot_local("2026-11-21 02:00 Europe/Berlin");
  failed->set_fired_by("cron");
  failed->set_state("failed");
  failed->set_reason("data.path /d/2026-11-21/train.csv does not exist");
  v1::ScheduleRun* ran = details.add_runs();
  ran->set_number(1);
  ran->set_version(1);
  ran->set_slot_local("2026-11-20 15:03 Europe/Berlin");
  ran->set_fired_by("run-now");
  ran->set_sweep_id(7);
  ran->set_state("completed");
  *s->mutable_last_run() = *failed;
  return details;
}

TEST(Render, UtcTimesToTheMinute) {
  EXPECT_EQ(FormatUtcTime(1795309200), "2026-11-22 01:00 UTC");
  EXPECT_EQ(FormatUtcTime(1795309259.9), "2026-11-22 01:00 UTC");
  EXPECT_EQ(FormatUtcTime(-60), "1969-12-31 23:59 UTC");
}

TEST(Render, ScheduleShowsTheNextFiringInItsZoneAndUtcVersionsAndRuns) {
  const std::string text = ScheduleText(NightlyDetails());
  EXPECT_NE(text.find("schedule nightly (version 2, owner alice): active"), std::string::npos) << text;
  EXPECT_NE(text.find("recipe /recipes/nightly.yaml --set train.steps=200"), std::string::npos) << text;
  EXPECT_NE(text.find("challenges model digits (promoted when better by 0.01)"), std::string::npos) << text;
  EXPECT_NE(text.find("next firing 2026-11-22 02:00 Europe/Berlin (2026-11-22 01:00 UTC)"), std::string::npos) << text;
  EXPECT_NE(text.find("2026-11-20 12:00 UTC"), std::string::npos) << text;
  EXPECT_NE(text.find("\n2    2        2026-11-21 02:00 Europe/Berlin  cron      -      failed     "
                      "data.path /d/2026-11-21/train.csv does not exist\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\n1    1        2026-11-20 15:03 Europe/Berlin  run-now   7      completed  -\n"),
            std::string::npos)
      << text;
}

TEST(Render, ScheduleListAndWhatAddDid) {
  v1::ScheduleDetails details = NightlyDetails();
  const std::string table = SchedulesTable({details.schedule()});
  EXPECT_NE(table.find("nightly  alice  0 2 * * *  Europe/Berlin  2        2026-11-22 02:00 Europe/Berlin  run 2 failed"),
            std::string::npos)
      << table;
  details.mutable_schedule()->set_paused(true);
  EXPECT_NE(SchedulesTable({details.schedule()}).find("paused"), std::string::npos);

  v1::AddScheduleResponse added;
  *added.mutable_schedule() = NightlyDetails().schedule();
  added.set_outcome("new version");
  added.add_changed("recipe");
  added.add_changed("cron");
  EXPECT_EQ(AddedScheduleText(added),
            "schedule nightly: new version 2 (changed: recipe, cron)\n"
            "  next firing 2026-11-22 02:00 Europe/Berlin (2026-11-22 01:00 UTC)\n");
  added.set_outcome("unchanged");
  EXPECT_NE(AddedScheduleText(added).find("is unchanged (version 2); nothing to do"), std::string::npos);
}

TEST(Render, ARunNowRunSaysWhereToFollowIt) {
  EXPECT_EQ(ScheduleRunText("nightly", NightlyDetails().runs(1)),
            "schedule nightly, run 1 completed (sweep 7) for 2026-11-20 15:03 Europe/Berlin\n"
            "follow it with: orchard watch 7\n");
}

}  // namespace
}  // namespace orchard::cli
