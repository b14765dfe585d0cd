#include "worker/agent/agent.h"

#include <signal.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "core/recipe.h"
#include "core/trainer_exit_codes.h"
#include "orchard/v1/trial_service.grpc.pb.h"
#include "orchard/v1/worker_service.grpc.pb.h"
#include "worker/agent/exit_reason.h"
#include "worker/agent/metrics_tail.h"
#include "worker/agent/slots.h"
#include "worker/agent/trainer_launcher.h"

namespace orchard::worker {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// An answer that retrying cannot change: the coordinator refused the call. Any other failure
// (unreachable, timed out, an internal error while it restarts) is retried.
bool IsRefusal(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return true;
    default:
      return false;
  }
}

// Delivered, or refused for good: either way the call is done.
bool IsSettled(const grpc::Status& status) { return status.ok() || IsRefusal(status); }

// The newest step-<n> directory with a MANIFEST (a complete checkpoint), or -1.
int64_t LatestCheckpointStep(const fs::path& root) {
  int64_t latest = -1;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(root, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step-", 0) != 0 || !fs::exists(entry.path() / "MANIFEST")) continue;
    try {
      latest = std::max<int64_t>(latest, std::stoll(name.substr(5)));
    } catch (const std::exception&) {
    }
  }
  return latest;
}

}  // namespace

class WorkerAgent::Impl {
 public:
  explicit Impl(AgentOptions options) : options_(std::move(options)) {
    if (options_.hostname.empty()) {
      char host[256] = {};
      gethostname(host, sizeof(host) - 1);
      options_.hostname = host;
    }
    slots_ = options_.slots ? *options_.slots : DetectSlots(options_.cpu_slots, options_.force_cpu);
    if (options_.threads_per_slot <= 0)
      options_.threads_per_slot = std::max<int64_t>(1, std::thread::hardware_concurrency() / slots_.count);
    channel_ = client::CreateCoordinatorChannel(options_.coordinator, options_.security);
    workers_ = v1::WorkerService::NewStub(channel_);
    trials_ = v1::TrialService::NewStub(channel_);
    launcher_ = options_.make_launcher ? options_.make_launcher([this] { Wake(); })
                                       : MakeTrainerLauncher(options_.trainer_binary, options_.warm_start, [this] { Wake(); });
  }

