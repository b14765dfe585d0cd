#include "worker/agent/mpi_world.h"

#include <mpi.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "worker/comm/gpu_devices.h"
#include "worker/comm/mpi_communicator.h"
#include "worker/comm/nccl_communicator.h"
#include "worker/train/train_command.h"
#include "worker/train/trainer.h"

namespace orchard::worker {
namespace {

enum Tag : int { kStart = 7101, kStop = 7102, kDone = 7103, kShutdown = 7104 };

// Sends without blocking (rank 0 also sends to itself); buffers live until MPI is done with them.
class Outbox {
 public:
  void Send(const nlohmann::json& message, int to, int tag) {
    std::lock_guard<std::mutex> lock(mu_);
    Collect();
    pending_.push_back({message.dump(), MPI_REQUEST_NULL});
    auto& p = pending_.back();
    MPI_Isend(p.text.data(), static_cast<int>(p.text.size()), MPI_CHAR, to, tag, MPI_COMM_WORLD, &p.request);
  }
  void Flush() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& p : pending_) MPI_Wait(&p.request, MPI_STATUS_IGNORE);
    pending_.clear();
  }

 private:
  struct Pending {
    std::string text;
    MPI_Request request;
  };
  void Collect() {
    while (!pending_.empty()) {
      int done = 0;
      MPI_Test(&pending_.front().request, &done, MPI_STATUS_IGNORE);
      if (!done) return;
      pending_.pop_front();
    }
  }
  std::mutex mu_;
  std::deque<Pending> pending_;  // a deque: elements never move, so MPI may keep their addresses
};

Outbox& outbox() {
  static Outbox box;
  return box;
}

// A message with `tag` from `source` (MPI_ANY_SOURCE allowed), if one is waiting.
std::optional<std::pair<int, nlohmann::json>> Receive(int source, int tag) {
  int waiting = 0;
  MPI_Status status;
  MPI_Iprobe(source, tag, MPI_COMM_WORLD, &waiting, &status);
  if (!waiting) return std::nullopt;
  int length = 0;
  MPI_Get_count(&status, MPI_CHAR, &length);
  std::string text(length, '\0');
  MPI_Recv(text.data(), length, MPI_CHAR, status.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return std::make_pair(status.MPI_SOURCE, nlohmann::json::parse(text, nullptr, false));
}

// Rank 0's launcher: a trial of k ranks goes to the k lowest free ranks; its "pid" is a handle.
// A trial ends when every member reported, or, once one member failed, when the others have had
// kStragglerGraceSeconds more: a rank that is stopped (not dead) or stuck in a collective never
// reports, and its peers have failed the trial already. Such a rank stays out of service
// (HeldSlots) until it reports.
class RankLauncher final : public TrainerLauncher {
 public:
  static constexpr double kStragglerGraceSeconds = 10;

  // Exits are noticed by polling (the agent's loop polls several times a second).
  explicit RankLauncher(int ranks) {
    for (int r = 0; r < ranks; ++r) free_.insert(r);
  }

  StatusOr<int> Launch(const LaunchRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (request.ranks > static_cast<int64_t>(free_.size())) {
      return FailedPrecondition("the trial needs " + std::to_string(request.ranks) + " ranks, " + std::to_string(free_.size()) + " are free");
    }
    std::vector<int> members(free_.begin(), std::next(free_.begin(), request.ranks));
    for (int r : members) free_.erase(r);
    const int handle = next_handle_++;
    nlohmann::json start = {{"handle", handle}, {"members", members}, {"args", request.args}, {"log", request.log_path}};
    for (int r : members) outbox().Send(start, r, kStart);
    trials_[handle] = {members, request.log_path};
    return handle;
  }

  std::vector<TrainerExit> TakeExits() override {
    std::lock_guard<std::mutex> lock(mu_);
    while (auto message = Receive(MPI_ANY_SOURCE, kDone)) {
      const int rank = message->first;
      if (stragglers_.erase(rank) > 0) {  // a straggler of a trial already reported ended
        free_.insert(rank);
        continue;
      }
      auto it = trials_.find(IntField(message->second, "handle", -1));
      if (it == trials_.end()) continue;
      const int code = IntField(message->second, "exit_code", 1);
      it->second.exit_codes[rank] = code;
      if (code != 0 && !it->second.first_failure) it->second.first_failure = Clock::now();
      free_.insert(rank);
    }
    std::vector<TrainerExit> exits;
    for (auto it = trials_.begin(); it != trials_.end();) {
      const Trial& trial = it->second;
      const bool all_reported = trial.exit_codes.size() == trial.members.size();
      if (!all_reported && !(trial.first_failure && Clock::now() - *trial.first_failure >
                                                        std::chrono::duration<double>(kStragglerGraceSeconds))) {
        ++it;
        continue;
      }
      int code = 0;
      for (const auto& [rank, c] : trial.exit_codes) if (code == 0) code = c;  // a failure speaks for the trial
      std::string missing;
      for (int r : trial.members) {
        if (trial.exit_codes.count(r)) continue;
        stragglers_.insert(r);
        missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      }
      if (!missing.empty())
        std::ofstream(trial.log_path, std::ios::app)
            << "orchard-worker: rank " << missing << " did not finish within " << kStragglerGraceSeconds
            << " s of its peers' failure (stopped or stuck); it serves no trial until it does\n";
      exits.push_back({it->first, code, 0, ""});
      it = trials_.erase(it);
    }
    return exits;
  }

  // Training is in-process: both signals become a request to checkpoint and stop, which the ranks
  // agree on at their next step.
  void Signal(int pid, int) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = trials_.find(pid);
    if (it == trials_.end()) return;
    for (int r : it->second.members) outbox().Send({{"handle", pid}}, r, kStop);
  }

  std::string Describe(int pid) const override {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = trials_.find(pid);
    if (it == trials_.end()) return "as trial handle " + std::to_string(pid);
    std::string ranks;
    for (int r : it->second.members) ranks += (ranks.empty() ? "" : ",") + std::to_string(r);
    return "on rank" + std::string(it->second.members.size() > 1 ? "s " : " ") + ranks;
  }

  int64_t HeldSlots() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(stragglers_.size());
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Trial {
    std::vector<int> members;
    std::string log_path;
    std::map<int, int> exit_codes = {};  // by rank, as they report
    std::optional<Clock::time_point> first_failure = {};
  };
  static int IntField(const nlohmann::json& message, const char* key, int otherwise) {
    return message.is_object() && message.contains(key) && message[key].is_number_integer() ? message[key].get<int>() : otherwise;
  }
  mutable std::mutex mu_;
  std::set<int> free_;
  std::set<int> stragglers_;  // ranks of ended trials that have not reported yet
  std::map<int, Trial> trials_;
  int next_handle_ = 1;
};

