// Sweeps end to end as deployed other ways, all real processes: across a network with TLS and
// tokens, trials of several ranks over MPI (workers starting mpirun, and workers started by it),
// and `orchard run` with nothing running.
#include "tests/integration/sweep_fixture.h"

#include <signal.h>

#include <map>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace orchard::integration {
namespace {


// Deployed as across a network: the coordinator with --auth and TLS, workers with a worker token,
// the CLI with user tokens made by the coordinator's admin commands, all trusting a CA made here.
class SecureSweepTest : public SweepTest {
 protected:
  void SetUp() override {
    testing::MakeCertificateAuthority(dir_.path(), "ca");
    testing::MakeSignedCertificate(dir_.path(), "ca", "server");
    for (const auto& [file, args] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"root.token", {"user", "add", "root", "--admin"}},
             {"alice.token", {"user", "add", "alice"}},
             {"bob.token", {"user", "add", "bob"}},
             {"worker.token", {"worker-token", "create"}}}) {
      std::vector<std::string> command = {kBin + "/orchard-coordinator", "--state-dir", dir_ / "state"};
      command.insert(command.end(), args.begin(), args.end());
      const ProcessResult made = RunProcess(command, 60);
      std::smatch token;
      ASSERT_TRUE(made.exit_code == 0 && std::regex_search(made.output, token, std::regex("orc_[uw]_[0-9a-f]{64}")))
          << made.output;
      tokens_[file] = token.str();
      WriteFile(dir_ / file, token.str() + "\n");
    }
    coordinator_flags_ = {"--auth", "--tls-cert", dir_ / "server.pem", "--tls-key", dir_ / "server.key"};
    worker_flags_ = {"--token-file", dir_ / "worker.token", "--tls-ca", dir_ / "ca.pem"};
    cli_flags_ = {"--token-file", dir_ / "alice.token", "--tls-ca", dir_ / "ca.pem"};
    security_.token = tokens_["root.token"];
    security_.tls = true;
    security_.tls_ca_pem = ReadFile(dir_ / "ca.pem");
    SweepTest::SetUp();
  }

  ProcessResult CliAs(const std::vector<std::string>& flags, const std::vector<std::string>& args) {
    std::vector<std::string> command = {kBin + "/orchard", "--coordinator", address_};
    command.insert(command.end(), flags.begin(), flags.end());
    command.insert(command.end(), args.begin(), args.end());
    return RunProcess(command, 60);
  }

  std::map<std::string, std::string> tokens_;  // by file name
};

TEST_F(SecureSweepTest, ASweepRunsEndToEndWithTlsAUserTokenAndAWorkerToken) {
  const int64_t id = Submit(Recipe(60, "[0.03, 0.003]", 30));
  ASSERT_GT(id, 0);
  const ProcessResult watched = Cli({"watch", std::to_string(id)});
  EXPECT_EQ(watched.exit_code, 0) << watched.output;
  const v1::Sweep sweep = GetSweep(id);
  EXPECT_EQ(sweep.state(), v1::SWEEP_COMPLETED);
  EXPECT_EQ(sweep.owner(), "alice");
  for (const v1::Trial& trial : Trials(id)) {
    EXPECT_EQ(trial.state(), v1::TRIAL_COMPLETED) << trial.message();
    EXPECT_EQ(Metrics(trial.id(), "val_loss").back().step(), 60) << "the worker relayed metrics with attempt tokens";
  }
  EXPECT_EQ(Cli({"best", std::to_string(id)}).exit_code, 0);

  const ProcessResult bob = CliAs({"--token-file", dir_ / "bob.token", "--tls-ca", dir_ / "ca.pem"}, {"cancel", std::to_string(id)});
  EXPECT_EQ(bob.exit_code, 6) << bob.output;
  EXPECT_NE(bob.output.find("not allowed"), std::string::npos) << bob.output;
  const ProcessResult anonymous = CliAs({"--tls-ca", dir_ / "ca.pem"}, {"sweeps"});
  EXPECT_EQ(anonymous.exit_code, 6) << anonymous.output;
  EXPECT_NE(anonymous.output.find("--token-file"), std::string::npos) << anonymous.output;
  const ProcessResult plaintext = CliAs({"--token-file", dir_ / "alice.token"}, {"sweeps"});
  EXPECT_EQ(plaintext.exit_code, 3) << plaintext.output;
  const ProcessResult unreadable = CliAs({"--token-file", dir_ / "missing.token"}, {"sweeps"});
  EXPECT_EQ(unreadable.exit_code, 2) << unreadable.output;
  EXPECT_NE(unreadable.output.find("--token-file " + (dir_ / "missing.token")), std::string::npos) << unreadable.output;
  WriteFile(dir_ / "pasted.token", tokens_["alice.token"] + "\nIt is shown only this once\n");  // stderr pasted too
  const ProcessResult pasted = CliAs({"--token-file", dir_ / "pasted.token", "--tls-ca", dir_ / "ca.pem"}, {"sweeps"});
  EXPECT_EQ(pasted.exit_code, 2) << pasted.output;
  EXPECT_NE(pasted.output.find("one word of printable characters"), std::string::npos) << pasted.output;
  for (const char* log : {"coordinator.log", "worker-0.log", "worker-1.log"})
    for (const auto& [file, token] : tokens_)
      EXPECT_EQ(ReadFile(dir_ / log).find(token.substr(6)), std::string::npos) << file << "'s token in " << log;
}

