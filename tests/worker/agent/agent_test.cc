// The worker agent against a fake coordinator (a CoordinatorLink) and a fake launcher whose
// "trainers" end when the test says so, or on SIGTERM as orchard-train does (preempted):
// registration, launches, stopping and fencing. Its reports (exits, metrics, checkpoints) are
// tested in agent_reports_test.cc.
#include "worker/agent/agent.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <climits>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/trainer_exit_codes.h"
#include "tests/util/test_util.h"
#include "tests/worker/agent/agent_fixture.h"

namespace orchard::worker {
namespace {

TEST_F(AgentTest, RegistersItsSlotsHeartbeatsAndDeregistersOnStop) {
  AgentOptions options = Options();
  options.slots = Slots{3, "gpu", {}};
  Start(std::move(options));
  ASSERT_TRUE(WaitFor([&] { return coordinator_.heartbeats().size() >= 2; }, 5));
  EXPECT_TRUE(Stop().ok());

  const auto registrations = coordinator_.registrations();
  ASSERT_EQ(registrations.size(), 1u);
  EXPECT_EQ(registrations[0].hostname(), "node-1");
  EXPECT_EQ(registrations[0].slots(), 3);
  EXPECT_EQ(registrations[0].slot_kind(), "gpu");
  EXPECT_EQ(coordinator_.heartbeats()[0].worker_id(), "worker-1");
  EXPECT_EQ(coordinator_.leases().at(0).free_slots(), 3);
  const auto deregistrations = coordinator_.deregistrations();
  ASSERT_EQ(deregistrations.size(), 1u);
  EXPECT_EQ(deregistrations[0].worker_id(), "worker-1");
  EXPECT_EQ(coordinator_.calls().back(), "DeregisterWorker");
}

// LibTorch loads in the warm trainer while the worker registers (here: retries its registration),
// not when the first lease arrives.
TEST_F(AgentTest, ItsTrainerIsWarmedBeforeItRegisters) {
  coordinator_.FailNext("RegisterWorker", Unavailable("not yet"), 3);
  Start();
  ASSERT_TRUE(WaitFor([&] { return !coordinator_.registrations().empty(); }, 5));
  EXPECT_EQ(launcher_->prewarms(), 1);
  EXPECT_TRUE(launcher_->launches().empty());
  ASSERT_TRUE(WaitFor([&] { return coordinator_.registrations().size() >= 4; }, 10));
  EXPECT_TRUE(Stop().ok());
  EXPECT_EQ(launcher_->prewarms(), 1);
}

// orchard run wakes its worker when it submits and when it stops, so that neither waits out a poll.
TEST_F(AgentTest, WakeLeasesAtOnceAndLetsAStopBeSeenAtOnce) {
  AgentOptions options = Options();
  options.poll_seconds = 3600;
  Start(std::move(options));
  ASSERT_TRUE(WaitFor([&] { return coordinator_.leases().size() == 1; }, 5));
  coordinator_.Offer(MakeAttempt(7));
  agent_->Wake();
  EXPECT_TRUE(WaitFor([&] { return launcher_->launches().size() == 1; }, 10));
  EXPECT_EQ(coordinator_.leases().size(), 2u);

  const auto stop_asked = std::chrono::steady_clock::now();
  EXPECT_TRUE(Stop().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - stop_asked, std::chrono::seconds(10));
  EXPECT_EQ(coordinator_.calls().back(), "DeregisterWorker");
}

TEST_F(AgentTest, LaunchesALeasedAttemptWithItsArgumentsAndReportsItRunning) {
  Start();
  LaunchAttempt(7);
  const LaunchRequest launch = launcher_->launches().at(0);
  const std::string dir = AttemptDir();
  EXPECT_EQ(launch.args, (std::vector<std::string>{dir + "/recipe.yaml", "--recipe-origin", "sweeps/tiny.yaml", "--out",
                                                   dir, "--set", "optimizer.lr=0.1",
                                                   "--set", "train.threads=3",  // a CPU slot's share of the cores
                                                   "--resume", "--epoch", "2", "--summary", dir + "/result.json"}));
  EXPECT_EQ(launch.log_path, dir + "/attempt-7.log");
  EXPECT_EQ(launch.ranks, 1);
  EXPECT_TRUE(launch.env.empty());  // CUDA_VISIBLE_DEVICES only on GPU slots
  EXPECT_EQ(orchard::testing::ReadFile(dir + "/recipe.yaml"), kRecipe);

  const size_t beats = coordinator_.heartbeats().size();
  EXPECT_TRUE(WaitFor([&] { return ReportedRunning(7, beats); }, 5));
  EXPECT_TRUE(WaitFor([&] { return coordinator_.leases().back().free_slots() == 1; }, 5));
  EXPECT_TRUE(Stop().ok());
}

// On a worker whose GPUs' memory is known the coordinator names the GPU and the share: the trainer
// runs on that GPU with its allocator capped at the share, and the next lease reports what is left.
TEST_F(AgentTest, ATrialThatSharesAGpuRunsCappedThereAndTheRoomLeftIsReported) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  AgentOptions options = Options();
  options.slots = Slots{2, "gpu", {16 * kGiB, 16 * kGiB}};
  Start(std::move(options));
  ASSERT_TRUE(WaitFor([&] { return !coordinator_.leases().empty(); }, 5));
  const v1::LeaseAttemptsRequest first = coordinator_.leases().at(0);
  ASSERT_EQ(first.gpus_size(), 2);
  EXPECT_TRUE(first.gpus(1).idle());
  EXPECT_EQ(first.gpus(1).free_bytes(), 16 * kGiB);
  EXPECT_EQ(coordinator_.registrations().at(0).gpu_memory_bytes(1), 16 * kGiB);

