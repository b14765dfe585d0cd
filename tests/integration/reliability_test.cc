// Faults the chaos test does not inject, end to end with real processes on loopback: a trainer
// that dies having written nothing, a rank that is stopped (not dead) in a two-rank trial, a
// coordinator restart after an outage longer than the workers' fence, a full storage root, a
// crashed `orchard run` started again, and a sweep whose trials need more slots than the machine
// has.
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>

#include "tests/integration/sweep_fixture.h"

namespace orchard::integration {
namespace {

// Each attempt's (state, reason) of a trial, read from the coordinator's SQLite file.
std::vector<std::pair<std::string, std::string>> AttemptEnds(const std::string& db_path, int64_t trial_id) {
  std::vector<std::pair<std::string, std::string>> ends;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* rows = nullptr;
    sqlite3_prepare_v2(db, "SELECT state, reason FROM attempts WHERE trial_id = ? ORDER BY number", -1, &rows, nullptr);
    sqlite3_bind_int64(rows, 1, trial_id);
    while (sqlite3_step(rows) == SQLITE_ROW)
      ends.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(rows, 0)),
                        reinterpret_cast<const char*>(sqlite3_column_text(rows, 1)));
    sqlite3_finalize(rows);
  }
  sqlite3_close(db);
  return ends;
}

// A trainer stand-in that exits 1 having written nothing (as on a full storage root): the worker
// once aborted on the empty log ("std::out_of_range ... substr"), taking every trial of its node.
class SilentTrainerTest : public SweepTest {
 protected:
  SilentTrainerTest() {
    worker_slots_ = {1};
    const std::string trainer = dir_ / "exit-1.sh";
    WriteFile(trainer, "#!/bin/sh\nexit 1\n");
    chmod(trainer.c_str(), 0755);
    worker_flags_ = {"--trainer-start", "cold", "--trainer", trainer};
  }
};

TEST_F(SilentTrainerTest, TheWorkerSurvivesATrainerThatWritesNothingAndTheTrialFailsWithTheReason) {
  const int64_t id = Submit(Recipe(100, "[0.01, 0.02]", 50) + "  max_restarts: 1\n");
  ASSERT_GT(id, 0);
  ASSERT_TRUE(WaitFor([&] { return GetSweep(id).state() != v1::SWEEP_RUNNING; }, 60)) << ReadFile(dir_ / "worker-0.log");
  for (const v1::Trial& trial : Trials(id)) {
    EXPECT_EQ(trial.state(), v1::TRIAL_FAILED);
    EXPECT_EQ(trial.attempts(), 2) << "one restart, then failed";
    EXPECT_NE(trial.message().find("the trainer wrote nothing to its log"), std::string::npos) << trial.message();
  }
  EXPECT_EQ(kill(workers_[0]->pid(), 0), 0) << "the worker is still running: " << ReadFile(dir_ / "worker-0.log");
}

// A storage root with no space left: the worker cannot even write a trial's recipe or log. Each
// attempt fails with the reason and is retried, the trial fails after max_restarts, the worker
// stays up, and once there is room again the next sweep completes. Needs a small file system of
// its own: a tmpfs mounted for the test (root only; skipped elsewhere).
class FullStorageTest : public SweepTest {
 protected:
  FullStorageTest() {
    worker_slots_ = {1};
    fs::create_directories(full_);
    mounted_ = mount("orchard-full", full_.c_str(), "tmpfs", 0, "size=1m") == 0;
    if (mounted_) worker_flags_ = {"--storage", full_};
  }
  ~FullStorageTest() override {
    if (mounted_) umount2(full_.c_str(), MNT_DETACH);
  }
  const std::string full_ = dir_ / "full";
  bool mounted_ = false;
};