TEST_F(SecureSweepTest, AWorkerWhoseTokenIsRevokedStopsItsTrainersAndLeavesWithTheReason) {
  const int64_t id = Submit(Recipe(1000000, "[0.01, 0.001]", 20));
  ASSERT_GT(id, 0);
  ASSERT_TRUE(WaitFor([&] { return GetSweep(id).trials_by_state().count("running") &&
                                   GetSweep(id).trials_by_state().at("running") == 2; }, 60));
  const ProcessResult listed = RunProcess({kBin + "/orchard-coordinator", "--state-dir", dir_ / "state", "token", "list"}, 60);
  std::smatch worker_token;
  ASSERT_TRUE(std::regex_search(listed.output, worker_token, std::regex("\\n([0-9]+) +worker"))) << listed.output;
  const ProcessResult revoked =
      RunProcess({kBin + "/orchard-coordinator", "--state-dir", dir_ / "state", "token", "revoke", worker_token[1]}, 60);
  ASSERT_EQ(revoked.exit_code, 0) << revoked.output;

  for (size_t i = 0; i < workers_.size(); ++i) {
    const ProcessResult stopped = workers_[i]->Wait(60);
    EXPECT_EQ(stopped.exit_code, 1) << "worker " << i;
    const std::string log = ReadFile(dir_ / ("worker-" + std::to_string(i) + ".log"));
    EXPECT_NE(log.find("refused this worker's credentials"), std::string::npos) << log;
    EXPECT_NE(log.find("preempted"), std::string::npos) << "its trainer checkpointed on the way out: " << log;
  }
  for (const v1::Trial& trial : Trials(id)) EXPECT_NE(trial.state(), v1::TRIAL_FAILED) << trial.message();

  // Workers with a new token take the trials back.
  const ProcessResult made = RunProcess({kBin + "/orchard-coordinator", "--state-dir", dir_ / "state", "worker-token", "create"}, 60);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  std::smatch token;
  ASSERT_TRUE(std::regex_search(made.output, token, std::regex("orc_w_[0-9a-f]{64}"))) << made.output;
  WriteFile(dir_ / "worker.token", token.str() + "\n");
  for (size_t i = 0; i < workers_.size(); ++i) workers_[i] = StartWorker(i);
  ASSERT_TRUE(WaitFor([&] { return Trials(id).at(0).attempts() >= 2 && Trials(id).at(1).attempts() >= 2; }, 90))
      << ReadFile(dir_ / "worker-0-restarted.log");
  EXPECT_EQ(Cli({"cancel", std::to_string(id)}).exit_code, 0);
}

// One worker with three CPU slots: a trial of two ranks (data-parallel over MPI, started by the
// worker through mpirun) and a one-rank trial of another sweep run side by side.
class GangTest : public SweepTest {
 protected:
  GangTest() { worker_slots_ = {3}; }
};

