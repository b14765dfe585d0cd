// Sweeps end to end through faults, all real on loopback (an orchard-coordinator process, two
// orchard-worker processes, orchard-train trainers, and the orchard CLI): a trainer killed, a worker
// preempted, and a worker cut off from a frozen coordinator.
#include "tests/integration/sweep_fixture.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace orchard::integration {
namespace {

TEST_F(SweepTest, ACrashedTrainerResumesFromItsCheckpointThenAfterMaxRestartsTheTrialFailsWithTheReason) {
  const int64_t id = Submit(Recipe(1000000, "[0.01]", 20) + "  max_restarts: 1\n");
  ASSERT_GT(id, 0);
  const auto trial = [&] { return Trials(id).at(0); };
  ASSERT_TRUE(WaitFor([&] { return !trial().checkpoint().empty(); }, 60)) << "no checkpoint reported";
  const int first = Trainer(0).pid;
  ASSERT_GT(first, 0);
  ASSERT_EQ(kill(first, SIGKILL), 0);  // as the kernel's out-of-memory killer would

  ASSERT_TRUE(WaitFor([&] { return trial().attempts() == 2 && trial().state() == v1::TRIAL_RUNNING; }, 30));
  EXPECT_EQ(trial().restarts(), 1);
  const fs::path second_log = fs::path(GetSweep(id).storage_root()) / trial().output_dir() / "attempt-2.log";
  ASSERT_TRUE(WaitFor([&] { return ReadFile(second_log).find("resumed from") != std::string::npos; }, 60))
      << ReadFile(second_log);
  const int second = Trainer(1).pid;
  ASSERT_GT(second, 0);
  ASSERT_EQ(kill(second, SIGKILL), 0);

  ASSERT_TRUE(WaitFor([&] { return GetSweep(id).state() == v1::SWEEP_FAILED; }, 30));
  EXPECT_EQ(trial().state(), v1::TRIAL_FAILED);
  EXPECT_NE(trial().message().find("gave up after 1 restarts"), std::string::npos) << trial().message();
  EXPECT_NE(trial().message().find("killed by signal 9"), std::string::npos) << trial().message();

  // The same workers take the next sweep.
  const int64_t next = Submit(Recipe(40, "[0.01, 0.001]", 0));
  const ProcessResult watched = Cli({"watch", std::to_string(next)});
  EXPECT_EQ(watched.exit_code, 0) << watched.output;
}

TEST_F(SweepTest, APreemptedWorkerCheckpointsDeregistersAndItsTrialResumesOnAnotherWorker) {
  const int64_t id = Submit(Recipe(1000000, "[0.01]", 20) + "  max_restarts: 0\n");
  ASSERT_GT(id, 0);
  ASSERT_TRUE(WaitFor([&] { return Trials(id).at(0).last_step() > 0; }, 60));
  const int victim = Trainer(0).worker;
  ASSERT_GE(victim, 0);
  ASSERT_EQ(kill(workers_[victim]->pid(), SIGTERM), 0);  // the scheduler preempts the node
  EXPECT_EQ(workers_[victim]->Wait(60).exit_code, 0);
  const std::string victim_log = ReadFile(dir_ / ("worker-" + std::to_string(victim) + ".log"));
  EXPECT_NE(victim_log.find("preempted"), std::string::npos) << victim_log;
  EXPECT_NE(victim_log.find("deregistered"), std::string::npos) << victim_log;

  // Not failed, though max_restarts is 0: preemption does not count. The other worker resumes it.
  ASSERT_TRUE(WaitFor([&] { return Trials(id).at(0).attempts() == 2; }, 30));
  const v1::Trial resumed = Trials(id).at(0);
  EXPECT_EQ(resumed.state(), v1::TRIAL_RUNNING);
  EXPECT_EQ(resumed.restarts(), 0);
  EXPECT_EQ(Trainer(1).worker, 1 - victim);
  int alive = 0;
  const v1::ListWorkersResponse workers = Workers();
  for (const v1::Worker& worker : workers.workers()) alive += worker.alive();
  EXPECT_EQ(alive, 1) << "the preempted worker left at once";
  const fs::path log = fs::path(GetSweep(id).storage_root()) / resumed.output_dir() / "attempt-2.log";
  ASSERT_TRUE(WaitFor([&] { return ReadFile(log).find("resumed from") != std::string::npos; }, 60)) << ReadFile(log);

  const ProcessResult canceled = Cli({"cancel", std::to_string(id)});
  EXPECT_EQ(canceled.exit_code, 0) << canceled.output;
  workers_[victim] = StartWorker(victim);  // TearDown stops every worker, once it is up
  ASSERT_TRUE(WaitFor([&] {
    const v1::ListWorkersResponse now = Workers();
    return std::count_if(now.workers().begin(), now.workers().end(), [](const v1::Worker& w) { return w.alive(); }) == 2;
  }, 30));
}

// A partition, as the worker sees it: the coordinator frozen (SIGSTOP) for longer than the lease
// timeout. The worker stops its trainer before the coordinator, once thawed, declares it lost and
// hands the trial out again, so the two attempts never run at once.
TEST_F(SweepTest, APartitionedWorkerFencesItselfBeforeItsTrialIsHandedOutAgain) {
  const int64_t id = Submit(Recipe(1000000, "[0.01]", 20));
  ASSERT_GT(id, 0);
  ASSERT_TRUE(WaitFor([&] { return !Trials(id).at(0).checkpoint().empty(); }, 60));
  const int worker = Trainer(0).worker;
  ASSERT_GE(worker, 0);
  ASSERT_EQ(kill(coordinator_->pid(), SIGSTOP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(6500));  // lease timeout 5 s; the fence is at 3.5 s
  ASSERT_EQ(kill(coordinator_->pid(), SIGCONT), 0);

  const std::string log_file = dir_ / ("worker-" + std::to_string(worker) + ".log");
  EXPECT_NE(ReadFile(log_file).find("stopping before the coordinator declares this worker lost"), std::string::npos)
      << ReadFile(log_file);
  ASSERT_TRUE(WaitFor([&] { return Trials(id).at(0).attempts() == 2; }, 30));
  const v1::Trial resumed = Trials(id).at(0);  // started_at: when attempt 2 was leased
  const fs::path first_log = fs::path(GetSweep(id).storage_root()) / resumed.output_dir() / "attempt-1.log";
  const auto written = fs::last_write_time(first_log);
  const double first_last_write = std::chrono::duration<double>(
      (written - fs::file_time_type::clock::now()) + std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LT(first_last_write, resumed.started_at()) << "attempt 1's trainer still wrote after attempt 2 was leased";
  EXPECT_NE(ReadFile(first_log).find("preempted"), std::string::npos) << "it checkpointed on the way out";
  // Every worker serves again. Each was silent for the whole freeze: one whose heartbeat reached the
  // thawed coordinator after its lease check was declared lost and registers anew (its old record
  // stays lost), the others never were. So: as many live workers as worker processes.
  ASSERT_TRUE(WaitFor([&] {
    const auto workers = Workers().workers();
    return std::count_if(workers.begin(), workers.end(), [](const v1::Worker& w) { return w.alive(); }) ==
           static_cast<std::ptrdiff_t>(workers_.size());
  }, 30)) << ReadFile(log_file);
  EXPECT_EQ(Cli({"cancel", std::to_string(id)}).exit_code, 0);
}

}  // namespace
}  // namespace orchard::integration
