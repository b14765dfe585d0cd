// The store survives a crash at any point: a real orchard-coordinator is killed with SIGKILL while
// clients write to it, many times over; after each kill the SQLite file passes its integrity check
// and holds every change the coordinator acknowledged. With many concurrent reporters the writes
// go through the group commit, so kills land while a batch is being gathered or committed.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sqlite3.h>

#include <atomic>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "orchard/v1/sweep_service.grpc.pb.h"
#include "orchard/v1/trial_service.grpc.pb.h"
#include "orchard/v1/worker_service.grpc.pb.h"
#include "tests/util/test_util.h"

namespace orchard {
namespace {

using testing::Process;
using testing::ReadFile;
using testing::TempDir;

const std::string kBin = ORCHARD_BIN_DIR;

constexpr const char* kRecipe =
    "name: crash\nmodel: {type: mlp}\ndata: {type: synthetic}\ntrain: {steps: 100000}\n";

// Reads the database the way a fresh coordinator would, with the coordinator dead.
class Database {
 public:
  explicit Database(const std::string& path) { sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr); }
  ~Database() { sqlite3_close(db_); }
  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> values;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) return {"prepare failed: " + sql};
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      values.push_back(text ? text : "");
    }
    sqlite3_finalize(stmt);
    return values;
  }

 private:
  sqlite3* db_ = nullptr;
};

// How many writes the coordinator's group commits held so far (its /metrics page).
struct WriteBatches {
  double writes = 0;
  double commits = 0;
};
WriteBatches ReadWriteBatches(const std::string& log) {
  std::smatch match;
  const std::string text = ReadFile(log);
  WriteBatches batches;
  if (!std::regex_search(text, match, std::regex("dashboard at http://127\\.0\\.0\\.1:([0-9]+)"))) return batches;
  httplib::Client client("127.0.0.1", std::stoi(match[1]));
  const auto page = client.Get("/metrics");
  if (!page || page->status != 200) return batches;
  std::smatch value;
  if (std::regex_search(page->body, value, std::regex("orchard_store_writes_per_commit_sum ([0-9.e+]+)")))
    batches.writes = std::stod(value[1]);
  if (std::regex_search(page->body, value, std::regex("orchard_store_writes_per_commit_count ([0-9.e+]+)")))
    batches.commits = std::stod(value[1]);
  return batches;
}