  v1::Attempt attempt = MakeAttempt(7);
  attempt.add_gpus(1);
  attempt.set_gpu_share_bytes(4 * kGiB);
  coordinator_.Offer(attempt);
  ASSERT_TRUE(WaitFor([&] { return !launcher_->launches().empty(); }, 5));
  const LaunchRequest launch = launcher_->launches().at(0);
  const auto flag = std::find(launch.args.begin(), launch.args.end(), "--gpu-memory-fraction");
  ASSERT_NE(flag, launch.args.end());
  EXPECT_EQ(*(flag + 1), "0.21875") << "4 GiB of 16, less the CUDA context's 0.5 GiB";
  EXPECT_EQ(launch.env.at("CUDA_VISIBLE_DEVICES"), "1");
  EXPECT_NE(std::find_if(launch.args.begin(), launch.args.end(), [](const std::string& a) { return a.rfind("train.threads=", 0) == 0; }),
            launch.args.end());

  // GPU 1 is shared now: not a free slot, with 12 GiB of room; GPU 0 is still idle.
  ASSERT_TRUE(WaitFor([&] {
    const v1::LeaseAttemptsRequest last = coordinator_.leases().back();
    return last.gpus_size() == 2 && !last.gpus(1).idle();
  }, 5));
  const v1::LeaseAttemptsRequest later = coordinator_.leases().back();
  EXPECT_EQ(later.free_slots(), 1);
  EXPECT_EQ(later.gpus(1).free_bytes(), 12 * kGiB);
  EXPECT_TRUE(later.gpus(0).idle());
  EXPECT_TRUE(Stop().ok());
}

// The points of the report calls `coordinator` took (not those it failed), by attempt.
std::map<int64_t, int> TakenPointsByAttempt(const FakeCoordinator& coordinator) {
  std::map<int64_t, int> points;
  for (const auto& call : coordinator.taken_batches())
    for (const auto& report : call.reports()) points[report.attempt_id()] += report.points_size();
  return points;
}

// A fused group of attempts 7 (its first member, holding its slot) and 8, offered in one lease.
std::vector<v1::Attempt> FusedGroup(const std::vector<int64_t>& ids = {7, 8}) {
  std::vector<v1::Attempt> group;
  for (int64_t id : ids) {
    v1::Attempt member = MakeAttempt(id);
    member.set_trial_id(id);
    member.set_output_dir("sweep-1/trial-" + std::to_string(id));
    member.set_log_path("sweep-1/trial-" + std::to_string(id) + "/attempt-1.log");
    member.set_number(1);
    member.set_resume(false);
    member.set_slots(id == ids.front() ? 1 : 0);
    member.set_fused_group(ids.front());
    group.push_back(member);
  }
  return group;
}

// A fused group (docs/fusion.md): one trainer for its members on its first member's slot; a member
// the coordinator stops does not signal the trainer while another goes on; a member that ends while
// another goes on is reported as its own summary says, at once; the last waits for the trainer's exit.
TEST_F(AgentTest, AFusedGroupSharesOneTrainerAndEachMemberEndsAsItsSummarySays) {
  Start();
  coordinator_.Offer(FusedGroup());
  ASSERT_TRUE(WaitFor([&] { return launcher_->launches().size() == 1; }, 5));
  const std::string dir7 = (storage_.path() / "sweep-1/trial-7").string();
  const std::string dir8 = (storage_.path() / "sweep-1/trial-8").string();
  const LaunchRequest launch = launcher_->launches().at(0);
  EXPECT_EQ(launch.args, (std::vector<std::string>{dir7 + "/recipe.yaml", "--recipe-origin", "sweeps/tiny.yaml", "--members",
                                                   dir7 + "/fused-members.json", "--set", "train.threads=3"}));
  EXPECT_EQ(launch.log_path, dir7 + "/attempt-1.log");
  const auto members = nlohmann::json::parse(orchard::testing::ReadFile(dir7 + "/fused-members.json"));
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[1]["out"], dir8);
  EXPECT_EQ(members[1]["set"], nlohmann::json::array({"optimizer.lr=0.1"}));
  EXPECT_EQ(members[1]["epoch"], 1);
  EXPECT_EQ(members[1]["summary"], dir8 + "/result.json");
  EXPECT_EQ(members[1]["decisions"], dir8 + "/decision.json") << "every member hears decisions through its file";
  // The group holds one slot of the two.
  EXPECT_TRUE(WaitFor([&] { return coordinator_.leases().back().free_slots() == 1; }, 5));