TEST_F(GangTest, ATwoRankTrialAndAOneRankTrialRunSideBySide) {
  const int64_t gang = Submit(Recipe(300, "[0.01]", 100, /*ranks=*/2));
  const int64_t single = Submit(Recipe(300, "[0.01]", 100, /*ranks=*/1));
  ASSERT_GT(gang, 0);
  ASSERT_GT(single, 0);
  EXPECT_TRUE(WaitFor([&] {
    const auto a = Trials(gang), b = Trials(single);
    return a.size() == 1 && b.size() == 1 && a[0].state() == v1::TRIAL_RUNNING && b[0].state() == v1::TRIAL_RUNNING;
  }, 120)) << "both trials should run at once on the three slots";
  for (int64_t id : {gang, single}) EXPECT_EQ(Cli({"watch", std::to_string(id)}).exit_code, 0);

  const v1::Sweep sweep = GetSweep(gang);
  EXPECT_EQ(sweep.state(), v1::SWEEP_COMPLETED);
  const v1::Trial trial = Trials(gang).at(0);
  ASSERT_EQ(trial.state(), v1::TRIAL_COMPLETED) << trial.message();
  EXPECT_EQ(Metrics(trial.id(), "val_loss").back().step(), 300);
  const fs::path checkpoint = fs::path(sweep.storage_root()) / trial.checkpoint();
  EXPECT_TRUE(fs::exists(checkpoint / "rank-0.pt"));
  EXPECT_TRUE(fs::exists(checkpoint / "rank-1.pt")) << "the second rank's state is in the checkpoint";
  EXPECT_NE(ReadFile(checkpoint / "MANIFEST").find("\"ranks\": 2"), std::string::npos) << ReadFile(checkpoint / "MANIFEST");
  const ProcessResult logs = Cli({"logs", std::to_string(trial.id())});
  EXPECT_NE(logs.output.find("2 ranks (mpi)"), std::string::npos) << logs.output;
  EXPECT_EQ(Trials(single).at(0).state(), v1::TRIAL_COMPLETED);
}

// A trial of four ranks where the largest worker has three slots: it says why it waits, in the CLI and
// the API, and fails with that reason after sweep.unplaceable_timeout_seconds instead of waiting forever.
TEST_F(GangTest, ATrialNoWorkerCanHoldSaysWhyItWaitsThenFailsWithThatReason) {
  std::string recipe = Recipe(300, "[0.01]", 100, /*ranks=*/4);
  recipe.replace(recipe.find("  ranks: 4\n"), std::string("  ranks: 4\n").size(), "  ranks: 4\n  unplaceable_timeout_seconds: 15\n");
  const int64_t id = Submit(recipe);
  ASSERT_GT(id, 0);
  const std::string reason = "needs 4 slots on one worker; the largest has 3";
  ASSERT_TRUE(WaitFor([&] { return Trials(id).at(0).waiting_reason() == reason; }, 30)) << Trials(id).at(0).DebugString();
  EXPECT_EQ(Trials(id).at(0).state(), v1::TRIAL_PENDING);
  EXPECT_NE(Cli({"trials", std::to_string(id)}).output.find("waiting"), std::string::npos);
  const ProcessResult status = Cli({"status", std::to_string(id)});
  EXPECT_NE(status.output.find(reason), std::string::npos) << status.output;

  const ProcessResult watched = Cli({"watch", std::to_string(id)}, 60);
  EXPECT_NE(watched.exit_code, 0) << "the sweep failed: " << watched.output;
  EXPECT_EQ(GetSweep(id).state(), v1::SWEEP_FAILED);
  const v1::Trial trial = Trials(id).at(0);
  EXPECT_EQ(trial.state(), v1::TRIAL_FAILED);
  EXPECT_NE(trial.message().find(reason), std::string::npos) << trial.message();
  EXPECT_EQ(trial.attempts(), 0) << "it never started";
}

// One worker that reports one GPU of 2 GiB (ORCHARD_GPU_INVENTORY stands in for CUDA's answer; the
// trainers then train on this machine's CPU): trials that ask for half a GPU run two at a time on it,
// the third waits for room, and a sweep asking for more memory than the GPU has says why it waits.
class SharedGpuTest : public SweepTest {
 protected:
  SharedGpuTest() {
    worker_slots_ = {1};
    setenv("ORCHARD_GPU_INVENTORY", "2", 1);  // read by the worker processes started in SetUp
  }
  ~SharedGpuTest() override { unsetenv("ORCHARD_GPU_INVENTORY"); }
};

