// The agent's loop, registration, fencing and shutdown (agent_impl.h says where the other steps are).
#include "worker/agent/agent.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <thread>
#include <utility>

#include "worker/agent/agent_impl.h"
#include "worker/agent/grpc_coordinator_link.h"

namespace orchard::worker {
namespace {

// The loop's period while a trainer may wait at a rung for its answer: reading a metrics file's new
// tail is cheap, and each wait costs at most this much more than the round trip.
constexpr double kAnsweringPollSeconds = 0.02;

}  // namespace

WorkerAgent::WorkerAgent(AgentOptions options) {
  std::unique_ptr<CoordinatorLink> link = MakeGrpcCoordinatorLink(options.coordinator, options.security);
  impl_ = std::make_unique<Impl>(std::move(options), std::move(link));
}

WorkerAgent::WorkerAgent(AgentOptions options, std::unique_ptr<CoordinatorLink> link)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(link))) {}

WorkerAgent::~WorkerAgent() = default;

Status WorkerAgent::Run(const std::atomic<bool>& stop) { return impl_->Run(stop); }

void WorkerAgent::Wake() { impl_->Wake(); }

WorkerAgent::Impl::Impl(AgentOptions options, std::unique_ptr<CoordinatorLink> link)
    : options_(std::move(options)),
      link_(std::move(link)),
      heartbeats_(*link_, [this](Clock::time_point sent) { Acknowledged(sent); }, [this] { Wake(); }) {
  if (options_.hostname.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    options_.hostname = host;
  }
  if (options_.slots) {
    slots_ = *options_.slots;
  } else if (StatusOr<Slots> detected = DetectSlots(options_.cpu_slots, options_.force_cpu); detected.ok()) {
    slots_ = *std::move(detected);
  } else {
    slots_error_ = detected.status();
    slots_ = {1, "cpu", {}};
  }
  if (options_.threads_per_slot <= 0)
    options_.threads_per_slot = std::max<int64_t>(1, std::thread::hardware_concurrency() / slots_.count);
  if (slots_.kind == "gpu") {
    auto sampler = GpuUsageSampler::Open();
    if (sampler.ok()) gpu_sampler_ = std::move(*sampler);
    else Say("GPU memory and utilisation are not measured: " + sampler.status().message());
  }
  launcher_ = options_.make_launcher ? options_.make_launcher([this] { Wake(); })
                                     : MakeTrainerLauncher(options_.trainer_binary, options_.warm_start,
                                                                         slots_.kind == "gpu", [this] { Wake(); });
}

Status WorkerAgent::Impl::Run(const std::atomic<bool>& stop) {
  RETURN_IF_ERROR(slots_error_);
  launcher_->Prewarm();  // LibTorch loads while the worker registers and waits for work
  RETURN_IF_ERROR(Register(stop));
  heartbeats_.Start();
  auto next_lease = Clock::now();
  bool woken = false;  // by Wake(): a trainer ended, a heartbeat answered, or work was just submitted
  while (!stop.load() && refused_.ok()) {
    const auto now = Clock::now();
    TakeHeartbeatAnswers(stop);
    FenceIfSilent();
    SampleUsage();
    const bool any_exit = HandleExits();
    Relay();
    FlushEnded();
    if ((FreeSlots() > 0 || RoomOnASharedGpu()) && (any_exit || woken || now >= next_lease)) {
      Lease();
      next_lease = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.poll_seconds));
    }
    // A trainer that waits at its rungs for decisions waits on this relay, and a fused member hears
    // a stop or pause only through its answer file: look for their reports often (Relay sends other
    // reports at the usual period).
    const bool answering = std::any_of(running_.begin(), running_.end(), [](const auto& r) { return r.second.answers_decisions; });
    const double period = answering ? std::min(options_.poll_seconds, kAnsweringPollSeconds) : options_.poll_seconds;
    std::unique_lock<std::mutex> lock(wake_mu_);
    wake_.wait_for(lock, std::chrono::duration<double>(period), [&] { return woken_ || stop.load(); });
    woken = std::exchange(woken_, false);
  }
  Drain(stop);
  heartbeats_.Stop();
  Deregister();
  return refused_;
}

void WorkerAgent::Impl::Wake() {
  std::lock_guard<std::mutex> lock(wake_mu_);
  woken_ = true;
  wake_.notify_one();
}

void WorkerAgent::Impl::Say(const std::string& line) {
  if (!options_.quiet) std::cout << "orchard-worker: " << line << std::endl;
}

Status WorkerAgent::Impl::Register(const std::atomic<bool>& stop) {
  v1::RegisterWorkerRequest request;
  request.set_hostname(options_.hostname);
  request.set_slots(slots_.count);
  request.set_slot_kind(slots_.kind);
  for (int64_t bytes : slots_.gpu_memory_bytes) request.add_gpu_memory_bytes(bytes);
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(options_.connect_timeout_seconds));
  while (!stop.load()) {
    const auto sent = Clock::now();
    const StatusOr<v1::RegisterWorkerResponse> response = link_->RegisterWorker(request, Deadline(5));
    if (response.ok()) {
      worker_id_ = response->worker_id();
      lease_timeout_ = response->lease_timeout_seconds();
      last_heartbeat_sent_.store(sent);
      heartbeats_.SetWorker(worker_id_, response->heartbeat_interval_seconds());
      storage_root_ = options_.storage_root.empty() ? response->storage_root() : options_.storage_root;
      Say("registered as " + worker_id_ + " with " + std::to_string(slots_.count) + " " + slots_.kind +
          " slots at " + options_.coordinator + "; storage " + storage_root_);
      return OkStatus();
    }
    if (IsRefusal(response.status()))
      return FailedPrecondition("the coordinator refused registration: " + response.status().message());
    if (Clock::now() > deadline)
      return Unavailable("cannot reach the coordinator at " + options_.coordinator + " (" + response.status().message() +
                         "); start orchard-coordinator or pass --coordinator HOST:PORT");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return OkStatus();
}