// Kills the coordinator `rounds` times while `reporters` threads report metrics and one submits
// sweeps; returns how many writes and group commits the coordinators counted before their kills.
WriteBatches CrashWhileWriting(int reporters, int rounds) {
  TempDir dir;
  std::mt19937 random(42);
  std::set<int64_t> acknowledged_sweeps;
  std::set<int64_t> acknowledged_steps;
  std::string worker_id;
  v1::Attempt attempt;
  int64_t next_step = 1;
  WriteBatches batches;
  for (int round = 0; round < rounds; ++round) {
    const std::string log = dir / ("coordinator-" + std::to_string(round) + ".log");
    Process coordinator({kBin + "/orchard-coordinator", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--state-dir", dir / "state"}, log);
    const std::string address = testing::WaitForListenAddress(log, 30);
    EXPECT_FALSE(address.empty()) << ReadFile(log);
    if (address.empty()) return batches;
    auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    auto sweeps = v1::SweepService::NewStub(channel);
    auto workers = v1::WorkerService::NewStub(channel);
    auto trials = v1::TrialService::NewStub(channel);
    if (round == 0) {  // one running attempt, whose metric reports are the stream of writes
      grpc::ClientContext register_context;
      v1::RegisterWorkerRequest registration;
      registration.set_hostname("crash-test");
      registration.set_slots(1);
      registration.set_slot_kind("cpu");
      v1::RegisterWorkerResponse registered;
      EXPECT_TRUE(workers->RegisterWorker(&register_context, registration, &registered).ok());
      worker_id = registered.worker_id();
      grpc::ClientContext submit_context;
      v1::SubmitSweepRequest submit;
      submit.set_recipe_yaml(kRecipe);
      v1::SubmitSweepResponse submitted;
      EXPECT_TRUE(sweeps->SubmitSweep(&submit_context, submit, &submitted).ok());
      acknowledged_sweeps.insert(submitted.sweep().id());
      grpc::ClientContext lease_context;
      v1::LeaseAttemptsRequest lease;
      lease.set_worker_id(worker_id);
      lease.set_free_slots(1);
      v1::LeaseAttemptsResponse leased;
      EXPECT_TRUE(workers->LeaseAttempts(&lease_context, lease, &leased).ok());
      EXPECT_EQ(leased.attempts_size(), 1);
      if (leased.attempts_size() != 1) return batches;
      attempt = leased.attempts(0);
    }

    // The writers remember only what the coordinator acknowledged, until the kill.
    std::atomic<bool> killed{false};
    std::mutex mu;
    std::vector<std::thread> writers;
    for (int r = 0; r < reporters; ++r) writers.emplace_back([&] {
      while (!killed.load()) {
        v1::ReportMetricsRequest request;
        request.set_attempt_id(attempt.attempt_id());
        request.set_token(attempt.token());
        int64_t step;
        {
          std::lock_guard<std::mutex> lock(mu);
          step = next_step++;
        }
        auto* point = request.add_points();
        point->set_step(step);
        point->set_name("train_loss");
        point->set_value(1.0 / static_cast<double>(step));
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
        v1::ReportMetricsResponse response;
        if (trials->ReportMetrics(&context, request, &response).ok()) {
          std::lock_guard<std::mutex> lock(mu);
          acknowledged_steps.insert(step);
        }
      }
    });
    writers.emplace_back([&] {
      while (!killed.load()) {
        v1::SubmitSweepRequest request;
        request.set_recipe_yaml(kRecipe);
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
        v1::SubmitSweepResponse response;
        if (sweeps->SubmitSweep(&context, request, &response).ok()) {
          std::lock_guard<std::mutex> lock(mu);
          acknowledged_sweeps.insert(response.sweep().id());
        }
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 400)(random)));
    const WriteBatches before_kill = ReadWriteBatches(log);
    batches.writes += before_kill.writes;
    batches.commits += before_kill.commits;
    kill(coordinator.pid(), SIGKILL);
    (void)coordinator.Wait(10);
    killed.store(true);
    for (std::thread& writer : writers) writer.join();

    Database db(dir / "state/orchard.db");
    EXPECT_EQ(db.Column("PRAGMA integrity_check"), std::vector<std::string>{"ok"}) << "round " << round;
    std::set<int64_t> stored_steps, stored_sweeps;
    for (const std::string& step : db.Column("SELECT step FROM metrics")) stored_steps.insert(std::stoll(step));
    for (const std::string& id : db.Column("SELECT id FROM sweeps")) stored_sweeps.insert(std::stoll(id));
    std::vector<int64_t> missing_steps, missing_sweeps;
    std::set_difference(acknowledged_steps.begin(), acknowledged_steps.end(), stored_steps.begin(), stored_steps.end(),
                        std::back_inserter(missing_steps));
    std::set_difference(acknowledged_sweeps.begin(), acknowledged_sweeps.end(), stored_sweeps.begin(),
                        stored_sweeps.end(), std::back_inserter(missing_sweeps));
    EXPECT_TRUE(missing_steps.empty()) << "round " << round << ": " << missing_steps.size()
                                       << " acknowledged metric points lost, first step " << missing_steps.front();
    EXPECT_TRUE(missing_sweeps.empty()) << "round " << round << ": acknowledged sweep " << missing_sweeps.front()
                                        << " lost";
    if (!missing_steps.empty() || !missing_sweeps.empty()) return batches;
  }
  // Both kinds of writer made progress in the rounds, so there was something to lose.
  EXPECT_GT(acknowledged_steps.size(), static_cast<size_t>(rounds * 5));
  EXPECT_GT(acknowledged_sweeps.size(), static_cast<size_t>(rounds));
  std::cout << "crash test, " << reporters << " reporters: " << rounds << " kills, " << acknowledged_steps.size()
            << " acknowledged metric points and " << acknowledged_sweeps.size()
            << " acknowledged sweeps, all present after every kill; before the kills " << batches.writes
            << " writes in " << batches.commits << " commits\n";
  return batches;
}

TEST(StoreCrashTest, EveryAcknowledgedChangeSurvivesKillNineDuringWrites) { CrashWhileWriting(1, 15); }

TEST(StoreCrashTest, EveryAcknowledgedChangeSurvivesKillNineInTheMiddleOfGroupCommits) {
  const WriteBatches batches = CrashWhileWriting(12, 15);
  // The kills hit the batched path: commits held several writes each on average.
  EXPECT_GT(batches.writes, 1.5 * batches.commits) << batches.writes << " writes in " << batches.commits << " commits";
}

}  // namespace
}  // namespace orchard