TEST_F(FullStorageTest, TrialsFailWithTheReasonTheWorkerStaysUpAndRecoversOnceThereIsRoom) {
  if (!mounted_) GTEST_SKIP() << "cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN)";
  {
    std::ofstream filler(full_ + "/filler", std::ios::binary);
    const std::string block(64 << 10, '\0');
    for (int i = 0; i < 64 && filler.write(block.data(), block.size()); ++i) {
    }
  }
  const int64_t full = Submit(Recipe(200, "[0.01]", 50) + "  max_restarts: 1\n");
  ASSERT_GT(full, 0);
  ASSERT_TRUE(WaitFor([&] { return GetSweep(full).state() != v1::SWEEP_RUNNING; }, 60)) << ReadFile(dir_ / "worker-0.log");
  const v1::Trial failed = Trials(full).at(0);
  EXPECT_EQ(failed.state(), v1::TRIAL_FAILED);
  EXPECT_EQ(failed.attempts(), 2) << "a full disk is retried, not taken for a bad recipe";
  EXPECT_NE(failed.message().find("No space left on device"), std::string::npos) << failed.message();
  EXPECT_EQ(kill(workers_[0]->pid(), 0), 0) << "the worker is still running";

  fs::remove(full_ + "/filler");
  const int64_t roomy = Submit(Recipe(200, "[0.01]", 50));
  ASSERT_GT(roomy, 0);
  EXPECT_EQ(Cli({"watch", std::to_string(roomy)}).exit_code, 0) << ReadFile(dir_ / "worker-0.log");
  EXPECT_EQ(Trials(roomy).at(0).state(), v1::TRIAL_COMPLETED) << Trials(roomy).at(0).message();
}

// The pid of the orchard-train process with this MPI world rank, or 0.
int TrainerOfRank(int rank) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc", error)) {
    const std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (ReadFile(entry.path() / "cmdline").find("orchard-train") == std::string::npos) continue;
    std::string environ = ReadFile(entry.path() / "environ");
    std::replace(environ.begin(), environ.end(), '\0', '\n');
    if (environ.find("\nOMPI_COMM_WORLD_RANK=" + std::to_string(rank) + "\n") != std::string::npos) return std::stoi(pid);
  }
  return 0;
}

class StoppedRankTest : public SweepTest {
 protected:
  StoppedRankTest() { worker_slots_ = {2}; }
};

// A rank stopped with SIGSTOP (not dead) in a two-rank trial the worker started through mpirun:
// its peer's all-reduce times out, and the attempt must end within the timeout plus a bounded grace
// (rank 0 once hung in MPI_Finalize for good), with the timed-out collective as its reason; the
// trial then resumes from its checkpoint.
TEST_F(StoppedRankTest, TheAttemptFailsWithinTheTimeoutNamingTheCollectiveAndTheTrialResumes) {
  const int64_t id = Submit(Recipe(1000000, "[0.01]", 50, /*ranks=*/2) + "distributed: {timeout_seconds: 5}\n");
  ASSERT_GT(id, 0);
  ASSERT_TRUE(WaitFor([&] { return !Trials(id).at(0).checkpoint().empty(); }, 120)) << ReadFile(dir_ / "worker-0.log");
  const int stopped = TrainerOfRank(1);
  ASSERT_GT(stopped, 0);
  ASSERT_EQ(kill(stopped, SIGSTOP), 0);
  const auto since = std::chrono::steady_clock::now();
  const bool resumed = WaitFor([&] { return Trials(id).at(0).attempts() >= 2; }, 60);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
  kill(stopped, SIGKILL);  // in case mpirun left it behind
  ASSERT_TRUE(resumed) << ReadFile(dir_ / "worker-0.log");
  EXPECT_LT(seconds, 5 + 10 + 25) << "the timeout (5 s), the finalisation's watchdog (10 s) and mpirun's grace";
  const auto ends = AttemptEnds(dir_ / "state/orchard.db", Trials(id).at(0).id());
  ASSERT_GE(ends.size(), 1u);
  EXPECT_NE(ends[0].second.find("did not finish within 5 s"), std::string::npos) << ends[0].second;
  EXPECT_EQ(ends[0].second.find("mpirun has exited"), std::string::npos) << "the trainer's words, not mpirun's banner";
  const fs::path second_log = fs::path(GetSweep(id).storage_root()) / Trials(id).at(0).output_dir() / "attempt-2.log";
  EXPECT_TRUE(WaitFor([&] { return ReadFile(second_log).find("resumed from") != std::string::npos; }, 60))
      << ReadFile(second_log);
  EXPECT_EQ(Cli({"cancel", std::to_string(id)}).exit_code, 0);
}

// Heartbeats every 3 s, fence at 70% of a 6 s lease: a coordinator away for longer than the fence
// (but back, and reached again, before it would declare the workers lost) leaves each worker's
// last acknowledged heartbeat old. The first call to it after its return is most often a lease
// (every 0.25 s), which the coordinator counts as a heartbeat; the worker did not, and stopped the
// trial it had just started ("no heartbeat acknowledged for 5 s"). With two workers, at least one
// leases first in most runs.
class CoordinatorRestartTest : public SweepTest {
 protected:
  CoordinatorRestartTest() { heartbeat_interval_ = "3", lease_timeout_ = "6"; }
};

