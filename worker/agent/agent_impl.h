// WorkerAgent's state and steps, shared by the files that implement them; include it only there.
//   agent.cc          the loop (Run), registration, fencing, shutdown
//   agent_launch.cc   leasing attempts and starting their trainers
//   agent_reports.cc  relaying metrics and checkpoints, reporting exits
// The heartbeats' thread is a HeartbeatSender; everything else runs on the thread that calls Run.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"
#include "worker/agent/agent.h"
#include "worker/agent/coordinator_link.h"
#include "worker/agent/exit_reason.h"
#include "worker/agent/heartbeat_sender.h"
#include "worker/agent/metrics_tail.h"
#include "worker/agent/slots.h"
#include "worker/agent/process_usage.h"
#include "worker/agent/trainer_launcher.h"

namespace orchard::worker {

class WorkerAgent::Impl {
 public:
  Impl(AgentOptions options, std::unique_ptr<CoordinatorLink> link);
  Status Run(const std::atomic<bool>& stop);
  void Wake();

 private:
  using Clock = std::chrono::steady_clock;

  struct Running {
    v1::Attempt attempt;
    int pid = 0;
    std::filesystem::path dir;
    std::string log_path;
    std::unique_ptr<MetricsTail> tail;
    std::vector<MetricRecord> unsent;  // read from the trainer, not yet acknowledged by the coordinator
    int64_t reported_checkpoint = -1;
    bool stop_sent = false;
    bool answers_decisions = false;     // its trainer waits at judged evaluations for decision.json
    bool fused = false;                 // a member of a fused group: other attempts share its trainer
    int64_t next_decision_step = 0;     // the step it waits at next (the latest answer's); 0: none
    bool answered_go_on = false;        // its answer file says go on and wait nowhere: a repeat tells it nothing
    Clock::time_point next_relay{};     // when its metrics are relayed next, waiting or not
    std::vector<int> gpus;
    int64_t gpu_share_bytes = 0;        // a shared GPU's memory it may use; 0: whole GPUs
    std::string visible_devices;        // the CUDA_VISIBLE_DEVICES it was given; empty on CPU
    UsagePeak usage;                    // what its processes used, sampled while it runs
    v1::ReportAttemptExitRequest exit;  // set when the trainer has exited
  };

  // agent.cc
  void Say(const std::string& line);
  Status Register(const std::atomic<bool>& stop);
  // Gives the heartbeat thread the attempts to report and acts on what its answers asked for.
  void TakeHeartbeatAnswers(const std::atomic<bool>& stop);
  // The coordinator renewed our lease with a call we sent at `sent`. Called from both threads.
  void Acknowledged(Clock::time_point sent);
  Clock::time_point FenceTime() const;
  void FenceIfSilent();
  // A call's deadline: `seconds` from now, but not past the fence while trainers run unfenced (once
  // past it, at once, so the loop comes round to FenceIfSilent).
  CoordinatorLink::Deadline Deadline(double seconds) const;
  void StopAttempt(int64_t id, const std::string& why);
  // On shutdown: every trainer checkpoints and exits, and each exit is reported.
  void Drain(const std::atomic<bool>& stop);
  // Leave at once rather than after a lease timeout; anything not reported is queued again.
  void Deregister();

  // agent_launch.cc
  int64_t FreeSlots() const;
  // Each GPU's room, when its memory is known (trials that share a GPU are placed by it).
  std::vector<v1::GpuRoom> GpuRooms() const;
  bool RoomOnASharedGpu() const;
  void Lease();
  // An attempt's directory, recipe file and first strategy answer, and its parsed recipe; nullopt
  // when it cannot run here (its exit is reported).
  std::optional<Recipe> Prepare(const v1::Attempt& attempt, Running& running);
  // The trainer's cores, GPUs and GPU memory share; false when it cannot be placed (its exit is reported).
  bool PlaceOnDevices(const Recipe& recipe, Running& running, LaunchRequest& request);
  void Start(const v1::Attempt& attempt);
  // One trainer for a fused group's attempts (docs/fusion.md).
  void StartFused(const std::vector<v1::Attempt>& group);
  // Starts the trainer of `trainers` (with each one's metrics file) and records them as running.
  void Launch(const LaunchRequest& request, std::vector<std::pair<Running, std::string>> trainers);
  bool GpuBusy(int gpu) const;

