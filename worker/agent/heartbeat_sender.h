// Sends a worker's heartbeats from a thread of its own on a fixed interval, so that no slow call of
// the agent's loop (relays, leases, exits, launches; each may wait up to its deadline) delays them:
// a late heartbeat makes the worker fence its own trials. The thread only sends, and records what
// the answers ask for; the agent's loop takes those (Exchange) and acts on them.
//
//   HeartbeatSender heartbeats(link, [&](auto sent) { RenewedAt(sent); }, [&] { Wake(); });
//   heartbeats.SetWorker(worker_id, interval_seconds);
//   heartbeats.Start();
//   HeartbeatSender::Answers answers = heartbeats.Exchange(running_attempt_ids);   // each pass
//   heartbeats.Stop();
//
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "worker/agent/coordinator_link.h"

namespace orchard::worker {

class HeartbeatSender {
 public:
  using Clock = std::chrono::steady_clock;

  // What the coordinator's answers asked for since the last Exchange.
  struct Answers {
    std::optional<Status> refusal;          // the latest refusal (IsRefusal) of a heartbeat
    std::vector<int64_t> stop_attempt_ids;  // stop these attempts
  };

  // `link` must outlive this. From the thread, `acknowledged(sent)` is called when a heartbeat sent
  // at `sent` renewed the worker's lease, and `wake()` when an answer asks for something.
  HeartbeatSender(CoordinatorLink& link, std::function<void(Clock::time_point)> acknowledged,
                  std::function<void()> wake);
  HeartbeatSender(const HeartbeatSender&) = delete;
  HeartbeatSender& operator=(const HeartbeatSender&) = delete;
  ~HeartbeatSender();  // Stop()

  // The id the worker (re)registered under and the interval the coordinator asked for. Answers to
  // heartbeats sent under an earlier id are dropped.
  void SetWorker(const std::string& worker_id, double interval_seconds);

  // Starts the thread; call once.
  void Start();

  // Sends no more heartbeats; returns once the thread has ended (after a call in flight, at most
  // its 5 s deadline).
  void Stop();

  // Sets the attempts the following heartbeats report as running and takes the answers so far.
  Answers Exchange(std::vector<int64_t> running_attempt_ids);

 private:
  void SendUntilStopped();

  CoordinatorLink& link_;
  const std::function<void(Clock::time_point)> acknowledged_;
  const std::function<void()> wake_;
  std::thread thread_;
  std::mutex mu_;  // guards the members below
  std::condition_variable stopped_cv_;
  bool stopped_ = false;
  std::string worker_id_;
  double interval_seconds_ = 2;
  std::vector<int64_t> running_attempt_ids_;
  Answers answers_;
};

}  // namespace orchard::worker
