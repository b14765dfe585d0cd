// Sweeps end to end, all real on loopback: an orchard-coordinator process, two orchard-worker
// processes, orchard-train trainers, and the orchard CLI; checked through the gRPC API.
#include "tests/integration/sweep_fixture.h"

#include <grpcpp/generic/generic_stub.h>
#include <signal.h>

#include <regex>

namespace orchard::integration {
namespace {

TEST_F(SweepTest, TwoWorkersCompleteASweepWithEveryMetricStoredAndTheRightBest) {
  const int64_t id = Submit(Recipe(200, "[0.3, 0.03, 0.003, 0.0003]", 100));
  ASSERT_GT(id, 0);
  const ProcessResult watched = Cli({"watch", std::to_string(id)});
  EXPECT_EQ(watched.exit_code, 0) << watched.output;
  EXPECT_NE(watched.output.find("best trial of sweep"), std::string::npos) << watched.output;

  const v1::Sweep sweep = GetSweep(id);
  EXPECT_EQ(sweep.state(), v1::SWEEP_COMPLETED);
  const auto trials = Trials(id);
  ASSERT_EQ(trials.size(), 4u);
  std::set<std::string> workers;
  double best_final = 1e300;
  int64_t best_id = 0;
  for (const v1::Trial& trial : trials) {
    EXPECT_EQ(trial.state(), v1::TRIAL_COMPLETED) << trial.message();
    workers.insert(trial.worker_id());
    // Every evaluation the trainer logged reached the store, ending with the final one.
    const auto val_loss = Metrics(trial.id(), "val_loss");
    ASSERT_EQ(val_loss.size(), 10u) << "trial " << trial.number();
    EXPECT_EQ(val_loss.back().step(), 200);
    EXPECT_FALSE(Metrics(trial.id(), "train_loss").empty());
    EXPECT_DOUBLE_EQ(trial.objective(), val_loss.back().value());
    if (val_loss.back().value() < best_final) best_final = val_loss.back().value(), best_id = trial.id();
    EXPECT_TRUE(fs::exists(fs::path(sweep.storage_root()) / trial.checkpoint() / "MANIFEST")) << trial.checkpoint();
  }
  EXPECT_EQ(workers.size(), 2u) << "both workers should have run trials";

  const ProcessResult best = Cli({"--json", "best", std::to_string(id)});
  ASSERT_EQ(best.exit_code, 0) << best.output;
  const auto best_json = nlohmann::json::parse(best.output);
  EXPECT_EQ(std::stoll(best_json["id"].get<std::string>()), best_id);
  EXPECT_DOUBLE_EQ(best_json["objective"].get<double>(), best_final);

  const ProcessResult logs = Cli({"logs", std::to_string(best_id)});
  EXPECT_EQ(logs.exit_code, 0);
  EXPECT_NE(logs.output.find("done: 200 steps"), std::string::npos) << logs.output;
  const ProcessResult csv = Cli({"export", std::to_string(id), "--format", "csv"});
  EXPECT_EQ(std::count(csv.output.begin(), csv.output.end(), '\n'), 5) << csv.output;
}

TEST_F(SweepTest, CancelStopsRunningTrialsWhichCheckpointAndTheStoreStaysConsistent) {
  const int64_t id = Submit(Recipe(1000000, "[0.01, 0.001, 0.0001]", 50));
  ASSERT_GT(id, 0);
  // Both workers busy, and each trial has checkpointed at least once.
  ASSERT_TRUE(WaitFor([&] {
    int ready = 0;
    for (const v1::Trial& t : Trials(id)) ready += t.state() == v1::TRIAL_RUNNING && !t.checkpoint().empty();
    return ready == 2;
  }, 120));
  const ProcessResult canceled = Cli({"cancel", std::to_string(id)});
  EXPECT_EQ(canceled.exit_code, 0) << canceled.output;
  ASSERT_TRUE(WaitFor([&] { return GetSweep(id).trials_by_state().count("running") == 0; }, 60));

  const v1::Sweep sweep = GetSweep(id);
  EXPECT_EQ(sweep.state(), v1::SWEEP_CANCELED);
  EXPECT_EQ(sweep.trials_by_state().at("canceled"), 3);
  for (const v1::Trial& trial : Trials(id)) {
    EXPECT_EQ(trial.state(), v1::TRIAL_CANCELED);
    if (trial.attempts() == 0) continue;  // the pending one never started
    EXPECT_EQ(trial.exit_code(), 4) << "a stopped trainer checkpoints and exits 4";
    EXPECT_TRUE(fs::exists(fs::path(sweep.storage_root()) / trial.checkpoint() / "MANIFEST"));
  }
  const v1::ListWorkersResponse workers = Workers();
  for (const v1::Worker& worker : workers.workers()) {
    EXPECT_TRUE(worker.alive());
    EXPECT_EQ(worker.running_attempts(), 0);
  }
}

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
  // The worker serves again: declared lost, it registers anew; or a heartbeat it sent during the
  // freeze reached the thawed coordinator before its lease check, and it was never declared lost.
  ASSERT_TRUE(WaitFor([&] {
    if (ReadFile(log_file).find("registering again") != std::string::npos) return true;
    const auto workers = Workers().workers();
    return std::all_of(workers.begin(), workers.end(), [](const v1::Worker& w) { return w.alive(); });
  }, 30)) << ReadFile(log_file);
  EXPECT_EQ(Cli({"cancel", std::to_string(id)}).exit_code, 0);
}

TEST_F(SweepTest, AnAshaSweepCompletesAndStopsTheTrialsThatFallBehindEarly) {
  const int64_t id = Submit(
      "name: asha\n"
      "model: {type: mlp, hidden: [256, 256]}\n"
      "data: {type: synthetic, samples: 4096, features: 64, classes: 3}\n"
      "train: {steps: 3000, batch_size: 64, eval_interval: 100, threads: 1}\n"
      "sweep:\n"
      "  strategy: asha\n"
      "  metric: val_loss\n"
      "  max_trials: 6\n"
      "  seed: 3\n"
      "  early_stopping: {min_steps: 100, reduction_factor: 2}\n"
      "  parameters:\n"
      "    optimizer.lr: {distribution: log_uniform, min: 1.0e-5, max: 0.1}\n");
  ASSERT_GT(id, 0);
  const ProcessResult watched = Cli({"watch", std::to_string(id)});
  EXPECT_EQ(watched.exit_code, 0) << watched.output;
  EXPECT_EQ(GetSweep(id).state(), v1::SWEEP_COMPLETED);
  int stopped = 0, completed = 0;
  for (const v1::Trial& trial : Trials(id)) {
    if (trial.state() == v1::TRIAL_STOPPED) {
      ++stopped;
      EXPECT_LT(trial.last_step(), 3000) << "stopped early";
    }
    completed += trial.state() == v1::TRIAL_COMPLETED;
  }
  EXPECT_GE(stopped, 1);
  EXPECT_GE(completed, 1);
  EXPECT_EQ(stopped + completed, 6);
  EXPECT_EQ(Cli({"best", std::to_string(id)}).exit_code, 0);
}

// Four slots, so that a whole population (or a whole bracket's rung) trains at once.
class AdaptiveSweepTest : public SweepTest {
 protected:
  AdaptiveSweepTest() { worker_slots_ = {2, 2}; }
};

TEST_F(AdaptiveSweepTest, AHyperbandSweepPausesTrialsAtRungsAndResumesThePromotedFromTheirCheckpoints) {
  const int64_t id = Submit(
      "name: hyperband\n"
      "model: {type: mlp, hidden: [256, 256]}\n"
      "data: {type: synthetic, samples: 4096, features: 64, classes: 3}\n"
      "train: {steps: 2700, batch_size: 64, eval_interval: 300, threads: 1}\n"
      "sweep:\n"
      "  strategy: hyperband\n"
      "  metric: val_loss\n"
      "  seed: 5\n"
      "  early_stopping: {min_steps: 300, reduction_factor: 3}\n"
      "  parameters:\n"
      "    optimizer.lr: {distribution: log_uniform, min: 1.0e-5, max: 0.1}\n");
  ASSERT_GT(id, 0);
  const ProcessResult watched = Cli({"watch", std::to_string(id)});
  EXPECT_EQ(watched.exit_code, 0) << watched.output;
  EXPECT_NE(watched.output.find("paused"), std::string::npos) << watched.output;
  EXPECT_EQ(GetSweep(id).state(), v1::SWEEP_COMPLETED);
  // R = 9: brackets of 9, 5 and 3 trials; bracket 0 keeps 3 of 9 at step 300, 1 of 3 at step 900;
  // bracket 1 keeps 1 of 5 at step 900; bracket 2 runs its 3 to the end.
  const auto trials = Trials(id);
  ASSERT_EQ(trials.size(), 17u);
  int completed = 0, resumed = 0;
  for (const v1::Trial& trial : trials) {
    ASSERT_TRUE(trial.state() == v1::TRIAL_COMPLETED || trial.state() == v1::TRIAL_STOPPED)
        << "trial " << trial.number() << ": " << trial.message();
    if (trial.state() == v1::TRIAL_STOPPED) {
      EXPECT_LT(trial.last_step(), 2700) << "trial " << trial.number();
      continue;
    }
    ++completed;
    EXPECT_EQ(trial.last_step(), 2700);
    if (trial.attempts() > 1) {
      ++resumed;
      // The resumed attempt went on from the paused one's checkpoint instead of starting again.
      const std::string log = Cli({"logs", std::to_string(trial.id())}).output;
      EXPECT_NE(log.find("resumed from"), std::string::npos) << log;
    }
  }
  EXPECT_EQ(completed, 5);
  // The survivors of brackets 0 and 1 are paused at their rungs and resumed, except at a rung they
  // reach last: the rung is complete then and they are promoted at once, with no pause (under load
  // the order of arrival varies; CI once saw only one survivor resumed).
  EXPECT_GE(resumed, 1) << "the last survivors of brackets 0 and 1";
  const std::string table = Cli({"trials", std::to_string(id)}).output;
  EXPECT_NE(table.find("RUNG"), std::string::npos) << table;
  EXPECT_NE(table.find("DECISION"), std::string::npos) << table;
}

TEST_F(AdaptiveSweepTest, APbtSweepCopiesCheckpointsBetweenMembersAndRecordsTheirLineage) {
  const int64_t id = Submit(
      "name: pbt\n"
      "model: {type: mlp, hidden: [256, 256]}\n"
      "data: {type: synthetic, samples: 4096, features: 64, classes: 3}\n"
      "train: {steps: 3000, batch_size: 64, eval_interval: 300, threads: 1}\n"
      "checkpoint: {interval: 300}\n"
      "sweep:\n"
      "  strategy: pbt\n"
      "  metric: val_loss\n"
      "  max_trials: 4\n"
      "  seed: 2\n"
      "  pbt: {interval: 300, quantile: 0.25, resample_probability: 0}\n"
      "  parameters:\n"
      "    optimizer.lr: {distribution: log_uniform, min: 1.0e-6, max: 0.1}\n");
  ASSERT_GT(id, 0);
  const ProcessResult watched = Cli({"watch", std::to_string(id)});
  EXPECT_EQ(watched.exit_code, 0) << watched.output;
  EXPECT_EQ(GetSweep(id).state(), v1::SWEEP_COMPLETED);
  int exploited = 0;
  for (const v1::Trial& trial : Trials(id)) {
    EXPECT_EQ(trial.state(), v1::TRIAL_COMPLETED) << "trial " << trial.number() << ": " << trial.message();
    EXPECT_EQ(trial.last_step(), 3000);
    if (trial.lineage_size() == 0) continue;
    ++exploited;
    const v1::LineageHop& last = trial.lineage(trial.lineage_size() - 1);
    EXPECT_NE(last.parent(), trial.number());
    ASSERT_EQ(last.hyperparameters_size(), 1);
    EXPECT_EQ(last.hyperparameters(0).value(), trial.hyperparameters(0).value()) << "explored values are the ones it kept";
    // An attempt after the copy started from it, at the parent's step (a later pause may have been
    // resumed from the member's own checkpoint, when no parent qualified then).
    const std::string resumed = "checkpoints/step-" + std::to_string(last.step()) + " at step " + std::to_string(last.step());
    bool found = false;
    for (int64_t attempt = 2; attempt <= trial.attempts() && !found; ++attempt)
      found = Cli({"logs", std::to_string(trial.id()), "--attempt", std::to_string(attempt)}).output.find(resumed) !=
              std::string::npos;
    EXPECT_TRUE(found) << "no attempt of trial " << trial.number() << " says: resumed from ..." << resumed;
  }
  EXPECT_GE(exploited, 1) << Cli({"trials", std::to_string(id)}).output;
  const std::string table = Cli({"trials", std::to_string(id)}).output;
  EXPECT_NE(table.find("LINEAGE"), std::string::npos) << table;
}

TEST_F(SweepTest, CliErrorsAreClearWithExitCodesScriptsCanUse) {
  WriteFile(dir_ / "bad.yaml", "name: bad\nmodel: {type: mlp}\ndata: {type: synthetic}\ntrain: {stpes: 10}\n");
  const ProcessResult bad = Cli({"submit", dir_ / "bad.yaml"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("bad.yaml:4:"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("did you mean"), std::string::npos) << bad.output;
  const ProcessResult missing = Cli({"status", "999"});
  EXPECT_EQ(missing.exit_code, 4) << missing.output;
  EXPECT_NE(missing.output.find("sweep 999 does not exist"), std::string::npos) << missing.output;
  const ProcessResult unreachable = RunProcess({kBin + "/orchard", "--coordinator", "127.0.0.1:1", "sweeps"}, 60);
  EXPECT_EQ(unreachable.exit_code, 3) << unreachable.output;
  EXPECT_NE(unreachable.output.find("cannot reach a coordinator at 127.0.0.1:1"), std::string::npos);
}

// A generic client (as grpcurl is) lists the services through server reflection. The request is
// hand-encoded: ServerReflectionRequest{list_services: ""} is field 7, an empty string.
TEST_F(SweepTest, ServerReflectionListsTheServices) {
  grpc::GenericStub stub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call = stub.PrepareCall(&context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](intptr_t expected) {
    ASSERT_TRUE(queue.Next(&tag, &ok));
    ASSERT_EQ(reinterpret_cast<intptr_t>(tag), expected);
  };
  call->StartCall(reinterpret_cast<void*>(1));
  step(1);
  const char list_services[] = {0x3a, 0x00};
  grpc::Slice request(list_services, sizeof(list_services));
  grpc::ByteBuffer request_buffer(&request, 1);
  call->Write(request_buffer, reinterpret_cast<void*>(2));
  step(2);
  call->WritesDone(reinterpret_cast<void*>(3));
  step(3);
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(4));
  step(4);
  ASSERT_TRUE(ok) << "no reflection response";
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  for (const char* service : {"orchard.v1.SweepService", "orchard.v1.WorkerService", "orchard.v1.TrialService"})
    EXPECT_NE(bytes.find(service), std::string::npos) << service;
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

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