TEST_F(SharedGpuTest, TrialsThatAskForHalfAGpuRunTwoAtATimeOnOne) {
  EXPECT_NE(Cli({"workers"}).output.find("gpu (2 GiB)"), std::string::npos) << Cli({"workers"}).output;
  // Trials long enough (about a second each) that two running at once overlap for several lease
  // periods and polls of this test, even on a loaded machine; at 300 steps a busy CI run once saw
  // them only one at a time.
  std::string recipe = Recipe(1500, "[0.03, 0.01, 0.003]", 500);
  recipe.replace(recipe.find("  ranks: 1\n"), std::string("  ranks: 1\n").size(), "  gpu_fraction: 0.5\n");
  const int64_t id = Submit(recipe);
  ASSERT_GT(id, 0);
  int most_at_once = 0;
  ASSERT_TRUE(WaitFor([&] {
    int running = 0, completed = 0;
    for (const v1::Trial& trial : Trials(id)) {
      running += trial.state() == v1::TRIAL_RUNNING;
      completed += trial.state() == v1::TRIAL_COMPLETED;
    }
    most_at_once = std::max(most_at_once, running);
    return completed == 3;
  }, 240)) << Cli({"trials", std::to_string(id)}).output;
  EXPECT_EQ(most_at_once, 2) << "two halves share the one GPU; the third waits for room";

  std::string large = Recipe(20, "[0.01]", 10);
  large.replace(large.find("  ranks: 1\n"), std::string("  ranks: 1\n").size(),
                "  gpu_memory_gib: 3\n  unplaceable_timeout_seconds: 5\n");
  const int64_t waiting = Submit(large);
  const std::string reason = "needs 3 GiB of one GPU (sweep.gpu_memory_gib); the largest has 2 GiB";
  ASSERT_TRUE(WaitFor([&] { return Trials(waiting).at(0).state() == v1::TRIAL_FAILED; }, 60));
  EXPECT_NE(Trials(waiting).at(0).message().find(reason), std::string::npos) << Trials(waiting).at(0).message();
}

// mpirun mode: `mpirun -np 3 orchard-worker --mpi` is one worker of three slots (its ranks), which
// train in-process; a 2-rank trial and a 1-rank trial of two sweeps run side by side on them.
class MpiWorkerTest : public SweepTest {
 protected:
  MpiWorkerTest() { worker_slots_ = {}; }
};

TEST_F(MpiWorkerTest, TheRanksOfAnMpiWorldRunATwoRankAndAOneRankTrialSideBySide) {
  workers_.push_back(std::make_unique<Process>(
      std::vector<std::string>{ORCHARD_MPIEXEC, "--oversubscribe", "--allow-run-as-root", "-np", "3",
                               kBin + "/orchard-worker", "--mpi", "--coordinator", address_},
      dir_ / "mpi-worker.log"));
  ASSERT_TRUE(WaitFor([&] { return Workers().workers_size() == 1; }, 60)) << ReadFile(dir_ / "mpi-worker.log");
  EXPECT_EQ(Workers().workers(0).slots(), 3);
  const int64_t gang = Submit(Recipe(600, "[0.01]", 100, /*ranks=*/2));
  const int64_t single = Submit(Recipe(600, "[0.01]", 100, /*ranks=*/1));
  EXPECT_TRUE(WaitFor([&] {
    const auto a = Trials(gang), b = Trials(single);
    return a.size() == 1 && b.size() == 1 && a[0].state() == v1::TRIAL_RUNNING && b[0].state() == v1::TRIAL_RUNNING;
  }, 120)) << ReadFile(dir_ / "mpi-worker.log");
  for (int64_t id : {gang, single}) EXPECT_EQ(Cli({"watch", std::to_string(id)}).exit_code, 0);
  for (int64_t id : {gang, single}) {
    const v1::Sweep sweep = GetSweep(id);
    const v1::Trial trial = Trials(id).at(0);
    ASSERT_EQ(trial.state(), v1::TRIAL_COMPLETED) << trial.message();
    EXPECT_EQ(Metrics(trial.id(), "val_loss").back().step(), 600);
    const fs::path checkpoint = fs::path(sweep.storage_root()) / trial.checkpoint();
    EXPECT_EQ(fs::exists(checkpoint / "rank-1.pt"), id == gang) << checkpoint;
  }
  EXPECT_NE(Cli({"logs", std::to_string(Trials(gang).at(0).id())}).output.find("2 ranks (mpi)"), std::string::npos);
  const std::string log = ReadFile(dir_ / "mpi-worker.log");
  EXPECT_TRUE(std::regex_search(log, std::regex("started on ranks [0-2],[0-2], log"))) << "ranks, not pids: " << log;
  // SIGTERM to mpirun reaches every rank; rank 0's agent deregisters its slots by draining. mpirun
  // itself reports a signalled job with exit code 1, so that is what it returns.
  kill(workers_[0]->pid(), SIGTERM);
  EXPECT_GE(workers_[0]->Wait(60).exit_code, 0) << ReadFile(dir_ / "mpi-worker.log");
  workers_.clear();
}