void WorkerAgent::Impl::TakeHeartbeatAnswers(const std::atomic<bool>& stop) {
  // Attempts whose end is not yet acknowledged count as running, so the coordinator waits for
  // their exit report instead of declaring them lost.
  std::vector<int64_t> running;
  for (const auto* attempts : {&running_, &finishing_})
    for (const auto& [id, attempt] : *attempts) running.push_back(id);
  for (const auto& [id, exit] : unreported_exits_) running.push_back(id);
  const HeartbeatSender::Answers answers = heartbeats_.Exchange(std::move(running));
  for (int64_t id : answers.stop_attempt_ids) StopAttempt(id, "the coordinator asked");
  if (!answers.refusal) return;
  const Status& refusal = *answers.refusal;
  if (refusal.code() == StatusCode::kNotFound) {
    // Declared lost: the coordinator has ended our attempts. Stop them so none runs twice.
    Say("the coordinator declared this worker lost; stopping " + std::to_string(running_.size()) +
        " trainers and registering again");
    for (auto& [id, attempt] : running_) launcher_->Signal(attempt.pid, SIGTERM);
    orphaned_.merge(running_);
    running_.clear();
    finishing_.clear();
    unreported_exits_.clear();
    (void)Register(stop);
    return;
  }
  if (refusal.code() == StatusCode::kUnauthenticated || refusal.code() == StatusCode::kPermissionDenied) {
    // The worker token was revoked (or never valid): retrying cannot help, and the coordinator
    // will declare this worker lost. Stop the trainers (they checkpoint) and leave.
    if (refused_.ok()) {
      refused_ = FailedPrecondition("the coordinator refused this worker's credentials (" + refusal.message() +
                                    "); its trainers were stopped. Start it with a valid worker token "
                                    "(orchard-coordinator worker-token create)");
      Say("the coordinator refused this worker's token; stopping " + std::to_string(running_.size()) + " trainers");
    }
  }
}

void WorkerAgent::Impl::Acknowledged(Clock::time_point sent) {
  Clock::time_point seen = last_heartbeat_sent_.load();
  while (seen < sent && !last_heartbeat_sent_.compare_exchange_weak(seen, sent)) {
  }
}

// The coordinator declares this worker lost a lease timeout after the last heartbeat it received,
// which is no earlier than when we sent our last acknowledged one. Stopping our trainers well
// before that (at 70%) means a trial is never running here when it starts elsewhere. Checked on
// every pass of the loop, whose calls never wait past this moment (Deadline).
WorkerAgent::Impl::Clock::time_point WorkerAgent::Impl::FenceTime() const {
  return last_heartbeat_sent_.load() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(0.7 * lease_timeout_));
}

void WorkerAgent::Impl::FenceIfSilent() {
  if (running_.empty() || Clock::now() < FenceTime()) return;
  const double silent = std::chrono::duration<double>(Clock::now() - last_heartbeat_sent_.load()).count();
  for (auto& [id, running] : running_)
    StopAttempt(id, "no heartbeat acknowledged for " + std::to_string(static_cast<int>(silent)) +
                        " s; stopping before the coordinator declares this worker lost");
}

CoordinatorLink::Deadline WorkerAgent::Impl::Deadline(double seconds) const {
  double allowed = seconds;
  const bool unfenced = std::any_of(running_.begin(), running_.end(), [](const auto& r) { return !r.second.stop_sent; });
  if (unfenced)
    allowed = std::clamp(std::chrono::duration<double>(FenceTime() - Clock::now()).count() + 0.01, 0.01, allowed);
  return std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                                 std::chrono::duration<double>(allowed));
}

void WorkerAgent::Impl::StopAttempt(int64_t id, const std::string& why) {
  auto it = running_.find(id);
  if (it == running_.end() || it->second.stop_sent) return;
  it->second.stop_sent = true;
  Say("stopping attempt " + std::to_string(id) + " (trial " + std::to_string(it->second.attempt.trial_id()) + "): " + why);
  // A fused group's trainer ends one member at the strategy's answer (decision.json) and goes on with
  // the rest; SIGTERM would end them all, so it is sent once every member is to stop.
  const int pid = it->second.pid;
  const bool others_go_on = std::any_of(running_.begin(), running_.end(), [&](const auto& r) {
    return r.second.pid == pid && !r.second.stop_sent;
  });
  if (others_go_on) return;
  launcher_->Signal(pid, SIGTERM);
}

void WorkerAgent::Impl::Drain(const std::atomic<bool>& stop) {
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

void WorkerAgent::Impl::Deregister() {
  v1::DeregisterWorkerRequest request;
  request.set_worker_id(worker_id_);
  if (link_->DeregisterWorker(request, Deadline(5)).ok()) Say("deregistered " + worker_id_);
}

}  // namespace orchard::worker