  coordinator_.AskToStop(8);
  const size_t beats = coordinator_.heartbeats().size();
  ASSERT_TRUE(WaitFor([&] { return coordinator_.heartbeats().size() > beats + 2; }, 5));
  EXPECT_TRUE(launcher_->signals().empty()) << "member 7 still trains in that trainer";

  orchard::testing::WriteFile(dir8 + "/result.json",
                              R"({"outcome": "preempted", "message": "the sweep's strategy stopped it at step 20"})");
  ASSERT_TRUE(WaitFor([&] { return coordinator_.exits().size() == 1; }, 5));
  EXPECT_EQ(coordinator_.exits()[0].attempt_id(), 8);
  // Member 7's summary: it is the trainer's last member, so it waits for the exit, holding the slot.
  orchard::testing::WriteFile(dir7 + "/result.json", R"({"outcome": "completed", "message": ""})");
  const size_t leases = coordinator_.leases().size();
  ASSERT_TRUE(WaitFor([&] { return coordinator_.leases().size() > leases + 2; }, 5));
  EXPECT_EQ(coordinator_.leases().back().free_slots(), 1);
  EXPECT_EQ(coordinator_.exits().size(), 1u);
  launcher_->End(101, 0, 0);
  ASSERT_TRUE(WaitFor([&] { return coordinator_.exits().size() == 2; }, 5));
  std::map<int64_t, v1::ReportAttemptExitRequest> exits;
  for (const auto& exit : coordinator_.exits()) exits[exit.attempt_id()] = exit;
  EXPECT_EQ(exits.at(7).exit_code(), 0);
  EXPECT_EQ(exits.at(7).reason(), "completed");
  EXPECT_EQ(exits.at(8).exit_code(), train::kExitPreempted);
  EXPECT_EQ(exits.at(8).reason(), "the sweep's strategy stopped it at step 20");
  EXPECT_TRUE(Stop().ok());
}

// The members of a group that end together are reported together, so that the coordinator commits
// them at once rather than one durable commit after another.
TEST_F(AgentTest, MembersThatEndTogetherAreReportedTogether) {
  Start();
  coordinator_.HoldExits(std::chrono::milliseconds(200));
  coordinator_.Offer(FusedGroup({7, 8, 9}));
  ASSERT_TRUE(WaitFor([&] { return launcher_->launches().size() == 1; }, 5));
  launcher_->End(101, 0, 0);  // all three end with their trainer
  ASSERT_TRUE(WaitFor([&] { return coordinator_.exits().size() == 3; }, 5));
  EXPECT_EQ(coordinator_.max_exits_in_flight(), 3);
  EXPECT_TRUE(Stop().ok());
}

// A worker relays its attempts' records in one call (ReportMetricsBatch), each attempt's its own
// report; a report the coordinator could not take is sent again alone, the ones it took are not.
TEST_F(AgentTest, AllAttemptsRecordsGoInOneCallAndOnlyAReportNotTakenIsSentAgain) {
  Start();
  coordinator_.FailNext("ReportMetricsBatch", Unavailable("connection refused"), INT_MAX);  // until both have records
  coordinator_.Offer(FusedGroup());
  ASSERT_TRUE(WaitFor([&] { return launcher_->launches().size() == 1; }, 5));
  orchard::testing::WriteFile((storage_.path() / "sweep-1/trial-7/metrics.jsonl").string(),
                              R"({"step": 1, "name": "loss", "value": 0.5})" "\n");
  orchard::testing::WriteFile((storage_.path() / "sweep-1/trial-8/metrics.jsonl").string(),
                              R"({"step": 1, "name": "loss", "value": 0.25})" "\n");
  const auto ids = [](const v1::ReportMetricsBatchRequest& call) {
    std::vector<int64_t> attempts;
    for (const auto& report : call.reports()) attempts.push_back(report.attempt_id());
    return attempts;
  };
  ASSERT_TRUE(WaitFor([&] {
    const auto calls = coordinator_.batches();
    return !calls.empty() && ids(calls.back()) == std::vector<int64_t>{7, 8};
  }, 5));
  // From here on (a relay before trial-8's file was written may have carried 7's alone): the last
  // failed call holds both, as every call after it until one is taken.
  const size_t both = coordinator_.batches().size() - 1;
  coordinator_.FailNext("ReportMetrics", Unavailable("the store is busy"), 1);  // the next call's first report
  coordinator_.FailNext("ReportMetricsBatch", OkStatus(), 0);
  const auto alone_after = [&](const std::vector<v1::ReportMetricsBatchRequest>& calls) {
    return std::find_if(calls.begin() + static_cast<std::ptrdiff_t>(both), calls.end(),
                        [&](const auto& call) { return ids(call) == std::vector<int64_t>{7}; });
  };
  ASSERT_TRUE(WaitFor([&] {
    const auto calls = coordinator_.batches();
    return alone_after(calls) != calls.end();
  }, 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // more relay periods: nothing more is sent
  const auto calls = coordinator_.batches();
  const auto alone = alone_after(calls);
  ASSERT_NE(alone, calls.begin() + static_cast<std::ptrdiff_t>(both));
  EXPECT_EQ(ids(*std::prev(alone)), (std::vector<int64_t>{7, 8})) << "both went in one call, and 8's was taken";
  EXPECT_EQ(std::next(alone), calls.end()) << "7's, taken at the second try, is not sent again";
  EXPECT_EQ(alone->reports(0).points(0).value(), 0.5);
  launcher_->End(101, 0, 0);
  EXPECT_TRUE(Stop().ok());
}

// Ended attempts' exits wait only for their own records: one whose last report the coordinator could
// not take does not hold back the other's exit.
TEST_F(AgentTest, AnEndedAttemptsUnsentRecordsHoldBackOnlyItsOwnExit) {
  Start();
  coordinator_.FailNext("ReportMetricsBatch", Unavailable("connection refused"), INT_MAX);
  coordinator_.Offer(FusedGroup());
  ASSERT_TRUE(WaitFor([&] { return launcher_->launches().size() == 1; }, 5));
  for (const char* trial : {"trial-7", "trial-8"})
    orchard::testing::WriteFile((storage_.path() / "sweep-1" / trial / "metrics.jsonl").string(),
                                R"({"step": 1, "name": "loss", "value": 0.5})" "\n");
  launcher_->End(101, 0, 0);  // both end with their records unsent
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(coordinator_.exits().empty()) << "no exit goes before its attempt's records";
  coordinator_.FailNext("ReportMetrics", Unavailable("the store is busy"), 1);  // 7's, first in the next call
  coordinator_.FailNext("ReportMetricsBatch", OkStatus(), 0);
  ASSERT_TRUE(WaitFor([&] { return coordinator_.exits().size() == 2; }, 5));
  const auto exits = coordinator_.exits();
  EXPECT_EQ(exits[0].attempt_id(), 8) << "8's records were taken at once, so its exit went first";
  EXPECT_EQ(exits[1].attempt_id(), 7);
  EXPECT_TRUE(Stop().ok());
}

// A backlog (the coordinator was out of reach while trainers logged) goes in calls of at most 4 MiB
// and one more report, far below the coordinator's 8 MiB message limit, each record once.
TEST_F(AgentTest, ABacklogGoesInCallsTheCoordinatorCanTake) {
  Start();
  coordinator_.FailNext("ReportMetricsBatch", Unavailable("connection refused"), INT_MAX);
  coordinator_.Offer(FusedGroup({11, 12, 13, 14, 15, 16, 17}));
  ASSERT_TRUE(WaitFor([&] { return launcher_->launches().size() == 1; }, 5));
  constexpr int kPoints = 5000;  // one full report per member, each about 0.7 MB: 4.9 MB in all
  const std::string line = R"({"step": 1, "name": ")" + std::string(128, 'm') + R"(", "value": 0.5})" "\n";
  for (int64_t id = 11; id <= 17; ++id) {
    std::string lines;
    for (int i = 0; i < kPoints; ++i) lines += line;
    orchard::testing::WriteFile((storage_.path() / ("sweep-1/trial-" + std::to_string(id)) / "metrics.jsonl").string(), lines);
  }
  ASSERT_TRUE(WaitFor([&] {
    const auto calls = coordinator_.batches();
    return !calls.empty() && calls.back().reports_size() > 0 && calls.back().reports(calls.back().reports_size() - 1).points_size() == kPoints;
  }, 10));
  coordinator_.FailNext("ReportMetricsBatch", OkStatus(), 0);
  ASSERT_TRUE(WaitFor([&] { return TakenPointsByAttempt(coordinator_).size() == 7; }, 10));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto calls = coordinator_.taken_batches();
  EXPECT_GE(calls.size(), 2u) << "4.9 MB of records take two calls";
  for (const auto& call : calls) EXPECT_LT(call.ByteSizeLong(), size_t{5} << 20);
  for (const auto& [attempt, points] : TakenPointsByAttempt(coordinator_)) EXPECT_EQ(points, kPoints) << "attempt " << attempt;
  launcher_->End(101, 0, 0);
  EXPECT_TRUE(Stop().ok());
}

// 150 attempts with records at one relay: calls of at most 100 reports, each record taken once.
TEST_F(AgentTest, ManyAttemptsReportsGoInCallsOfAtMost100) {
  Start();
  coordinator_.FailNext("ReportMetricsBatch", Unavailable("connection refused"), INT_MAX);
  std::vector<int64_t> ids;
  for (int64_t id = 1001; id <= 1150; ++id) ids.push_back(id);
  coordinator_.Offer(FusedGroup(ids));
  ASSERT_TRUE(WaitFor([&] { return launcher_->launches().size() == 1; }, 5));
  for (int64_t id : ids) {
    orchard::testing::WriteFile((storage_.path() / ("sweep-1/trial-" + std::to_string(id)) / "metrics.jsonl").string(),
                                R"({"step": 1, "name": "train_loss", "value": 0.5})" "\n");
  }
  ASSERT_TRUE(WaitFor([&] {
    int64_t tried = 0;
    for (const auto& call : coordinator_.batches()) tried += call.reports_size();
    return tried >= 150;  // every record was read and tried at least once
  }, 10));
  coordinator_.FailNext("ReportMetricsBatch", OkStatus(), 0);
  ASSERT_TRUE(WaitFor([&] { return TakenPointsByAttempt(coordinator_).size() == ids.size(); }, 10));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto calls = coordinator_.taken_batches();
  EXPECT_GE(calls.size(), 2u);
  for (const auto& call : calls) EXPECT_LE(call.reports_size(), 100);
  for (const auto& [attempt, points] : TakenPointsByAttempt(coordinator_)) EXPECT_EQ(points, 1) << "attempt " << attempt;
  launcher_->End(101, 0, 0);
  EXPECT_TRUE(Stop().ok());
}

// The member that holds the group's slot ends first: the slot passes to the member still training.
TEST_F(AgentTest, WhenAFusedGroupsFirstMemberEndsFirstItsSlotStaysWithTheGroup) {
  Start();
  coordinator_.Offer(FusedGroup());
  ASSERT_TRUE(WaitFor([&] { return launcher_->launches().size() == 1; }, 5));
  orchard::testing::WriteFile((storage_.path() / "sweep-1/trial-7/result.json").string(),
                              R"({"outcome": "diverged", "message": "diverged at step 12: loss is nan"})");
  ASSERT_TRUE(WaitFor([&] { return coordinator_.exits().size() == 1; }, 5));
  EXPECT_EQ(coordinator_.exits()[0].attempt_id(), 7);
  EXPECT_EQ(coordinator_.exits()[0].exit_code(), train::kExitDiverged);
  const size_t leases = coordinator_.leases().size();
  ASSERT_TRUE(WaitFor([&] { return coordinator_.leases().size() > leases + 2; }, 5));
  EXPECT_EQ(coordinator_.leases().back().free_slots(), 1) << "member 8 holds the group's slot now";
  EXPECT_TRUE(Stop().ok());
}

TEST_F(AgentTest, AnInvalidRecipeIsReportedWithoutLaunching) {
  Start();
  v1::Attempt attempt = MakeAttempt(7);
  attempt.set_recipe_yaml("name: broken\n");
  coordinator_.Offer(attempt);
  ASSERT_TRUE(WaitFor([&] { return !coordinator_.exits().empty(); }, 5));
  EXPECT_TRUE(Stop().ok());
  EXPECT_TRUE(launcher_->launches().empty());
  const v1::ReportAttemptExitRequest exit = coordinator_.exits().at(0);
  EXPECT_EQ(exit.attempt_id(), 7);
  EXPECT_EQ(exit.exit_code(), train::kExitBadInput);
  EXPECT_EQ(exit.reason().rfind("invalid recipe: ", 0), 0u) << exit.reason();
}

TEST_F(AgentTest, StopStopsTheTrainersReportsTheirExitsThenDeregisters) {
  Start();
  const int first = LaunchAttempt(7);
  const int second = LaunchAttempt(8);
  EXPECT_TRUE(Stop().ok());

  EXPECT_TRUE(Contains(launcher_->signals(), first, SIGTERM));
  EXPECT_TRUE(Contains(launcher_->signals(), second, SIGTERM));
  EXPECT_FALSE(Contains(launcher_->signals(), first, SIGKILL));  // both exited within the drain
  const auto exits = coordinator_.exits();
  ASSERT_EQ(exits.size(), 2u);
  for (const auto& exit : exits) {
    EXPECT_EQ(exit.exit_code(), train::kExitPreempted);
    EXPECT_EQ(exit.reason(), "preempted: stopped with SIGTERM after writing a checkpoint");
  }
  const auto calls = coordinator_.calls();
  EXPECT_EQ(calls.back(), "DeregisterWorker");
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "DeregisterWorker"), 1);
}

TEST_F(AgentTest, StopsTheAttemptsAHeartbeatAsksFor) {
  Start();
  const int stopped = LaunchAttempt(7);
  const int kept = LaunchAttempt(8);
  coordinator_.AskToStop(7);
  ASSERT_TRUE(WaitFor([&] { return Contains(launcher_->signals(), stopped, SIGTERM); }, 5));
  ASSERT_TRUE(WaitFor([&] { return !coordinator_.exits().empty(); }, 5));
  EXPECT_EQ(coordinator_.exits()[0].attempt_id(), 7);
  EXPECT_FALSE(Contains(launcher_->signals(), kept, SIGTERM));
  EXPECT_TRUE(Stop().ok());
}

TEST_F(AgentTest, DeclaredLostStopsItsTrainersWithoutReportingThemAndRegistersAgain) {
  Start();
  const int pid = LaunchAttempt(7);
  coordinator_.FailNext("Heartbeat", NotFound("unknown worker"), 1);
  ASSERT_TRUE(WaitFor([&] { return coordinator_.registrations().size() == 2; }, 5));
  EXPECT_TRUE(Contains(launcher_->signals(), pid, SIGTERM));
  EXPECT_TRUE(Stop().ok());
  EXPECT_TRUE(coordinator_.exits().empty());  // the coordinator ended the attempt itself
}

TEST_F(AgentTest, ARevokedTokenStopsTheTrainersAndEndsRun) {
  Start();
  const int pid = LaunchAttempt(7);
  coordinator_.FailNext("Heartbeat", Unauthenticated("token revoked"), INT_MAX);
  thread_.join();  // Run returns without being asked to stop
  EXPECT_EQ(status_.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status_.message().find("token revoked"), std::string::npos) << status_.message();
  EXPECT_TRUE(Contains(launcher_->signals(), pid, SIGTERM));
  ASSERT_EQ(coordinator_.exits().size(), 1u);
  EXPECT_EQ(coordinator_.deregistrations().size(), 1u);
}

// A worker whose heartbeats go unanswered stops its trainers well before the coordinator would
// declare it lost (70% of the lease timeout), so a trial never runs twice.
TEST_F(AgentTest, ASilentCoordinatorFencesTheTrainers) {
  coordinator_.lease_timeout_seconds = 2;
  Start();
  const int pid = LaunchAttempt(7);
  coordinator_.FailNext("Heartbeat", Unavailable("connection refused"), INT_MAX);
  coordinator_.FailNext("LeaseAttempts", Unavailable("connection refused"), INT_MAX);
  const auto silent_since = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return Contains(launcher_->signals(), pid, SIGTERM); }, 5));
  const auto fenced_after = std::chrono::steady_clock::now() - silent_since;
  EXPECT_GT(fenced_after, std::chrono::milliseconds(1200));  // not at the first unanswered heartbeat
  EXPECT_LT(fenced_after, std::chrono::milliseconds(2000));  // before the lease timeout
  EXPECT_TRUE(Stop().ok());
}

