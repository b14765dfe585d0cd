#include "cli/render.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

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
  EXPECT_EQ(block.find("cost"), std::string::npos) << block;  // nothing has ended yet
  sweep.set_slot_seconds(95);
  sweep.set_cpu_seconds(130);
  EXPECT_NE(ProgressBlock(sweep, {}, 1040).find("cost   1:35 slot time, 2:10 CPU (ended attempts)\n"), std::string::npos);
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

TEST(Render, AWaitingGangSaysWhyInTheTrialsAndTheStatus) {
  v1::Sweep sweep = RunningSweep();
  v1::Trial gang = Member(0, "");
  gang.set_state(v1::TRIAL_PENDING);
  gang.set_waiting_reason("needs 4 slots on one worker; the largest has 2");
  gang.set_waiting_since(910);
  EXPECT_NE(TrialsTable(sweep, {gang}, 1000).find("waiting 1:30: needs 4 slots on one worker; the largest has 2"),
            std::string::npos)
      << TrialsTable(sweep, {gang}, 1000);
  sweep.set_waiting("1 trial: needs 4 slots on one worker; the largest has 2");
  EXPECT_NE(ProgressBlock(sweep, {}, 1000).find("waits  1 trial: needs 4 slots on one worker; the largest has 2\n"),
            std::string::npos);
}

TEST(Render, UtcTimesToTheMinute) {
  EXPECT_EQ(FormatUtcTime(1795309200), "2026-11-22 01:00 UTC");
  EXPECT_EQ(FormatUtcTime(1795309259.9), "2026-11-22 01:00 UTC");
  EXPECT_EQ(FormatUtcTime(-60), "1969-12-31 23:59 UTC");
}

// --json prints the response as one JSON document on one line.
nlohmann::json OneJsonLine(const std::string& text) {
  EXPECT_EQ(text.find('\n'), text.size() - 1) << text;
  return nlohmann::json::parse(text);
}

v1::Trial BestTrial() {
  v1::Trial best;
  best.set_id(12);
  best.set_number(5);
  best.set_state(v1::TRIAL_COMPLETED);
  best.set_has_objective(true);
  best.set_objective(0.91234);
  best.set_objective_step(400);
  best.set_output_dir("sweep-3/trial-5");
  best.set_checkpoint("sweep-3/trial-5/step-400");
  auto* h = best.add_hyperparameters();
  h->set_path("optimizer.lr");
  h->set_value("0.003");
  return best;
}

v1::Sweep EndedSweep(v1::SweepState state) {
  v1::Sweep sweep = RunningSweep();
  sweep.set_state(state);
  sweep.set_finished_at(1125);
  sweep.set_storage_root("/runs");
  sweep.mutable_trials_by_state()->clear();
  (*sweep.mutable_trials_by_state())["completed"] = 8;
  return sweep;
}

TEST(Render, JsonKeepsTheProtoFieldNamesAndPrintsZeros) {
  v1::Sweep sweep;
  sweep.set_trials_total(8);
  const nlohmann::json document = nlohmann::json::parse(ToJson(sweep));
  EXPECT_EQ(document["trials_total"], "8") << "proto names, not trialsTotal; int64 as a string";
  EXPECT_EQ(document["finished_at"], 0);
  EXPECT_EQ(document["state"], "SWEEP_STATE_UNSPECIFIED");
  std::ostringstream out;
  PrintJson(sweep, out);
  EXPECT_EQ(out.str(), ToJson(sweep) + "\n");
}

TEST(Render, SubmitSaysHowToFollowOrThatItWaits) {
  const v1::Sweep sweep = RunningSweep();
  std::ostringstream returned, waiting;
  PrintSubmitted(sweep, /*waiting=*/false, /*json=*/false, returned);
  EXPECT_EQ(returned.str(),
            "submitted sweep 3 (quickstart): 8 trials, random search on val_accuracy (max)\n"
            "follow it with: orchard watch 3\n");
  PrintSubmitted(sweep, /*waiting=*/true, /*json=*/false, waiting);
  EXPECT_EQ(waiting.str(),
            "submitted sweep 3 (quickstart): 8 trials, random search on val_accuracy (max)\n"
            "waiting for it to end\n");
}