// `mpirun ... orchard-worker --mpi --sweep recipe.yaml`: the coordinator on rank 0, the whole sweep
// inside the allocation; its SQLite database and checkpoints stay behind.
TEST(MpiSweep, AWholeSweepRunsInsideOneMpirun) {
  TempDir dir;
  const ProcessResult run = RunProcess({ORCHARD_MPIEXEC, "--oversubscribe", "--allow-run-as-root", "-np", "3",
                                        kBin + "/orchard-worker", "--mpi", "--sweep",
                                        std::string(ORCHARD_SOURCE_DIR) + "/recipes/digits-dp.yaml", "--state-dir",
                                        dir / "state", "--set", "train.epochs=1"}, 300);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("trials 2/2 ended:  running 0  completed 2"), std::string::npos) << run.output;
  EXPECT_TRUE(fs::exists(dir / "state/orchard.db"));
  int second_rank_files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir / "state/storage"))
    second_rank_files += entry.path().filename() == "rank-1.pt";
  EXPECT_EQ(second_rank_files, 2) << "each 2-rank trial's final checkpoint holds both ranks' state";
}

TEST(OrchardRun, QuickstartEndToEndWithNothingRunning) {
  TempDir dir;
  // The quickstart as shipped, shortened so the suite stays quick: still 8 trials on a local worker.
  const ProcessResult run = RunProcess({kBin + "/orchard", "run", std::string(ORCHARD_SOURCE_DIR) + "/recipes/quickstart.yaml",
                                        "--state-dir", dir / "state", "--set", "train.steps=200", "--set",
                                        "sweep.max_trials=8"}, 600);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("best trial of sweep 1 (quickstart)"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("checkpoint: " + (dir / "state") + "/storage/quickstart-1/"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("trials 8/8 ended:  running 0  completed 8"), std::string::npos) << run.output;
  EXPECT_TRUE(fs::exists(dir / "state/orchard.db"));
}

TEST(OrchardRun, TheShippedSweepsRun) {
  for (const auto& [recipe, overrides] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"digits", {"train.epochs=1", "sweep.max_trials=2"}},
           {"tiny-lm", {"train.steps=20", "sweep.max_trials=2"}},
           {"digits-asha", {"train.epochs=1", "sweep.max_trials=2"}},
           {"lm-pbt", {"train.steps=20", "train.eval_interval=10", "checkpoint.interval=10", "sweep.pbt.interval=10",
                       "sweep.max_trials=2"}}}) {
    TempDir dir;
    std::vector<std::string> args = {kBin + "/orchard", "run", std::string(ORCHARD_SOURCE_DIR) + "/recipes/" + recipe + ".yaml",
                                     "--state-dir", dir / "state"};
    for (const std::string& o : overrides) args.insert(args.end(), {"--set", o});
    const ProcessResult run = RunProcess(args, 600);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find("trials 2/2 ended:  running 0  completed 2"), std::string::npos) << run.output;
  }
}

TEST(OrchardRun, ABadRecipeRunsNothing) {
  TempDir dir;
  WriteFile(dir / "bad.yaml", "name: bad\nmodel: {type: mlpp}\ndata: {type: synthetic}\ntrain: {steps: 10}\n");
  const ProcessResult run = RunProcess({kBin + "/orchard", "run", dir / "bad.yaml", "--state-dir", dir / "state"}, 60);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.output.find("bad.yaml:2:"), std::string::npos) << run.output;
  EXPECT_FALSE(fs::exists(dir / "state"));
}

}  // namespace
}  // namespace orchard::integration
