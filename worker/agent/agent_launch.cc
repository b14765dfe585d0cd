// Leasing attempts for the free slots and starting a trainer for each.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/recipe.h"
#include "core/strategy_answer.h"
#include "core/trainer_exit_codes.h"
#include "worker/agent/agent_impl.h"
#include "worker/comm/gpu_devices.h"

namespace orchard::worker {

namespace fs = std::filesystem;

int64_t WorkerAgent::Impl::FreeSlots() const {
  if (slots_.kind == "gpu") {
    // A GPU is a free slot while nothing runs on it (trials that share one hold it too).
    int64_t idle = 0;
    for (int g = 0; g < slots_.count; ++g) idle += GpuBusy(g) ? 0 : 1;
    return idle - launcher_->HeldSlots();
  }
  int64_t used = 0;
  // Orphans still hold their slots until they exit (they may be writing a last checkpoint).
  for (const auto* trainers : {&running_, &orphaned_})
    for (const auto& [id, running] : *trainers) used += running.attempt.slots();
  return slots_.count - used - launcher_->HeldSlots();
}

std::vector<v1::GpuRoom> WorkerAgent::Impl::GpuRooms() const {
  std::vector<v1::GpuRoom> rooms;
  if (slots_.kind != "gpu" || static_cast<int64_t>(slots_.gpu_memory_bytes.size()) != slots_.count) return rooms;
  for (int g = 0; g < slots_.count; ++g) {
    v1::GpuRoom room;
    room.set_index(g);
    room.set_total_bytes(slots_.gpu_memory_bytes[g]);
    int64_t free = slots_.gpu_memory_bytes[g];
    bool idle = true;
    for (const auto* trainers : {&running_, &orphaned_})
      for (const auto& [id, running] : *trainers) {
        if (std::find(running.gpus.begin(), running.gpus.end(), g) == running.gpus.end()) continue;
        idle = false;
        free = running.gpu_share_bytes > 0 ? free - running.gpu_share_bytes : 0;
      }
    room.set_free_bytes(std::max<int64_t>(0, free));
    room.set_idle(idle);
    rooms.push_back(room);
  }
  return rooms;
}

bool WorkerAgent::Impl::RoomOnASharedGpu() const {
  const std::vector<v1::GpuRoom> rooms = GpuRooms();
  return std::any_of(rooms.begin(), rooms.end(), [](const v1::GpuRoom& r) { return !r.idle() && r.free_bytes() > 0; });
}

void WorkerAgent::Impl::Lease() {
  v1::LeaseAttemptsRequest request;
  request.set_worker_id(worker_id_);
  request.set_free_slots(std::max<int64_t>(0, FreeSlots()));
  for (const v1::GpuRoom& room : GpuRooms()) *request.add_gpus() = room;
  if (slots_.kind == "cpu") {
    request.set_memory_available_bytes(AvailableMemoryBytes());
    request.set_threads_per_slot(options_.threads_per_slot);
  }
  const auto sent = Clock::now();
  const StatusOr<v1::LeaseAttemptsResponse> response = link_->LeaseAttempts(request, Deadline(10));
  if (!response.ok()) return;
  // The coordinator counts a lease as a heartbeat (it renews this worker's lease), so we do too:
  // else the first lease after an outage would start trainers only to fence them at once.
  Acknowledged(sent);
  std::map<int64_t, std::vector<v1::Attempt>> groups;  // fused groups, by their first member's attempt id
  for (const v1::Attempt& attempt : response->attempts()) {
    // Only fresh trials are fused; one that resumes or evaluates a checkpoint trains alone.
    if (attempt.fused_group() == 0) {
      Start(attempt);
    } else if (!attempt.resume() && !attempt.evaluate_only()) {
      groups[attempt.fused_group()].push_back(attempt);
    } else {
      v1::Attempt alone = attempt;  // it trains on a slot of its own
      alone.set_slots(std::max<int64_t>(1, alone.slots()));
      Start(alone);
    }
  }
  for (const auto& [first, members] : groups) StartFused(members);
}

std::optional<Recipe> WorkerAgent::Impl::Prepare(const v1::Attempt& attempt, Running& running) {
  running.attempt = attempt;
  running.dir = fs::path(storage_root_) / attempt.output_dir();
  running.log_path = (fs::path(storage_root_) / attempt.log_path()).string();
  std::error_code error;
  fs::create_directories(running.dir, error);
  const fs::path recipe_path = running.dir / "recipe.yaml";
  // A full disk creates the file and takes none of it: check the write, or the trainer would read
  // an empty recipe and the trial fail as "invalid recipe" instead of being retried.
  if (!error) {
    std::ofstream out(recipe_path, std::ios::trunc);
    out << attempt.recipe_yaml() << std::flush;
    if (!out) error = std::error_code(errno != 0 ? errno : EIO, std::generic_category());
  }
  if (error) {
    ReportExit(attempt.attempt_id(), 1, 0, "cannot write to the storage root " + storage_root_ + ": " + error.message());
    return std::nullopt;
  }
  // Parse here too: a recipe we cannot run is reported at once, and CPU trials get their share of
  // the cores instead of all of them each.
  const std::vector<std::string> overrides(attempt.overrides().begin(), attempt.overrides().end());
  auto recipe = ParseRecipe(attempt.recipe_yaml(), attempt.recipe_file(), overrides);
  if (!recipe.ok()) {
    std::ofstream(running.log_path, std::ios::app) << recipe.status().message() << "\n";
    ReportExit(attempt.attempt_id(), train::kExitBadInput, 0, "invalid recipe: " + recipe.status().message());
    return std::nullopt;
  }
  if (attempt.next_decision_step() > 0 && recipe->sweep.decision_timeout_seconds > 0) {
    // The first answer, before the trainer starts: where it will first wait. Without it (a full
    // disk) the trainer simply does not wait.
    const StrategyAnswer first{.attempt = attempt.number(), .next_step = attempt.next_decision_step()};
    const fs::path answers = running.dir / kStrategyAnswerFile;
    running.answers_decisions = WriteFileAtomically(answers.string(), StrategyAnswerJson(first)).ok();
    running.next_decision_step = attempt.next_decision_step();
  }
  return *recipe;
}

bool WorkerAgent::Impl::PlaceOnDevices(const Recipe& recipe, Running& running, LaunchRequest& request) {
  const v1::Attempt& attempt = running.attempt;
  // A GPU trial's share of the GPU's memory, from the coordinator's placement.
  const int first_gpu = attempt.gpus_size() > 0 ? attempt.gpus(0) : -1;
  const bool shares_a_gpu = attempt.gpu_share_bytes() > 0 && first_gpu >= 0 &&
                            first_gpu < static_cast<int>(slots_.gpu_memory_bytes.size());
  const double gpu_fraction = shares_a_gpu ? static_cast<double>(attempt.gpu_share_bytes()) /
                                                 static_cast<double>(slots_.gpu_memory_bytes[first_gpu])
                                           : 0.0;
  double allocator_fraction = 0;
  if (shares_a_gpu) {
    const StatusOr<double> cap = AllocatorFraction(attempt.gpu_share_bytes(), slots_.gpu_memory_bytes[first_gpu]);
    if (!cap.ok()) {
      ReportExit(attempt.attempt_id(), train::kExitBadInput, 0, cap.status().message());
      return false;
    }
    allocator_fraction = *cap;
  }
  if (recipe.train.threads == 0) {
    // Each rank's share of the cores: per CPU slot, or per GPU (and per share of one).
    const int64_t threads = slots_.kind == "cpu" ? options_.threads_per_slot
                                                 : GpuTrialThreads(std::thread::hardware_concurrency(), slots_.count, gpu_fraction);
    request.args.insert(request.args.end(), {"--set", "train.threads=" + std::to_string(threads)});
  }
  if (allocator_fraction > 0) {
    std::ostringstream fraction;
    fraction.precision(6);
    fraction << allocator_fraction;
    request.args.insert(request.args.end(), {"--gpu-memory-fraction", fraction.str()});
  }
  request.log_path = running.log_path;
  request.ranks = std::max<int64_t>(1, attempt.slots());
  if (slots_.kind == "gpu") {
    // The coordinator names the GPUs when it knows them (it packs trials that share GPUs); else the
    // first idle ones.
    running.gpus.assign(attempt.gpus().begin(), attempt.gpus().end());
    running.gpu_share_bytes = attempt.gpu_share_bytes();
    for (int g = 0; g < slots_.count && static_cast<int64_t>(running.gpus.size()) < attempt.slots(); ++g)
      if (!GpuBusy(g)) running.gpus.push_back(g);
    // The worker's ordinals name GPUs among those it was given (by Slurm, Kubernetes or a person).
    auto visible = comm::ChildVisibleDevices(std::getenv("CUDA_VISIBLE_DEVICES"), running.gpus);
    if (!visible.ok()) {
      ReportExit(attempt.attempt_id(), 1, 0, "cannot choose the trainer's GPUs: " + visible.status().message());
      return false;
    }
    request.env["CUDA_VISIBLE_DEVICES"] = *visible;
    running.visible_devices = *visible;
  }
  return true;
}

void WorkerAgent::Impl::Start(const v1::Attempt& attempt) {
  Running running;
  const std::optional<Recipe> recipe = Prepare(attempt, running);
  if (!recipe) return;
  LaunchRequest request;
  request.args = {(running.dir / "recipe.yaml").string(), "--recipe-origin", attempt.recipe_file(), "--out",
                  running.dir.string()};
  for (const std::string& o : attempt.overrides()) request.args.insert(request.args.end(), {"--set", o});
  if (!PlaceOnDevices(*recipe, running, request)) return;
  if (attempt.resume()) request.args.push_back("--resume");
  if (attempt.evaluate_only()) request.args.push_back("--evaluate-only");
  request.args.insert(request.args.end(), {"--epoch", std::to_string(attempt.number()), "--summary",
                                           (running.dir / "result.json").string()});
  if (running.answers_decisions)
    request.args.insert(request.args.end(), {"--decisions", (running.dir / kStrategyAnswerFile).string()});
  std::vector<std::pair<Running, std::string>> trainers;
  trainers.emplace_back(std::move(running), recipe->metrics.file);
  Launch(request, std::move(trainers));
}

void WorkerAgent::Impl::StartFused(const std::vector<v1::Attempt>& group) {
  std::vector<std::pair<Running, std::string>> members;
  nlohmann::json flags = nlohmann::json::array();
  std::optional<Recipe> first_recipe;
  for (const v1::Attempt& attempt : group) {
    Running running;
    const std::optional<Recipe> recipe = Prepare(attempt, running);
    if (!recipe) continue;
    running.fused = true;
    // Its summary says it ended (HandleExits): none may be left from before.
    std::error_code error;
    fs::remove(running.dir / "result.json", error);
    if (error) {
      ReportExit(attempt.attempt_id(), 1, 0, "cannot remove an old result.json from " + running.dir.string() + ": " +
                                                 error.message());
      continue;
    }
    if (!running.answers_decisions) {
      // A fused member hears every decision through its answer file, even where its trainer does not
      // wait for them (SIGTERM would end the whole group): a stop or pause ends it at its next logged step.
      const StrategyAnswer first{.attempt = attempt.number()};
      running.answers_decisions =
          WriteFileAtomically((running.dir / kStrategyAnswerFile).string(), StrategyAnswerJson(first)).ok();
      running.answered_go_on = running.answers_decisions;
    }
    nlohmann::json member = {{"set", std::vector<std::string>(attempt.overrides().begin(), attempt.overrides().end())},
                             {"out", running.dir.string()},
                             {"epoch", attempt.number()},
                             {"summary", (running.dir / "result.json").string()}};
    if (running.answers_decisions) member["decisions"] = (running.dir / kStrategyAnswerFile).string();
    flags.push_back(member);
    if (!first_recipe) first_recipe = recipe;
    members.emplace_back(std::move(running), recipe->metrics.file);
  }
  if (members.empty()) return;
  Running& first = members.front().first;
  // The group's slot is its first member's; one that could not start leaves it to the next.
  if (first.attempt.slots() == 0) first.attempt.set_slots(1);
  // The members file lives with the first member; its log holds the group's output.
  const fs::path members_file = first.dir / "fused-members.json";
  if (const Status written = WriteFileAtomically(members_file.string(), flags.dump(2)); !written.ok()) {
    for (const auto& [member, unused] : members)
      ReportExit(member.attempt.attempt_id(), 1, 0, "cannot write the fused group's members file: " + written.message());
    return;
  }
  LaunchRequest request;
  request.args = {(first.dir / "recipe.yaml").string(), "--recipe-origin", first.attempt.recipe_file(), "--members",
                  members_file.string()};
  if (!PlaceOnDevices(*first_recipe, first, request)) {
    for (size_t i = 1; i < members.size(); ++i)
      ReportExit(members[i].first.attempt.attempt_id(), 1, 0, "its fused group could not be placed on this worker's devices");
    return;
  }
  for (size_t i = 1; i < members.size(); ++i) {
    Running& member = members[i].first;
    member.gpus = first.gpus, member.visible_devices = first.visible_devices;
    std::ofstream(member.log_path, std::ios::app) << "trains fused with attempt " << first.attempt.attempt_id()
                                                  << "; the group's output is in " << first.log_path << "\n";
    member.log_path = first.log_path;
  }
  Launch(request, std::move(members));
}

void WorkerAgent::Impl::Launch(const LaunchRequest& request, std::vector<std::pair<Running, std::string>> trainers) {
  auto pid = launcher_->Launch(request);
  for (auto& [running, metrics_file] : trainers) {
    const v1::Attempt& attempt = running.attempt;
    if (!pid.ok()) {
      ReportExit(attempt.attempt_id(), 1, 0, "cannot start the trainer: " + pid.status().message());
      continue;
    }
    running.pid = *pid;
    running.tail = std::make_unique<MetricsTail>((running.dir / metrics_file).string());
    Say("attempt " + std::to_string(attempt.attempt_id()) + " (sweep " + std::to_string(attempt.sweep_id()) +
        ", trial " + std::to_string(attempt.trial_id()) + ") started " + launcher_->Describe(*pid) +
        (running.fused ? " (fused group of " + std::to_string(trainers.size()) + ")" : "") + ", log " + running.log_path);
    running_.emplace(attempt.attempt_id(), std::move(running));
  }
}

bool WorkerAgent::Impl::GpuBusy(int gpu) const {
  for (const auto* trainers : {&running_, &orphaned_})
    for (const auto& [id, running] : *trainers)
      if (std::find(running.gpus.begin(), running.gpus.end(), gpu) != running.gpus.end()) return true;
  return false;
}

}  // namespace orchard::worker
