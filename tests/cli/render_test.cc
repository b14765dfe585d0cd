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

}  // namespace
}  // namespace orchard::cli