TEST_F(AgentTest, RunReturnsUnavailableWhenTheCoordinatorStaysUnreachable) {
  coordinator_.FailNext("RegisterWorker", Unavailable("connection refused"), INT_MAX);
  AgentOptions options = Options();
  options.connect_timeout_seconds = 0.5;
  WorkerAgent agent(std::move(options), std::move(link_));
  const auto started = std::chrono::steady_clock::now();
  const Status status = agent.Run(stop_);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("fake:7070"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("connection refused"), std::string::npos) << status.message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  EXPECT_GE(coordinator_.registrations().size(), 2u);  // retried until the timeout
  EXPECT_TRUE(coordinator_.heartbeats().empty());
}

// The public constructor's gRPC link: a refused connection is no refusal of the coordinator's.
TEST_F(AgentTest, OverGrpcAClosedPortIsUnavailable) {
  AgentOptions options = Options();
  options.coordinator = "127.0.0.1:1";
  options.connect_timeout_seconds = 0.3;
  WorkerAgent agent(std::move(options));
  const Status status = agent.Run(stop_);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.message();
  EXPECT_NE(status.message().find("127.0.0.1:1"), std::string::npos) << status.message();
}

TEST_F(AgentTest, ARefusedRegistrationEndsRunAtOnce) {
  coordinator_.FailNext("RegisterWorker", PermissionDenied("not a worker token"), INT_MAX);
  WorkerAgent agent(Options(), std::move(link_));
  const Status status = agent.Run(stop_);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("not a worker token"), std::string::npos) << status.message();
  EXPECT_EQ(coordinator_.registrations().size(), 1u);
}

}  // namespace
}  // namespace orchard::worker