  // agent_reports.cc
  // Sends the new metric records of these attempts, all in one call (ReportMetricsBatch), and then
  // each one's new checkpoint; a STOP or PAUSE decision sends SIGTERM (the trainer checkpoints and
  // exits; the coordinator knows which it asked for). Records stay queued until the coordinator
  // acknowledges them (at least once; it stores each once): what the coordinator could not take
  // stays in each attempt's `unsent`. `trainers_run`: false for attempts whose trainer has exited,
  // whose answer files no one reads any more.
  void RelayReports(const std::vector<Running*>& due, bool trainers_run);
  // Reports each attempt's newest complete checkpoint that the coordinator has not heard of, all at
  // once.
  void ReportNewCheckpoints(const std::vector<Running*>& attempts);
  // Moves the trainer's new metric records to `unsent`; true when one is at or past the step its
  // trainer waits at for the strategy's answer.
  bool TakeNewRecords(Running& running);
  // Writes the strategy's answer to a trainer that reads them (decision.json), unless it says only
  // what the file already says: go on, and wait nowhere.
  void AnswerTrainer(Running& running, v1::Decision decision, int64_t decided_step, int64_t next_decision_step);
  void Relay();
  // Moves exited trainers' attempts to finishing_, and fused members that ended while their group
  // trains on; true when any attempt ended.
  bool HandleExits();
  // Reports `it`'s attempt ended (after its last metrics: FlushEnded) and moves it to finishing_.
  void EndRunning(std::map<int64_t, Running>::iterator it, int exit_code, int signal, const std::string& reason);
  // A fused member's end, once its trainer wrote its summary (result.json); nullopt before.
  std::optional<MemberEnd> MemberEndOf(const Running& running) const;
  // Samples what each running trainer's processes use (once a second at most).
  void SampleUsage();
  v1::ReportAttemptExitRequest MakeExit(int64_t attempt_id, int exit_code, int signal, const std::string& reason) const;
  // An attempt that ended before its trainer ran.
  void ReportExit(int64_t attempt_id, int exit_code, int signal, const std::string& reason);
  // Delivers ended attempts' last metrics, then their exits, in that order so the objective is final
  // when the trial ends. What the coordinator cannot take now is kept and retried on the next pass:
  // neither metrics nor exits are lost while it restarts.
  void FlushEnded();

  AgentOptions options_;
  Slots slots_;
  std::unique_ptr<CoordinatorLink> link_;
  std::unique_ptr<TrainerLauncher> launcher_;
  std::string worker_id_;
  std::string storage_root_;
  double lease_timeout_ = 15;
  Clock::time_point next_usage_sample_{};
  std::unique_ptr<GpuUsageSampler> gpu_sampler_;  // null where NVML cannot be loaded (or on CPU slots)
  bool gpu_sampling_failed_ = false;              // said once, then GPU figures stay unmeasured
  std::atomic<Clock::time_point> last_heartbeat_sent_{};  // of the last call that renewed our lease
  std::map<int64_t, Running> running_;   // by attempt id
  std::map<int64_t, Running> orphaned_;  // stopped after the coordinator declared us lost
  std::map<int64_t, Running> finishing_;  // exited; last metrics not yet delivered
  std::map<int64_t, v1::ReportAttemptExitRequest> unreported_exits_;  // not yet acknowledged
  Status refused_;                       // set when the coordinator refuses our token: Run ends
  Status slots_error_;                   // GPU discovery failed (a bad ORCHARD_GPU_INVENTORY): Run ends at once
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool woken_ = false;                   // guarded by wake_mu_
  // Last, so that its thread ends before the members it calls back into are destroyed.
  HeartbeatSender heartbeats_;
};

}  // namespace orchard::worker