// One rank's in-process training of one trial, on a thread so the rank keeps hearing stop messages.
class RankTrial {
 public:
  explicit RankTrial(nlohmann::json start) : start_(std::move(start)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~RankTrial() { thread_.join(); }
  int handle() const { return start_.value("handle", -1); }
  void RequestStop() { stop_.store(true); }
  bool finished() const { return finished_.load(); }

 private:
  void Run() {
    std::ofstream log(start_.value("log", std::string("/dev/null")), std::ios::app);
    const std::vector<int> members = start_.value("members", std::vector<int>{});
    train::TrainCommandEnv env;
    env.out = &log;
    env.err = &log;
    env.stop_requested = &stop_;
    env.make_communicator = [&](const Recipe& recipe, int* cuda_device) -> StatusOr<std::unique_ptr<comm::Communicator>> {
      MPI_Group world, group;
      MPI_Comm_group(MPI_COMM_WORLD, &world);
      MPI_Group_incl(world, static_cast<int>(members.size()), members.data(), &group);
      MPI_Group_free(&world);
      // Only the members call it; a member that is stopped would hold the others here for good.
      auto ranks = std::make_shared<MPI_Comm>(MPI_COMM_NULL);
      RETURN_IF_ERROR(comm::CallWithDeadline("MPI_Comm_create_group", recipe.distributed.timeout_seconds,
                                             [group, ranks, tag = handle() % 30000]() mutable {
                                               const int rc = MPI_Comm_create_group(MPI_COMM_WORLD, group, tag, ranks.get());
                                               MPI_Group_free(&group);
                                               return rc;
                                             }));
      auto mpi = comm::MakeMpiCommunicator(*ranks, recipe.distributed.timeout_seconds);
      MPI_Comm_free(ranks.get());
      if (!mpi.ok()) return mpi.status();
      ASSIGN_OR_RETURN(const int gpu, comm::GpuOfThisMpiRank(recipe.train.device));
      if (gpu < 0) return std::move(*mpi);
      *cuda_device = gpu;
      bootstrap_ = std::move(*mpi);
      return comm::MakeNcclCommunicator(*bootstrap_, gpu, recipe.distributed.timeout_seconds);
    };
    const int code = train::RunTrainCommand(start_.value("args", std::vector<std::string>{}), env);
    log.flush();
    outbox().Send({{"handle", handle()}, {"exit_code", code}}, 0, kDone);
    finished_.store(true);
  }

  nlohmann::json start_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::unique_ptr<comm::Communicator> bootstrap_;  // NCCL's unique id travels over it
  std::thread thread_;
};

}  // namespace

MpiWorld::MpiWorld() {
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  // This process trains trial after trial, and a GPU trial after a CPU one would find LibTorch
  // settled without CUDA: it loads LibTorch's CUDA library first, GPU or not (about 0.1 s, once). A
  // failure is told by the first trial that needs the GPU.
  (void)train::LoadLibTorchCuda();
}

MpiWorld::~MpiWorld() {
  if (serving_.joinable()) serving_.join();
}

Slots MpiWorld::slots() const {
  return {size_, comm::VisibleGpuCount() > 0 ? "gpu" : "cpu"};
}

std::function<std::unique_ptr<TrainerLauncher>(std::function<void()>)> MpiWorld::LauncherFactory() {
  return [ranks = size_](std::function<void()>) -> std::unique_ptr<TrainerLauncher> {
    return std::make_unique<RankLauncher>(ranks);
  };
}

void MpiWorld::Serve() {
  std::unique_ptr<RankTrial> trial;
  while (true) {
    if (trial && trial->finished()) trial.reset();
    if (Receive(0, kShutdown)) break;
    if (auto stop = Receive(0, kStop)) {
      if (trial && trial->handle() == stop->second.value("handle", -2)) trial->RequestStop();
      continue;
    }
    if (!trial) {
      if (auto start = Receive(0, kStart)) {
        trial = std::make_unique<RankTrial>(start->second);
        continue;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (trial) trial->RequestStop();
  trial.reset();
  outbox().Flush();
}

void MpiWorld::StartServing() {
  serving_ = std::thread([this] { Serve(); });
}

void MpiWorld::Shutdown() {
  for (int r = 0; r < size_; ++r) outbox().Send(nlohmann::json::object(), r, kShutdown);
  if (serving_.joinable()) serving_.join();
  outbox().Flush();
}

}  // namespace orchard::worker