TEST(Render, SubmitJsonIsTheSweepUnlessItsEndComesLater) {
  std::ostringstream returned, waiting;
  PrintSubmitted(RunningSweep(), /*waiting=*/false, /*json=*/true, returned);
  const nlohmann::json document = OneJsonLine(returned.str());
  EXPECT_EQ(document["id"], "3");
  EXPECT_EQ(document["state"], "SWEEP_RUNNING");
  EXPECT_EQ(document["trials_by_state"]["pending"], "4");
  PrintSubmitted(RunningSweep(), /*waiting=*/true, /*json=*/true, waiting);
  EXPECT_EQ(waiting.str(), "") << "with --wait --json the sweep's end is the one document";
}

TEST(Render, RunSaysWhereStateAndOutputGo) {
  v1::Sweep sweep = RunningSweep();
  sweep.set_storage_root(".orchard/runs");
  std::ostringstream started, resumed, json;
  PrintRunStarted(sweep, /*resumed=*/false, ".orchard", /*json=*/false, started);
  EXPECT_EQ(started.str(),
            "orchard run: sweep 3 (quickstart), 8 trials; state in .orchard, trial output in .orchard/runs\n");
  PrintRunStarted(sweep, /*resumed=*/true, ".orchard", /*json=*/false, resumed);
  EXPECT_EQ(resumed.str(),
            "orchard run: resuming unfinished sweep 3 (quickstart), 8 trials; state in .orchard, trial output in "
            ".orchard/runs\n");
  PrintRunStarted(sweep, /*resumed=*/false, ".orchard", /*json=*/true, json);
  EXPECT_EQ(json.str(), "");
}

TEST(Render, AnEventOffATerminalIsOneLineWithTheTimeIntoTheSweep) {
  v1::SweepEvent event;
  *event.mutable_sweep() = RunningSweep();
  event.set_time(1072);
  event.set_message("trial 5 completed: val_accuracy 0.9123");
  std::ostringstream out;
  PrintSweepEvent(event, out);
  EXPECT_EQ(out.str(), "[1:12] trial 5 completed: val_accuracy 0.9123\n");
}

TEST(Render, TheEndOfASweepShowsItsBestTrial) {
  v1::Sweep sweep = EndedSweep(v1::SWEEP_COMPLETED);
  *sweep.mutable_best_trial() = BestTrial();
  std::ostringstream live, polled;
  PrintSweepEnd(sweep, /*with_progress=*/false, 2000, /*json=*/false, live);
  EXPECT_EQ(live.str(), "\n" + BestTrialText(sweep, sweep.best_trial())) << "the progress block was drawn live";
  PrintSweepEnd(sweep, /*with_progress=*/true, 2000, /*json=*/false, polled);
  EXPECT_EQ(polled.str(), ProgressBlock(sweep, {}, 2000) + "\n" + BestTrialText(sweep, sweep.best_trial()));
  EXPECT_NE(polled.str().find("2:05 elapsed"), std::string::npos) << "finished_at, not now" << polled.str();
}

