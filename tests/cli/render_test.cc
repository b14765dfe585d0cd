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
  b.set_state(v1::TRIAL_FAILED);
  b.set_message("diverged at step 3: loss is nan");
  const std::string csv = TrialsCsv(sweep, {a, b});
  EXPECT_EQ(csv,
            "trial_id,number,state,val_accuracy,objective_step,last_step,model.hidden,checkpoint,message\n"
            "1,0,completed,0.5,10,0,\"[64, 64]\",,\n"
            "2,1,failed,,,0,,,diverged at step 3: loss is nan\n");
}

}  // namespace
}  // namespace orchard::cli
