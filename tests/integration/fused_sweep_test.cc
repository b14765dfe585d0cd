// Fused sweeps end to end (sweep.fuse, docs/fusion.md), all real on loopback: an orchard-coordinator,
// orchard-worker processes, orchard-train trainers that train several trials as one model, and the
// orchard CLI.
#include "tests/integration/sweep_fixture.h"

#include <map>
#include <set>

namespace orchard::integration {
namespace {

// One worker with one slot: every group of trials shares that slot.
class FusedSweepTest : public SweepTest {
 protected:
  FusedSweepTest() { worker_slots_ = {1}; }

  // Trainer processes by pid, each with the attempts it trained.
  std::map<int, std::set<int64_t>> AttemptsByTrainer() {
    std::map<int, std::set<int64_t>> by_pid;
    for (const StartedTrainer& trainer : StartedTrainers()) by_pid[trainer.pid].insert(trainer.attempt_id);
    return by_pid;
  }
};

TEST_F(FusedSweepTest, AGridOfFourTrainsAsOneGroupAndEveryTrialKeepsItsOwnMetricsAndCheckpoints) {
  const int64_t id = Submit(
      "name: fused-grid\n"
      "model: {type: mlp, hidden: [32]}\n"
      "data: {type: synthetic, samples: 512, features: 8, classes: 3}\n"
      "train: {steps: 200, batch_size: 16, eval_interval: 20, threads: 1}\n"
      "checkpoint: {interval: 100, keep: 2}\n"
      "sweep:\n"
      "  strategy: grid\n"
      "  metric: val_loss\n"
      "  fuse: 4\n"
      "  parameters:\n"
      "    optimizer.lr: {values: [0.3, 0.03, 0.003, 0.0003]}\n");
  ASSERT_GT(id, 0);
  const ProcessResult watched = WatchUntilCompleted(id);
  const v1::Sweep sweep = GetSweep(id);

  // One trainer process trained all four trials.
  const auto by_pid = AttemptsByTrainer();
  ASSERT_EQ(by_pid.size(), 1u) << ReadFile(dir_ / "worker-0.log");
  EXPECT_EQ(by_pid.begin()->second.size(), 4u);

  std::set<double> objectives;
  for (const v1::Trial& trial : Trials(id)) {
    EXPECT_EQ(trial.state(), v1::TRIAL_COMPLETED) << trial.message();
    EXPECT_EQ(trial.last_step(), 200);
    const auto val_loss = Metrics(trial.id(), "val_loss");
    ASSERT_EQ(val_loss.size(), 10u) << "trial " << trial.number();
    EXPECT_DOUBLE_EQ(trial.objective(), val_loss.back().value());
    objectives.insert(trial.objective());
    EXPECT_TRUE(fs::exists(fs::path(sweep.storage_root()) / trial.checkpoint() / "MANIFEST")) << trial.checkpoint();
  }
  EXPECT_EQ(objectives.size(), 4u) << "each trial trained with its own learning rate";
  // An mlp member is the trial trained alone, bit for bit: reproduce trains it alone and compares.
  const int64_t some_trial = Trials(id).back().id();
  const ProcessResult reproduced = Cli({"reproduce", std::to_string(some_trial), "--out", dir_ / "reproduced"});
  EXPECT_EQ(reproduced.exit_code, 0) << reproduced.output;
  // The sweep's events say which trials trained together.
  EXPECT_NE(watched.output.find("trial 3 started on"), std::string::npos) << watched.output;
  EXPECT_NE(watched.output.find("fused with trial 0"), std::string::npos) << watched.output;
}

TEST_F(FusedSweepTest, AKilledGroupsMembersEachResumeFromTheirOwnCheckpointsAlone) {
  const int64_t id = Submit(
      "name: fused-killed\n"
      "model: {type: mlp, hidden: [64, 64]}\n"
      "data: {type: synthetic, samples: 2048, features: 32, classes: 3}\n"
      "train: {steps: 10000, batch_size: 32, eval_interval: 500, threads: 1}\n"
      "checkpoint: {interval: 500, keep: 2}\n"
      "sweep:\n"
      "  strategy: grid\n"
      "  metric: val_loss\n"
      "  fuse: 3\n"
      "  parameters:\n"
      "    optimizer.lr: {values: [0.01, 0.003, 0.001]}\n");
  ASSERT_GT(id, 0);
  // Every member has checkpointed; then the group's trainer dies.
  ASSERT_TRUE(WaitUntilCheckpointedAndRunning(id, 3));
  const StartedTrainer group = Trainer(0);
  ASSERT_GT(group.pid, 0);
  ASSERT_EQ(kill(group.pid, SIGKILL), 0);
  WatchUntilCompleted(id);
  for (const v1::Trial& trial : Trials(id)) {
    EXPECT_EQ(trial.state(), v1::TRIAL_COMPLETED) << trial.message();
    EXPECT_EQ(trial.attempts(), 2);
    EXPECT_EQ(trial.last_step(), 10000);
    // Its second attempt resumed its own checkpoint, not a fresh start.
    const std::string log = Cli({"logs", std::to_string(trial.id()), "--attempt", "2"}).output;
    EXPECT_NE(log.find("resumed from"), std::string::npos) << log;
  }
  // The first trainer trained all three; each resumed attempt trained alone.
  const auto by_pid = AttemptsByTrainer();
  ASSERT_EQ(by_pid.size(), 4u) << ReadFile(dir_ / "worker-0.log");
  EXPECT_EQ(by_pid.at(group.pid).size(), 3u);
}

TEST_F(FusedSweepTest, AnAshaSweepStopsMembersAtTheirRungsWhileTheirGroupTrainsOn) {
  const int64_t id = Submit(
      "name: fused-asha\n"
      "model: {type: mlp, hidden: [64, 64]}\n"
      "data: {type: synthetic, samples: 2048, features: 32, classes: 3}\n"
      "train: {steps: 800, batch_size: 32, eval_interval: 100, threads: 1}\n"
      "sweep:\n"
      "  strategy: asha\n"
      "  metric: val_loss\n"
      "  max_trials: 6\n"
      "  seed: 3\n"
      "  fuse: 3\n"
      "  early_stopping: {min_steps: 100, reduction_factor: 2}\n"
      "  parameters:\n"
      "    optimizer.lr: {distribution: log_uniform, min: 1.0e-5, max: 0.1}\n"
      "    optimizer.weight_decay: {distribution: log_uniform, min: 1.0e-4, max: 0.1}\n");
  ASSERT_GT(id, 0);
  WatchUntilCompleted(id);
  // Its group's trainer waited at the rung for each member's decision and ended a stopped one there.
  ExpectStoppedAtTheirRungs(id, 100, 6);
  // Groups of at most three, and at least one of more than one.
  size_t largest = 0;
  for (const auto& [pid, attempts] : AttemptsByTrainer()) largest = std::max(largest, attempts.size());
  EXPECT_GE(largest, 2u);
  EXPECT_LE(largest, 3u);
}

TEST_F(FusedSweepTest, APbtSweepFusesItsFreshMembersAndResumesPausedOnesFromTheirOwnCheckpoints) {
  const int64_t id = Submit(
      "name: fused-pbt\n"
      "model: {type: mlp, hidden: [64, 64]}\n"
      "data: {type: synthetic, samples: 2048, features: 32, classes: 3}\n"
      "train: {steps: 900, batch_size: 32, eval_interval: 300, threads: 1}\n"
      "checkpoint: {interval: 300}\n"
      "sweep:\n"
      "  strategy: pbt\n"
      "  metric: val_loss\n"
      "  max_trials: 4\n"
      "  seed: 2\n"
      "  fuse: auto\n"
      "  pbt: {interval: 300, quantile: 0.25, resample_probability: 0}\n"
      "  parameters:\n"
      "    optimizer.lr: {distribution: log_uniform, min: 1.0e-6, max: 0.1}\n");
  ASSERT_GT(id, 0);
  WatchUntilCompleted(id);
  int exploited = 0;
  for (const v1::Trial& trial : Trials(id)) {
    EXPECT_EQ(trial.state(), v1::TRIAL_COMPLETED) << "trial " << trial.number() << ": " << trial.message();
    EXPECT_EQ(trial.last_step(), 900);
    // A member in the bottom quantile was paused in its group and resumed from a better member's checkpoint.
    exploited += trial.lineage_size() > 0 && trial.attempts() >= 2;
  }
  EXPECT_GE(exploited, 1) << Cli({"trials", std::to_string(id)}).output;
  // The four fresh members trained as one group; resumed attempts train alone.
  const auto by_pid = AttemptsByTrainer();
  size_t largest = 0;
  for (const auto& [pid, attempts] : by_pid) largest = std::max(largest, attempts.size());
  EXPECT_EQ(largest, 4u);
  EXPECT_GT(by_pid.size(), 1u);
}

}  // namespace
}  // namespace orchard::integration