TEST(Render, TheEndOfASweepWithoutACompletedTrialSaysWhereToLook) {
  const v1::Sweep sweep = EndedSweep(v1::SWEEP_FAILED);
  std::ostringstream out, json;
  PrintSweepEnd(sweep, /*with_progress=*/false, 2000, /*json=*/false, out);
  EXPECT_EQ(out.str(), "\nno trial completed; `orchard trials 3` shows why, `orchard logs TRIAL` the logs\n");
  PrintSweepEnd(sweep, /*with_progress=*/true, 2000, /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  EXPECT_EQ(document["state"], "SWEEP_FAILED");
  EXPECT_EQ(document["finished_at"], 1125);
}

TEST(Render, StatusIsTheProgressBlock) {
  std::ostringstream text, json;
  PrintSweepStatus(RunningSweep(), 1040, /*json=*/false, text);
  EXPECT_EQ(text.str(), ProgressBlock(RunningSweep(), {}, 1040));
  EXPECT_EQ(text.str().substr(0, text.str().find('\n')),
            "sweep 3 quickstart  running  random search, val_accuracy (max)  0:40 elapsed, ~2:00 left");
  PrintSweepStatus(RunningSweep(), 1040, /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  EXPECT_EQ(document["name"], "quickstart");
  EXPECT_EQ(document["trials_by_state"]["running"], "2");
}

TEST(Render, SweepsPrintsATableNewestFirst) {
  v1::ListSweepsResponse response;
  v1::Sweep* ended = response.add_sweeps();
  *ended = EndedSweep(v1::SWEEP_COMPLETED);
  ended->set_id(4);
  *ended->mutable_best_trial() = BestTrial();
  *response.add_sweeps() = RunningSweep();
  std::ostringstream text, json;
  PrintSweeps(response, 1040, /*json=*/false, text);
  EXPECT_EQ(text.str(),
            "ID  NAME        STATE      TRIALS  DONE  BEST                           ELAPSED\n"
            "4   quickstart  completed  8       8     val_accuracy 0.9123 (trial 5)  2:05\n"
            "3   quickstart  running    8       2     -                              0:40\n");
  PrintSweeps(response, 1040, /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  ASSERT_EQ(document["sweeps"].size(), 2u);
  EXPECT_EQ(document["sweeps"][0]["best_trial"]["objective"], 0.91234);
  EXPECT_EQ(document["sweeps"][1]["id"], "3");
}

TEST(Render, TrialsPrintsTheTableOfTheSweepOrTheTrialsAloneAsJson) {
  v1::ListTrialsResponse trials;
  *trials.add_trials() = BestTrial();
  trials.mutable_trials(0)->set_rung(-1);
  trials.mutable_trials(0)->set_attempts(1);
  trials.mutable_trials(0)->set_worker_id("w1");
  trials.mutable_trials(0)->set_started_at(1000);
  trials.mutable_trials(0)->set_finished_at(1030);
  trials.mutable_trials(0)->set_last_step(400);
  trials.mutable_trials(0)->set_cpu_seconds(57.4);
  trials.mutable_trials(0)->set_peak_memory_bytes(412LL << 20);
  std::ostringstream text, json;
  PrintTrials(trials, RunningSweep(), 1040, /*json=*/false, text);
  EXPECT_EQ(text.str(),
            "TRIAL  ID  STATE      val_accuracy  STEP  WORKER  ATTEMPTS  TIME  CPU   MEMORY   HYPERPARAMETERS     MESSAGE\n"
            "5      12  completed  0.9123        400   w1      1         0:30  0:57  412 MiB  optimizer.lr=0.003  \n");
  PrintTrials(trials, RunningSweep(), 1040, /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  EXPECT_FALSE(document.contains("sweep"));
  ASSERT_EQ(document["trials"].size(), 1u);
  EXPECT_EQ(document["trials"][0]["hyperparameters"][0]["path"], "optimizer.lr");
}

TEST(Render, TrialsShowTheirGpusMemoryAndUtilisationOnlyWhereMeasured) {
  v1::ListTrialsResponse trials;
  *trials.add_trials() = BestTrial();
  trials.mutable_trials(0)->set_rung(-1);
  trials.mutable_trials(0)->set_gpu_peak_memory_bytes(int64_t{3} << 30);
  trials.mutable_trials(0)->set_gpu_utilization_percent(87.6);
  *trials.add_trials() = BestTrial();
  trials.mutable_trials(1)->set_rung(-1);
  trials.mutable_trials(1)->set_number(6);
  std::ostringstream text;
  PrintTrials(trials, RunningSweep(), 1040, /*json=*/false, text);
  // The trial without a GPU figure has a dash in that column.
  EXPECT_EQ(text.str(),
            "TRIAL  ID  STATE      val_accuracy  STEP  WORKER  ATTEMPTS  TIME  CPU  MEMORY  GPU MEMORY, UTIL  HYPERPARAMETERS     MESSAGE\n"
            "5      12  completed  0.9123        0     -       0         -     -    -       3072 MiB, 88%     optimizer.lr=0.003  \n"
            "6      12  completed  0.9123        0     -       0         -     -    -       -                 optimizer.lr=0.003  \n");
}

TEST(Render, LogsSayWhenTheirStartIsCut) {
  v1::GetTrialLogResponse log;
  log.set_path("/runs/sweep-3/trial-5/attempt-1.log");
  log.set_text("step 400 loss 0.31\n");
  std::ostringstream whole, cut, json;
  PrintTrialLog(log, /*json=*/false, whole);
  EXPECT_EQ(whole.str(), "step 400 loss 0.31\n");
  log.set_truncated(true);
  PrintTrialLog(log, /*json=*/false, cut);
  EXPECT_EQ(cut.str(),
            "... (the start of /runs/sweep-3/trial-5/attempt-1.log is cut; use --tail to see more)\n"
            "step 400 loss 0.31\n");
  PrintTrialLog(log, /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  EXPECT_EQ(document["text"], "step 400 loss 0.31\n");
  EXPECT_EQ(document["truncated"], true);
}

TEST(Render, CancelSaysHowManyRunningTrialsAreStopping) {
  v1::Sweep sweep = RunningSweep();
  sweep.set_state(v1::SWEEP_CANCELED);
  std::ostringstream stopping, idle, json;
  PrintCanceled(sweep, /*json=*/false, stopping);
  EXPECT_EQ(stopping.str(), "sweep 3 is canceled; 2 running trials checkpoint and stop\n");
  (*sweep.mutable_trials_by_state())["running"] = 0;
  PrintCanceled(sweep, /*json=*/false, idle);
  EXPECT_EQ(idle.str(), "sweep 3 is canceled\n");
  PrintCanceled(sweep, /*json=*/true, json);
  EXPECT_EQ(OneJsonLine(json.str())["state"], "SWEEP_CANCELED");
}

TEST(Render, BestPrintsTheTrialWithItsCheckpointOrTheTrialAloneAsJson) {
  v1::Sweep sweep = EndedSweep(v1::SWEEP_COMPLETED);
  std::ostringstream text, json;
  PrintBestTrial(BestTrial(), sweep, /*json=*/false, text);
  EXPECT_EQ(text.str(),
            "best trial of sweep 3 (quickstart): trial 5 (id 12), val_accuracy 0.9123 at step 400\n"
            "  optimizer.lr: 0.003\n"
            "  output: /runs/sweep-3/trial-5\n"
            "  checkpoint: /runs/sweep-3/trial-5/step-400\n");
  PrintBestTrial(BestTrial(), sweep, /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  EXPECT_EQ(document["id"], "12");
  EXPECT_EQ(document["checkpoint"], "sweep-3/trial-5/step-400");
  EXPECT_FALSE(document.contains("storage_root")) << "the trial, not the sweep";
}

TEST(Render, WorkersPrintsTheirSlotsAndHeartbeats) {
  v1::ListWorkersResponse response;
  v1::Worker* w = response.add_workers();
  w->set_id("w1");
  w->set_hostname("node-1");
  w->set_slots(4);
  w->set_slot_kind("gpu");
  w->set_alive(true);
  w->set_running_attempts(3);
  w->set_last_heartbeat(1035);
  std::ostringstream text, json;
  PrintWorkers(response, 1040, /*json=*/false, text);
  EXPECT_EQ(text.str(),
            "ID  HOST    SLOTS  KIND  STATE  RUNNING  LAST HEARTBEAT\n"
            "w1  node-1  4      gpu   alive  3        0:05 ago\n");
  PrintWorkers(response, 1040, /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  EXPECT_EQ(document["workers"][0]["slot_kind"], "gpu");
  EXPECT_EQ(document["workers"][0]["registered_at"], 0);
}

v1::GetTrialMetricsResponse LossSeries() {
  v1::GetTrialMetricsResponse response;
  for (auto [step, value] : {std::pair<int64_t, double>{10, 0.5}, {20, 0.000012}}) {
    v1::MetricPoint* p = response.add_points();
    p->set_step(step);
    p->set_name("val_loss");
    p->set_value(value);
  }
  return response;
}

TEST(Render, MetricsAreCsv) {
  std::ostringstream text, json;
  PrintMetrics(LossSeries(), /*json=*/false, text);
  EXPECT_EQ(text.str(), "step,name,value\n10,val_loss,0.5\n20,val_loss,1.2e-05\n");
  PrintMetrics(LossSeries(), /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  ASSERT_EQ(document["points"].size(), 2u);
  EXPECT_EQ(document["points"][1]["step"], "20");
  EXPECT_EQ(document["points"][1]["value"], 0.000012);
}

TEST(Render, ExportJsonHasTheSweepAndEachTrialWithItsMetricsWhenAsked) {
  const v1::Sweep sweep = EndedSweep(v1::SWEEP_COMPLETED);
  const std::string plain = TrialsJson(sweep, {BestTrial()}, {});
  const nlohmann::json document = nlohmann::json::parse(plain);
  EXPECT_EQ(plain.substr(0, 14), "{\n  \"sweep\": {") << "indented by two";
  EXPECT_EQ(plain.back(), '\n');
  EXPECT_EQ(document["sweep"]["storage_root"], "/runs");
  ASSERT_EQ(document["trials"].size(), 1u);
  EXPECT_EQ(document["trials"][0]["number"], "5");
  EXPECT_FALSE(document["trials"][0].contains("metrics"));

  const nlohmann::json with = nlohmann::json::parse(TrialsJson(sweep, {BestTrial()}, {LossSeries()}));
  ASSERT_EQ(with["trials"][0]["metrics"].size(), 2u);
  EXPECT_EQ(with["trials"][0]["metrics"][0]["name"], "val_loss");
  EXPECT_EQ(with["trials"][0]["metrics"][0]["value"], 0.5);
}
}  // namespace
}  // namespace orchard::cli
