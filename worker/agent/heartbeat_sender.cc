#include "worker/agent/heartbeat_sender.h"

#include <utility>

namespace orchard::worker {

HeartbeatSender::HeartbeatSender(CoordinatorLink& link, std::function<void(Clock::time_point)> acknowledged,
                                 std::function<void()> wake)
    : link_(link), acknowledged_(std::move(acknowledged)), wake_(std::move(wake)) {}

HeartbeatSender::~HeartbeatSender() { Stop(); }

void HeartbeatSender::SetWorker(const std::string& worker_id, double interval_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  worker_id_ = worker_id;
  interval_seconds_ = interval_seconds;
}

void HeartbeatSender::Start() {
  thread_ = std::thread([this] { SendUntilStopped(); });
}

void HeartbeatSender::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  stopped_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

HeartbeatSender::Answers HeartbeatSender::Exchange(std::vector<int64_t> running_attempt_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  running_attempt_ids_ = std::move(running_attempt_ids);
  return std::exchange(answers_, Answers{});
}

void HeartbeatSender::SendUntilStopped() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopped_) {
    v1::HeartbeatRequest request;
    request.set_worker_id(worker_id_);
    for (int64_t id : running_attempt_ids_) request.add_running_attempt_ids(id);
    const double interval = interval_seconds_;
    lock.unlock();
    // A fixed deadline: the agent bounds its own calls' by the fence, from state only its loop reads.
    const auto sent = Clock::now();
    const StatusOr<v1::HeartbeatResponse> response =
        link_.Heartbeat(request, std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (response.ok()) acknowledged_(sent);
    lock.lock();
    if (request.worker_id() == worker_id_) {  // else the worker registered again meanwhile
      const bool refused = IsRefusal(response.status());
      if (refused) answers_.refusal = response.status();
      if (response.ok())
        answers_.stop_attempt_ids.insert(answers_.stop_attempt_ids.end(), response->stop_attempt_ids().begin(),
                                         response->stop_attempt_ids().end());
      if (refused || (response.ok() && response->stop_attempt_ids_size() > 0)) wake_();
    }
    stopped_cv_.wait_for(lock, std::chrono::duration<double>(interval), [&] { return stopped_; });
  }
}

}  // namespace orchard::worker