  Status Run(const std::atomic<bool>& stop) {
    RETURN_IF_ERROR(Register(stop));
    heartbeats_ = std::thread([this] { SendHeartbeats(); });
    auto next_lease = Clock::now();
    while (!stop.load() && refused_.ok()) {
      const auto now = Clock::now();
      TakeHeartbeatAnswers(stop);
      FenceIfSilent();
      const bool any_exit = HandleExits();
      Relay();
      FlushEnded();
      if (FreeSlots() > 0 && (any_exit || now >= next_lease)) {
        Lease();
        next_lease = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.poll_seconds));
      }
      std::unique_lock<std::mutex> lock(wake_mu_);
      wake_.wait_for(lock, std::chrono::duration<double>(options_.poll_seconds), [&] { return woken_ || stop.load(); });
      woken_ = false;
    }
    Drain(stop);
    {
      std::lock_guard<std::mutex> lock(beat_mu_);
      beats_stopped_ = true;
    }
    beat_cv_.notify_all();
    heartbeats_.join();
    Deregister();
    return refused_;
  }

 private:
  struct Running {
    v1::Attempt attempt;
    int pid = 0;
    fs::path dir;
    std::string log_path;
    std::unique_ptr<MetricsTail> tail;
    std::vector<MetricRecord> unsent;  // read from the trainer, not yet acknowledged by the coordinator
    int64_t reported_checkpoint = -1;
    bool stop_sent = false;
    std::vector<int> gpus;
    v1::ReportAttemptExitRequest exit;  // set when the trainer has exited
  };

  void Wake() {
    std::lock_guard<std::mutex> lock(wake_mu_);
    woken_ = true;
    wake_.notify_one();
  }

  void Say(const std::string& line) {
    if (!options_.quiet) std::cout << "orchard-worker: " << line << std::endl;
  }

  Status Register(const std::atomic<bool>& stop) {
    v1::RegisterWorkerRequest request;
    request.set_hostname(options_.hostname);
    request.set_slots(slots_.count);
    request.set_slot_kind(slots_.kind);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(options_.connect_timeout_seconds));
    while (!stop.load()) {
      const auto sent = Clock::now();
      grpc::ClientContext context;
      context.set_deadline(Deadline(5));
      v1::RegisterWorkerResponse response;
      const grpc::Status status = workers_->RegisterWorker(&context, request, &response);
      if (status.ok()) {
        worker_id_ = response.worker_id();
        lease_timeout_ = response.lease_timeout_seconds();
        last_heartbeat_sent_.store(sent);
        {
          std::lock_guard<std::mutex> lock(beat_mu_);
          beat_worker_id_ = worker_id_;
          heartbeat_interval_ = response.heartbeat_interval_seconds();
        }
        storage_root_ = options_.storage_root.empty() ? response.storage_root() : options_.storage_root;
        Say("registered as " + worker_id_ + " with " + std::to_string(slots_.count) + " " + slots_.kind +
            " slots at " + options_.coordinator + "; storage " + storage_root_);
        return OkStatus();
      }
      if (IsRefusal(status))
        return FailedPrecondition("the coordinator refused registration: " + status.error_message());
      if (Clock::now() > deadline)
        return Unavailable("cannot reach the coordinator at " + options_.coordinator + " (" + status.error_message() +
                           "); start orchard-coordinator or pass --coordinator HOST:PORT");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return OkStatus();
  }

  // Heartbeats go out from a thread of their own on a fixed interval, so that no slow call of the
  // main loop (relays, leases, exits, launches; each may wait up to its deadline) delays them: a
  // late heartbeat makes the worker fence its own trials. The thread only sends, and records what
  // the answers ask for; the main loop acts on them (TakeHeartbeatAnswers).
  void SendHeartbeats() {
    std::unique_lock<std::mutex> lock(beat_mu_);
    while (!beats_stopped_) {
      v1::HeartbeatRequest request;
      request.set_worker_id(beat_worker_id_);
      for (int64_t id : beat_running_) request.add_running_attempt_ids(id);
      const double interval = heartbeat_interval_;
      lock.unlock();
      const auto sent = Clock::now();
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::HeartbeatResponse response;
      const grpc::Status status = workers_->Heartbeat(&context, request, &response);
      if (status.ok()) Acknowledged(sent);
      lock.lock();
      if (request.worker_id() == beat_worker_id_) {  // else we registered again meanwhile
        if (IsRefusal(status)) beat_refusal_ = status;
        beat_stop_ids_.insert(beat_stop_ids_.end(), response.stop_attempt_ids().begin(), response.stop_attempt_ids().end());
        if (IsRefusal(status) || response.stop_attempt_ids_size() > 0) Wake();
      }
      beat_cv_.wait_for(lock, std::chrono::duration<double>(interval), [&] { return beats_stopped_; });
    }
  }

  // Gives the heartbeat thread the attempts to report and acts on what its answers asked for.
  void TakeHeartbeatAnswers(const std::atomic<bool>& stop) {
    std::optional<grpc::Status> refusal;
    std::vector<int64_t> stop_ids;
    {
      std::lock_guard<std::mutex> lock(beat_mu_);
      // Attempts whose end is not yet acknowledged count as running, so the coordinator waits for
      // their exit report instead of declaring them lost.
      beat_running_.clear();
      for (const auto* attempts : {&running_, &finishing_})
        for (const auto& [id, running] : *attempts) beat_running_.push_back(id);
      for (const auto& [id, exit] : unreported_exits_) beat_running_.push_back(id);
      std::swap(refusal, beat_refusal_);
      std::swap(stop_ids, beat_stop_ids_);
    }
    for (int64_t id : stop_ids) StopAttempt(id, "the coordinator asked");
    if (!refusal) return;
    if (refusal->error_code() == grpc::StatusCode::NOT_FOUND) {
      // Declared lost: the coordinator has ended our attempts. Stop them so none runs twice.
      Say("the coordinator declared this worker lost; stopping " + std::to_string(running_.size()) +
          " trainers and registering again");
      for (auto& [id, running] : running_) launcher_->Signal(running.pid, SIGTERM);
      orphaned_.merge(running_);
      running_.clear();
      finishing_.clear();
      unreported_exits_.clear();
      (void)Register(stop);
      return;
    }
    if (refusal->error_code() == grpc::StatusCode::UNAUTHENTICATED ||
        refusal->error_code() == grpc::StatusCode::PERMISSION_DENIED) {
      // The worker token was revoked (or never valid): retrying cannot help, and the coordinator
      // will declare this worker lost. Stop the trainers (they checkpoint) and leave.
      if (refused_.ok()) {
        refused_ = FailedPrecondition("the coordinator refused this worker's credentials (" + refusal->error_message() +
                                      "); its trainers were stopped. Start it with a valid worker token "
                                      "(orchard-coordinator worker-token create)");
        Say("the coordinator refused this worker's token; stopping " + std::to_string(running_.size()) + " trainers");
      }
    }
  }

  // The coordinator renewed our lease with a call we sent at `sent`.
  // Called from both threads.
  void Acknowledged(Clock::time_point sent) {
    Clock::time_point seen = last_heartbeat_sent_.load();
    while (seen < sent && !last_heartbeat_sent_.compare_exchange_weak(seen, sent)) {
    }
  }

  // The coordinator declares this worker lost a lease timeout after the last heartbeat it received,
  // which is no earlier than when we sent our last acknowledged one. Stopping our trainers well
  // before that (at 70%) means a trial is never running here when it starts elsewhere. Checked on
  // every pass of the loop, whose calls never wait past this moment (Deadline).
  Clock::time_point FenceTime() const {
    return last_heartbeat_sent_.load() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(0.7 * lease_timeout_));
  }

  void FenceIfSilent() {
    if (running_.empty() || Clock::now() < FenceTime()) return;
    const double silent = std::chrono::duration<double>(Clock::now() - last_heartbeat_sent_.load()).count();
    for (auto& [id, running] : running_)
      StopAttempt(id, "no heartbeat acknowledged for " + std::to_string(static_cast<int>(silent)) +
                          " s; stopping before the coordinator declares this worker lost");
  }

  // A call's deadline: `seconds` from now, but not past the fence while trainers run unfenced (once
  // past it, at once, so the loop comes round to FenceIfSilent).
  std::chrono::system_clock::time_point Deadline(double seconds) const {
    double allowed = seconds;
    const bool unfenced = std::any_of(running_.begin(), running_.end(), [](const auto& r) { return !r.second.stop_sent; });
    if (unfenced)
      allowed = std::clamp(std::chrono::duration<double>(FenceTime() - Clock::now()).count() + 0.01, 0.01, allowed);
    return std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                                   std::chrono::duration<double>(allowed));
  }

  void StopAttempt(int64_t id, const std::string& why) {
    auto it = running_.find(id);
    if (it == running_.end() || it->second.stop_sent) return;
    it->second.stop_sent = true;
    launcher_->Signal(it->second.pid, SIGTERM);
    Say("stopping attempt " + std::to_string(id) + " (trial " + std::to_string(it->second.attempt.trial_id()) + "): " + why);
  }

  int64_t FreeSlots() const {
    int64_t used = 0;
    // Orphans still hold their slots until they exit (they may be writing a last checkpoint).
    for (const auto* trainers : {&running_, &orphaned_})
      for (const auto& [id, running] : *trainers) used += running.attempt.slots();
    return slots_.count - used - launcher_->HeldSlots();
  }

  void Lease() {
    v1::LeaseAttemptsRequest request;
    request.set_worker_id(worker_id_);
    request.set_free_slots(FreeSlots());
    const auto sent = Clock::now();
    grpc::ClientContext context;
    context.set_deadline(Deadline(10));
    v1::LeaseAttemptsResponse response;
    if (!workers_->LeaseAttempts(&context, request, &response).ok()) return;
    // The coordinator counts a lease as a heartbeat (it renews this worker's lease), so we do too:
    // else the first lease after an outage would start trainers only to fence them at once.
    Acknowledged(sent);
    for (const v1::Attempt& attempt : response.attempts()) Start(attempt);
  }

  void Start(const v1::Attempt& attempt) {
    Running running;
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
      return;
    }
    std::vector<std::string> overrides(attempt.overrides().begin(), attempt.overrides().end());
    LaunchRequest request;
    request.args = {recipe_path.string(), "--recipe-origin", attempt.recipe_file(), "--out", running.dir.string()};
    for (const std::string& o : overrides) request.args.insert(request.args.end(), {"--set", o});
    // Parse here too: a recipe we cannot run is reported at once, and CPU trials get their share of
    // the cores instead of all of them each.
    auto recipe = ParseRecipe(attempt.recipe_yaml(), attempt.recipe_file(), overrides);
    if (!recipe.ok()) {
      std::ofstream(running.log_path, std::ios::app) << recipe.status().message() << "\n";
      ReportExit(attempt.attempt_id(), train::kExitBadInput, 0, "invalid recipe: " + recipe.status().message());
      return;
    }
    if (slots_.kind == "cpu" && recipe->train.threads == 0)
      request.args.insert(request.args.end(), {"--set", "train.threads=" + std::to_string(options_.threads_per_slot)});  // per rank
    if (attempt.resume()) request.args.push_back("--resume");
    if (attempt.evaluate_only()) request.args.push_back("--evaluate-only");
    request.args.insert(request.args.end(), {"--epoch", std::to_string(attempt.number()), "--summary",
                                             (running.dir / "result.json").string()});
    request.log_path = running.log_path;
    request.ranks = attempt.slots();
    if (slots_.kind == "gpu") {
      std::string visible;
      for (int g = 0; g < slots_.count && static_cast<int64_t>(running.gpus.size()) < attempt.slots(); ++g) {
        if (GpuBusy(g)) continue;
        running.gpus.push_back(g);
        visible += (visible.empty() ? "" : ",") + std::to_string(g);
      }
      request.env["CUDA_VISIBLE_DEVICES"] = visible;
    }
    auto pid = launcher_->Launch(request);
    if (!pid.ok()) {
      ReportExit(attempt.attempt_id(), 1, 0, "cannot start the trainer: " + pid.status().message());
      return;
    }
    running.pid = *pid;
    running.tail = std::make_unique<MetricsTail>((running.dir / recipe->metrics.file).string());
    Say("attempt " + std::to_string(attempt.attempt_id()) + " (sweep " + std::to_string(attempt.sweep_id()) + ", trial " +
        std::to_string(attempt.trial_id()) + ") started " + launcher_->Describe(*pid) + ", log " + running.log_path);
    running_.emplace(attempt.attempt_id(), std::move(running));
  }

  bool GpuBusy(int gpu) const {
    for (const auto* trainers : {&running_, &orphaned_})
      for (const auto& [id, running] : *trainers)
        if (std::find(running.gpus.begin(), running.gpus.end(), gpu) != running.gpus.end()) return true;
    return false;
  }

  // Sends new metric records and checkpoints of one attempt; a STOP or PAUSE decision sends SIGTERM
  // (the trainer checkpoints and exits; the coordinator knows which it asked for). Records
  // stay queued until the coordinator acknowledges them (at least once; it stores each once).
  // False when some are still unsent because the coordinator could not be reached.
  bool RelayOne(Running& running) {
    std::vector<MetricRecord> fresh = running.tail->Poll();
    running.unsent.insert(running.unsent.end(), std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()));
    v1::Decision decision = v1::DECISION_CONTINUE;
    while (!running.unsent.empty()) {
      const size_t batch = std::min<size_t>(running.unsent.size(), 5000);
      v1::ReportMetricsRequest request;
      request.set_attempt_id(running.attempt.attempt_id());
      request.set_token(running.attempt.token());
      for (size_t i = 0; i < batch; ++i) {
        v1::MetricPoint* p = request.add_points();
        p->set_step(running.unsent[i].step);
        p->set_name(running.unsent[i].name);
        p->set_value(running.unsent[i].value);
        p->set_time(running.unsent[i].time);
      }
      grpc::ClientContext context;
      context.set_deadline(Deadline(10));
      v1::ReportMetricsResponse response;
      const grpc::Status status = trials_->ReportMetrics(&context, request, &response);
      if (!IsSettled(status)) return false;
      // Stored, or refused for good (the attempt has ended): either way these are done.
      running.unsent.erase(running.unsent.begin(), running.unsent.begin() + static_cast<std::ptrdiff_t>(batch));
      if (status.ok() && response.decision() != v1::DECISION_CONTINUE) decision = response.decision();
      if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) decision = v1::DECISION_STOP;
    }
    const int64_t step = LatestCheckpointStep(running.dir / "checkpoints");
    if (step > running.reported_checkpoint) {
      v1::ReportCheckpointRequest request;
      request.set_attempt_id(running.attempt.attempt_id());
      request.set_token(running.attempt.token());
      request.set_step(step);
      request.set_path(running.attempt.output_dir() + "/checkpoints/step-" + std::to_string(step));
      grpc::ClientContext context;
      context.set_deadline(Deadline(10));
      v1::ReportCheckpointResponse response;
      if (trials_->ReportCheckpoint(&context, request, &response).ok()) running.reported_checkpoint = step;
    }
    if (decision == v1::DECISION_STOP) StopAttempt(running.attempt.attempt_id(), "the search strategy stopped it");
    if (decision == v1::DECISION_PAUSE) StopAttempt(running.attempt.attempt_id(), "the search strategy paused it");
    return true;
  }

  void Relay() {
    for (auto& [id, running] : running_) RelayOne(running);
  }

  bool HandleExits() {
    const std::vector<TrainerExit> exits = launcher_->TakeExits();
    for (const TrainerExit& exit : exits) {
      auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& r) { return r.second.pid == exit.pid; });
      if (it == running_.end()) {
        orphaned_.erase(std::find_if(orphaned_.begin(), orphaned_.end(), [&](const auto& r) { return r.second.pid == exit.pid; }),
                        orphaned_.end());
        continue;
      }
      const std::string reason = ExitReason(exit, it->second.log_path);
      Say("attempt " + std::to_string(it->first) + " ended: " + reason);
      it->second.exit = MakeExit(it->first, exit.exit_code, exit.signal, reason);
      finishing_.insert(running_.extract(it));
    }
    return !exits.empty();
  }

  v1::ReportAttemptExitRequest MakeExit(int64_t attempt_id, int exit_code, int signal, const std::string& reason) const {
    v1::ReportAttemptExitRequest request;
    request.set_worker_id(worker_id_);
    request.set_attempt_id(attempt_id);
    request.set_exit_code(exit_code);
    request.set_signal(signal);
    request.set_reason(reason);
    return request;
  }

  // An attempt that ended before its trainer ran.
  void ReportExit(int64_t attempt_id, int exit_code, int signal, const std::string& reason) {
    unreported_exits_[attempt_id] = MakeExit(attempt_id, exit_code, signal, reason);
    FlushEnded();
  }

  // Delivers ended attempts' last metrics, then their exits, in that order so the objective is final
  // when the trial ends. What the coordinator cannot take now is kept and retried on the next pass:
  // neither metrics nor exits are lost while it restarts.
  void FlushEnded() {
    for (auto it = finishing_.begin(); it != finishing_.end();) {
      if (!RelayOne(it->second)) return;
      unreported_exits_[it->first] = it->second.exit;
      it = finishing_.erase(it);
    }
    for (auto it = unreported_exits_.begin(); it != unreported_exits_.end();) {
      grpc::ClientContext context;
      context.set_deadline(Deadline(5));
      v1::ReportAttemptExitResponse response;
      if (!IsSettled(workers_->ReportAttemptExit(&context, it->second, &response))) return;
      it = unreported_exits_.erase(it);
    }
  }

  // On shutdown: every trainer checkpoints and exits, and each exit is reported.
  void Drain(const std::atomic<bool>& stop) {
    for (auto& [id, running] : running_) StopAttempt(id, "the worker is shutting down");
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while ((!running_.empty() || !orphaned_.empty() || !finishing_.empty() || !unreported_exits_.empty()) &&
           Clock::now() < deadline) {
      TakeHeartbeatAnswers(stop);  // heartbeats go on: checkpoints may take longer than the lease timeout
      HandleExits();
      FlushEnded();
      std::unique_lock<std::mutex> lock(wake_mu_);
      wake_.wait_for(lock, std::chrono::milliseconds(50), [&] { return woken_; });
      woken_ = false;
    }
    for (auto& [id, running] : running_) launcher_->Signal(running.pid, SIGKILL);
  }

  // Leave at once rather than after a lease timeout; anything not reported is queued again.
  void Deregister() {
    v1::DeregisterWorkerRequest request;
    request.set_worker_id(worker_id_);
    grpc::ClientContext context;
    context.set_deadline(Deadline(5));
    v1::DeregisterWorkerResponse response;
    if (workers_->DeregisterWorker(&context, request, &response).ok()) Say("deregistered " + worker_id_);
  }

  AgentOptions options_;
  Slots slots_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
  std::unique_ptr<v1::TrialService::Stub> trials_;
  std::unique_ptr<TrainerLauncher> launcher_;
  std::string worker_id_;
  std::string storage_root_;
  double lease_timeout_ = 15;
  std::atomic<Clock::time_point> last_heartbeat_sent_{};  // of the last call that renewed our lease
  std::map<int64_t, Running> running_;   // by attempt id
  std::map<int64_t, Running> orphaned_;  // stopped after the coordinator declared us lost
  std::map<int64_t, Running> finishing_;  // exited; last metrics not yet delivered
  std::map<int64_t, v1::ReportAttemptExitRequest> unreported_exits_;  // not yet acknowledged
  Status refused_;                       // set when the coordinator refuses our token: Run ends
  std::thread heartbeats_;               // SendHeartbeats
  std::mutex beat_mu_;                   // guards the beat_ members and heartbeat_interval_
  std::condition_variable beat_cv_;
  bool beats_stopped_ = false;
  std::string beat_worker_id_;
  double heartbeat_interval_ = 2;
  std::vector<int64_t> beat_running_;    // attempts the next heartbeat reports as running
  std::optional<grpc::Status> beat_refusal_;  // an answer that retrying cannot change
  std::vector<int64_t> beat_stop_ids_;   // attempts the coordinator asked us to stop
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool woken_ = false;                   // guarded by wake_mu_
};

WorkerAgent::WorkerAgent(AgentOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
WorkerAgent::~WorkerAgent() = default;
Status WorkerAgent::Run(const std::atomic<bool>& stop) { return impl_->Run(stop); }

}  // namespace orchard::worker