TEST_F(CoordinatorRestartTest, NoAttemptIsWastedAfterTheCoordinatorComesBack) {
  kill(coordinator_->pid(), SIGKILL);
  (void)coordinator_->Wait(10);
  std::this_thread::sleep_for(std::chrono::seconds(5));  // longer than the workers' fence (4.2 s)
  coordinator_ = std::make_unique<Process>(
      std::vector<std::string>{kBin + "/orchard-coordinator", "--listen", address_, "--http", "127.0.0.1:0", "--state-dir", dir_ / "state",
                               "--heartbeat-interval", heartbeat_interval_, "--lease-timeout", lease_timeout_},
      dir_ / "coordinator-restarted.log");
  ASSERT_FALSE(testing::WaitForListenAddress(dir_ / "coordinator-restarted.log", 30).empty());
  const int64_t id = Submit(Recipe(400, "[0.01, 0.02]", 100));
  ASSERT_GT(id, 0);
  EXPECT_EQ(Cli({"watch", std::to_string(id)}).exit_code, 0);
  for (const v1::Trial& trial : Trials(id)) {
    EXPECT_EQ(trial.state(), v1::TRIAL_COMPLETED) << trial.message();
    EXPECT_EQ(trial.attempts(), 1) << "trial " << trial.number() << " was started more than once";
  }
  for (size_t i = 0; i < workers_.size(); ++i) {
    const std::string log = ReadFile(dir_ / ("worker-" + std::to_string(i) + ".log"));
    EXPECT_EQ(log.find("no heartbeat acknowledged"), std::string::npos) << log;
    EXPECT_EQ(log.find("registering again"), std::string::npos) << "meant to be back within the lease: " << log;
  }
}

// `orchard run` killed mid-sweep and run again with the same recipe and state directory (a
// requeued batch job) finishes the sweep it left instead of running it all a second time.
TEST(OrchardRerun, ARerunAfterACrashResumesTheUnfinishedSweep) {
  TempDir dir;
  WriteFile(dir / "recipe.yaml", Recipe(15000, "[0.01, 0.02, 0.03, 0.04]", 500));
  const std::vector<std::string> command = {kBin + "/orchard", "run", dir / "recipe.yaml", "--state-dir", dir / "state",
                                            "--cpu-slots", "1"};
  {
    Process first(command, dir / "first.log");
    // Once one trial has completed (its result.json is written), kill it all.
    ASSERT_TRUE(WaitFor([&] { return fs::exists(dir / "state/storage/it-1/trial-0/result.json"); }, 120))
        << ReadFile(dir / "first.log");
    kill(first.pid(), SIGKILL);
    (void)first.Wait(10);
  }
  const ProcessResult rerun = RunProcess(command, 300);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_NE(rerun.output.find("resuming unfinished sweep 1"), std::string::npos) << rerun.output;
  EXPECT_NE(rerun.output.find("trials 4/4 ended:  running 0  completed 4"), std::string::npos) << rerun.output;
  EXPECT_FALSE(fs::exists(dir / "state/storage/it-2")) << "no second sweep was started";
}

// A trial that needs more slots than the local worker (or the mpirun world) has would wait forever.
TEST(OrchardRun, TrialsThatNeedMoreSlotsThanThereAreAreRefusedAtOnce) {
  TempDir dir;
  WriteFile(dir / "recipe.yaml", Recipe(100, "[0.01]", 50, /*ranks=*/3));
  const ProcessResult run = RunProcess({kBin + "/orchard", "run", dir / "recipe.yaml", "--state-dir", dir / "state",
                                        "--cpu-slots", "2"}, 60);
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_NE(run.output.find("each trial needs 3 slots, and this machine offers 2 cpu slots"), std::string::npos)
      << run.output;
  const ProcessResult mpi = RunProcess({ORCHARD_MPIEXEC, "--oversubscribe", "--allow-run-as-root", "-np", "2",
                                        kBin + "/orchard-worker", "--mpi", "--sweep", dir / "recipe.yaml",
                                        "--state-dir", dir / "mpi-state"}, 120);
  EXPECT_NE(mpi.exit_code, 0) << mpi.output;
  EXPECT_NE(mpi.output.find("this mpirun world has 2 cpu slots"), std::string::npos) << mpi.output;
  EXPECT_NE(mpi.output.find("start mpirun with -np 3 or more"), std::string::npos) << mpi.output;
}

}  // namespace
}  // namespace orchard::integration
