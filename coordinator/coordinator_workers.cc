// The Coordinator's workers and leases: registering, heartbeats, leasing attempts, their ends,
// workers declared lost, and trials no live worker can hold.
#include "coordinator/coordinator.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "coordinator/event_text.h"
#include "coordinator/placement/scheduler.h"
#include "coordinator/request_validation.h"

namespace orchard::coordinator {
namespace {

// Longest a worker's call to the coordinator may take (its deadlines are 5 to 10 s).
constexpr double kCallSeconds = 15;
// Pending trials looked at per lease, and per check of unplaceable ones: first in, first out.
constexpr int64_t kPendingTrialsPerLease = 1000;

TrialExited::Kind ExitKind(const std::string& state) {
  if (state == "completed") return TrialExited::Kind::kCompleted;
  if (state == "stopped") return TrialExited::Kind::kStopped;
  if (state == "canceled") return TrialExited::Kind::kCanceled;
  if (state == "paused") return TrialExited::Kind::kPaused;
  return TrialExited::Kind::kFailed;
}

Status UnknownWorker(const std::string& worker_id) {
  return NotFound("worker " + worker_id + " is not registered or was declared lost (no heartbeat within the lease "
                  "timeout); stop its attempts and register again");
}

// Where on the worker a trial went, for its "started" event: "" on CPU slots.
std::string PlacementText(const Placement& placement, int64_t fused_into_number) {
  const std::string fused = placement.fused_into != 0 ? ", fused with " + TrialName(fused_into_number) : "";
  if (placement.gpus.empty()) return fused;
  std::string gpus;
  for (int32_t gpu : placement.gpus) gpus += (gpus.empty() ? "" : ",") + std::to_string(gpu);
  std::string text = (placement.gpus.size() == 1 ? ", GPU " : ", GPUs ") + gpus;
  if (placement.gpu_share_bytes > 0) {
    std::ostringstream share;
    share << " (a " << std::lround(placement.gpu_share_fraction * 100) << "% share of its memory)";
    text += share.str();
  }
  return text + fused;
}

}  // namespace

StatusOr<v1::RegisterWorkerResponse> Coordinator::RegisterWorker(const v1::RegisterWorkerRequest& request) {
  RETURN_IF_ERROR(ValidateRegister(request));
  WriteScope write(*this);
  Transaction tx = store_->Begin();
  RETURN_IF_ERROR(tx.status());
  const std::vector<int64_t> gpu_memory(request.gpu_memory_bytes().begin(), request.gpu_memory_bytes().end());
  ASSIGN_OR_RETURN(std::string id,
                   store_->InsertWorker(request.hostname(), request.slots(), request.slot_kind(), gpu_memory, Now()));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  v1::RegisterWorkerResponse response;
  response.set_worker_id(id);
  response.set_heartbeat_interval_seconds(options_.heartbeat_interval_seconds);
  response.set_lease_timeout_seconds(options_.lease_timeout_seconds);
  response.set_storage_root(storage_root_);
  RETURN_IF_ERROR(write.Commit());
  return response;
}

StatusOr<v1::HeartbeatResponse> Coordinator::Heartbeat(const v1::HeartbeatRequest& request) {
  RETURN_IF_ERROR(ValidateHeartbeat(request));
  WriteScope write(*this);
  ASSIGN_OR_RETURN(const std::optional<WorkerRecord> worker, store_->LoadWorker(request.worker_id()));
  if (!worker || !worker->alive) return UnknownWorker(request.worker_id());
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  {
    std::lock_guard<std::mutex> heard(heard_mu_);
    last_heard_[request.worker_id()] = Now();
  }
  const std::set<int64_t> reported(request.running_attempt_ids().begin(), request.running_attempt_ids().end());
  v1::HeartbeatResponse response;
  std::set<int64_t> active;
  std::vector<AttemptRecord> forgotten;  // the worker no longer runs them (it restarted, or the trainer vanished)
  // A heartbeat sent before the worker saw a lease may arrive after it: attempts younger than a
  // call's lifetime are given time to show up in a later heartbeat.
  const double leased_before = Now() - kCallSeconds;
  ASSIGN_OR_RETURN(const std::vector<AttemptRecord> attempts, store_->ActiveAttempts(request.worker_id()));
  for (const AttemptRecord& a : attempts) {
    if (!reported.count(a.id)) {
      if (a.started_at < leased_before) forgotten.push_back(a);
      continue;
    }
    active.insert(a.id);  // adopted: after a coordinator restart this is how running attempts are confirmed
    if (a.state == "stopping") response.add_stop_attempt_ids(a.id);
  }
  // Anything the worker runs that the coordinator has ended must stop, so nothing runs twice.
  for (int64_t id : reported)
    if (!active.count(id)) response.add_stop_attempt_ids(id);
  if (!forgotten.empty())
    RETURN_IF_ERROR(LoseAttemptsLocked(forgotten, "worker " + request.worker_id() + " no longer runs it"));
  RETURN_IF_ERROR(tx.Commit());
  if (!forgotten.empty()) Changed();
  RETURN_IF_ERROR(write.Commit());
  return response;
}

StatusOr<v1::LeaseAttemptsResponse> Coordinator::LeaseAttempts(const v1::LeaseAttemptsRequest& request) {
  RETURN_IF_ERROR(ValidateLease(request));
  WriteScope write(*this);
  ASSIGN_OR_RETURN(const std::optional<WorkerRecord> worker, store_->LoadWorker(request.worker_id()));
  if (!worker || !worker->alive) return UnknownWorker(request.worker_id());
  const double now = Now();
  Transaction tx = store_->Begin();
  RETURN_IF_ERROR(tx.status());
  RETURN_IF_ERROR(store_->TouchWorker(request.worker_id(), now));
  v1::LeaseAttemptsResponse response;
  ASSIGN_OR_RETURN(const double busy, store_->BusySlots(request.worker_id()));
  // Shares of a GPU hold fractions of slots; no GPU holds more than one, so the floor never hides an
  // idle one (the worker's own count of idle GPUs is the bound).
  const auto whole_free = static_cast<int64_t>(std::floor(static_cast<double>(worker->slots) - busy + 1e-9));
  FreeSlots offer{request.worker_id(), std::min(request.free_slots(), whole_free), {}};
  if (offer.free > 0) offer.slot_memory_bytes = request.memory_available_bytes() / offer.free;
  offer.slot_threads = request.threads_per_slot();
  for (const v1::GpuRoom& gpu : request.gpus())
    offer.gpus.push_back({gpu.index(), gpu.total_bytes(), gpu.free_bytes(), gpu.idle()});
  // A GPU that trials share may have room when no slot is free.
  const bool room_on_a_shared_gpu =
      std::any_of(offer.gpus.begin(), offer.gpus.end(), [](const GpuRoom& g) { return !g.idle && g.free_bytes > 0; });
  if (offer.free > 0 || room_on_a_shared_gpu) {
    SweepRoom room;
    ASSIGN_OR_RETURN(const auto running, store_->RunningTrialsBySweep());
    ASSIGN_OR_RETURN(const std::vector<int64_t> running_sweeps, store_->RunningSweepIds());
    std::map<int64_t, SweepRecord> records;  // read from the store only for sweeps placed now
    for (int64_t sweep_id : running_sweeps) {
      // Running sweeps' specs are in memory; one whose strategy could not be loaded is read here.
      const auto active = sweeps_.find(sweep_id);
      if (active == sweeps_.end()) {
        ASSIGN_OR_RETURN(records[sweep_id], store_->LoadSweep(sweep_id));
      }
      const int64_t max_concurrent = active != sweeps_.end() ? active->second.spec.max_concurrent
                                                             : records[sweep_id].spec.value("max_concurrent", int64_t{0});
      if (max_concurrent > 0) room[sweep_id] = max_concurrent - (running.count(sweep_id) ? running.at(sweep_id) : 0);
    }
    ASSIGN_OR_RETURN(const std::vector<PendingTrial> pending, store_->PendingTrials(kPendingTrialsPerLease));
    const auto placements = PlaceTrials({offer}, pending, room);
    // A placed trial's index in the response and its number, by id: fused groups join it.
    std::map<int64_t, std::pair<int, int64_t>> leased_by_trial;
    for (const Placement& placement : placements) {
      ASSIGN_OR_RETURN(v1::Trial trial, store_->GetTrial(placement.trial_id));
      if (!records.count(trial.sweep_id())) {
        ASSIGN_OR_RETURN(records[trial.sweep_id()], store_->LoadSweep(trial.sweep_id()));
      }
      const std::string token = NewToken(TokenKind::kAttempt);
      const SweepRecord& sweep = records.at(trial.sweep_id());
      const int64_t ranks = sweep.spec.value("ranks", int64_t{1});
      // A fused group's members train on its first member's slot and hold none of their own.
      const bool joins = placement.fused_into != 0;
      const double slots = joins ? 0.0 : placement.gpu_share_bytes > 0 ? placement.gpu_share_fraction : static_cast<double>(ranks);
      std::pair<int, int64_t> first{-1, 0};
      if (joins) {
        const auto group = leased_by_trial.find(placement.fused_into);
        if (group == leased_by_trial.end())
          return Internal("trial " + std::to_string(trial.id()) + " was placed in the group of trial " +
                          std::to_string(placement.fused_into) + ", which this lease does not start");
        first = group->second;
      }
      ASSIGN_OR_RETURN(AttemptRecord attempt, store_->InsertAttempt(trial.id(), request.worker_id(), HashToken(token),
                                                                    trial.output_dir() + "/", slots, now));
      RETURN_IF_ERROR(store_->SetTrialState(trial.id(), "running", "", now));
      RETURN_IF_ERROR(store_->AddEvent(sweep.id, now, TrialName(trial.number()) + " started on " + request.worker_id() +
                                                          PlacementText(placement, first.second)));
      leased_by_trial[trial.id()] = {response.attempts_size(), trial.number()};
      v1::Attempt* leased = response.add_attempts();
      leased->set_attempt_id(attempt.id);
      leased->set_trial_id(trial.id());
      leased->set_sweep_id(trial.sweep_id());
      leased->set_number(attempt.number);
      leased->set_recipe_yaml(sweep.recipe_yaml);
      leased->set_recipe_file(sweep.recipe_file);
      // The champion's evaluation judges the champion's hyperparameters, not a point of this sweep.
      // A running sweep's space is in memory; one whose strategy could not be loaded is read here.
      const auto in_memory = sweeps_.find(trial.sweep_id());
      std::vector<ParameterSpace> parameters;
      if (trial.number() != kChampionEvaluationTrial)
        parameters = in_memory != sweeps_.end() ? in_memory->second.spec.parameters : SweepSpecFromJson(sweep.spec).parameters;
      for (const std::string& o : TrialOverrides(sweep, parameters, trial)) leased->add_overrides(o);
      leased->set_output_dir(trial.output_dir());
      leased->set_token(token);  // the only time it leaves the coordinator
      leased->set_slots(joins ? 0 : ranks);
      if (joins) {
        v1::Attempt* group = response.mutable_attempts(first.first);
        group->set_fused_group(group->attempt_id());
        leased->set_fused_group(group->attempt_id());
        RETURN_IF_ERROR(store_->JoinFusedGroup(attempt.id, group->attempt_id()));
      }
      leased->set_resume(attempt.number > 1);
      leased->set_log_path(attempt.log_path);
      leased->set_evaluate_only(trial.number() == kChampionEvaluationTrial);
      for (int32_t gpu : placement.gpus) leased->add_gpus(gpu);
      leased->set_gpu_share_bytes(placement.gpu_share_bytes);
      const auto active = sweeps_.find(trial.sweep_id());
      const bool judged = active != sweeps_.end() && active->second.search_outcome.empty() && !leased->evaluate_only();
      // From its last report of the sweep's metric: a later train_loss may have passed an unjudged rung.
      leased->set_next_decision_step(
          judged ? active->second.strategy->NextDecisionStep(trial.number(), trial.objective_step()) : kNoDecision);
    }
  }
  RETURN_IF_ERROR(tx.Commit());
  if (response.attempts_size() > 0) Changed();
  RETURN_IF_ERROR(write.Commit());
  return response;
}

Status Coordinator::EndAttemptLocked(const AttemptRecord& attempt, AttemptEnd end, const AttemptUsage& usage) {
  const double now = Now();
  end.stop_reason = attempt.stop_reason;
  RETURN_IF_ERROR(
      store_->EndAttempt(attempt.id, end.lost ? "lost" : "exited", end.exit_code, end.signal, end.reason, now, usage));
  ASSIGN_OR_RETURN(SweepRecord sweep, store_->LoadSweep(attempt.sweep_id));
  ASSIGN_OR_RETURN(v1::Trial trial, store_->GetTrial(attempt.trial_id));
  const TrialOutcome outcome =
      DecideTrialOutcome(end, trial.restarts(), sweep.spec.value("max_restarts", SweepSpec{}.max_restarts));
  if (outcome.requeue) {
    RETURN_IF_ERROR(store_->RequeueTrial(attempt.trial_id, outcome.message, outcome.counts_as_restart));
    return store_->AddEvent(attempt.sweep_id, now, TrialName(trial.number()) + " " + outcome.message);
  }
  RETURN_IF_ERROR(store_->SetTrialState(attempt.trial_id, outcome.state, outcome.message, now));
  RETURN_IF_ERROR(store_->AddEvent(attempt.sweep_id, now,
                                   Describe(trial, sweep.spec.value("metric", "")) + " " + outcome.state +
                                       (outcome.message.empty() || outcome.message == outcome.state ? "" : ": " + outcome.message)));
  if (attempt.trial_number != kChampionEvaluationTrial)
    return HandleSearchEvent(attempt.sweep_id, TrialExited{attempt.trial_number, ExitKind(outcome.state)});
  // The search may have finished while the evaluation ran; then the sweep ends now.
  const auto waiting = sweeps_.find(attempt.sweep_id);
  if (waiting == sweeps_.end() || waiting->second.search_outcome.empty()) return OkStatus();
  return FinishSweepLocked(attempt.sweep_id, waiting->second.search_outcome, waiting->second.search_outcome);
}

Status Coordinator::LoseAttemptsLocked(const std::vector<AttemptRecord>& attempts, const std::string& reason) {
  for (const AttemptRecord& attempt : attempts) {
    AttemptEnd end;
    end.lost = true;
    end.reason = "attempt " + std::to_string(attempt.number) + " lost: " + reason;
    RETURN_IF_ERROR(EndAttemptLocked(attempt, end));
  }
  return OkStatus();
}

Status Coordinator::ReportAttemptExit(const v1::ReportAttemptExitRequest& request) {
  RETURN_IF_ERROR(ValidateExit(request));
  WriteScope write(*this);
  ASSIGN_OR_RETURN(AttemptRecord attempt, store_->LoadAttempt(request.attempt_id()));
  if (attempt.worker_id != request.worker_id())
    return PermissionDenied("attempt " + std::to_string(attempt.id) + " was leased to worker " + attempt.worker_id +
                            ", not " + request.worker_id());
  // Already ended (a retry, or the worker was declared lost), perhaps by a write of the open batch.
  if (!attempt.active()) return write.Commit();
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  AttemptEnd end;
  end.exit_code = request.exit_code();
  end.signal = request.signal();
  end.reason = request.reason();
  const AttemptUsage usage = {request.cpu_seconds(), request.peak_memory_bytes(), request.gpu_peak_memory_bytes(),
                               request.gpu_utilization_percent()};
  if (const std::string problem = ProvenanceProblem(request); !problem.empty()) {
    RETURN_IF_ERROR(store_->AddEvent(attempt.sweep_id, Now(),
                                     TrialName(attempt.trial_number) + " attempt " + std::to_string(attempt.number) +
                                         ": its provenance was not kept: " + problem));
  } else if (!request.provenance_json().empty() || !request.parameter_digest().empty()) {
    RETURN_IF_ERROR(store_->RecordAttemptProvenance(attempt.id, request.provenance_json(), request.parameter_digest()));
  }
  RETURN_IF_ERROR(EndAttemptLocked(attempt, end, usage));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return write.Commit();
}

Status Coordinator::DeregisterWorker(const v1::DeregisterWorkerRequest& request) {
  RETURN_IF_ERROR(ValidateDeregister(request));
  WriteScope write(*this);
  ASSIGN_OR_RETURN(const std::optional<WorkerRecord> worker, store_->LoadWorker(request.worker_id()));
  if (!worker || !worker->alive) return write.Commit();  // idempotent
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  RETURN_IF_ERROR(store_->MarkWorkerLost(request.worker_id()));
  ForgetHeard(request.worker_id());
  ASSIGN_OR_RETURN(const std::vector<AttemptRecord> attempts, store_->ActiveAttempts(request.worker_id()));
  RETURN_IF_ERROR(LoseAttemptsLocked(attempts, "worker " + request.worker_id() + " left without reporting its end"));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return write.Commit();
}

double Coordinator::LastHeard(const std::string& worker_id) const {
  std::lock_guard<std::mutex> heard(heard_mu_);
  const auto it = last_heard_.find(worker_id);
  return it == last_heard_.end() ? 0 : it->second;
}

void Coordinator::ForgetHeard(const std::string& worker_id) {
  std::lock_guard<std::mutex> heard(heard_mu_);
  last_heard_.erase(worker_id);
}

Status Coordinator::ExpireWorkers() {
  const auto lock = LockSettled();
  const double now = Now();
  const double cutoff = now - options_.lease_timeout_seconds;
  ASSIGN_OR_RETURN(std::vector<std::string> silent, store_->WorkersSilentSince(cutoff));
  std::erase_if(silent, [&](const std::string& worker_id) { return LastHeard(worker_id) >= cutoff; });
  if (silent.empty()) return OkStatus();
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  for (const std::string& worker_id : silent) {
    RETURN_IF_ERROR(store_->MarkWorkerLost(worker_id));
    ForgetHeard(worker_id);
    std::ostringstream reason;
    reason << "worker " << worker_id << " lost: no heartbeat for " << options_.lease_timeout_seconds << " s";
    ASSIGN_OR_RETURN(const std::vector<AttemptRecord> attempts, store_->ActiveAttempts(worker_id));
    RETURN_IF_ERROR(LoseAttemptsLocked(attempts, reason.str()));
  }
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return OkStatus();
}

Status Coordinator::CheckUnplaceableTrials() {
  const auto lock = LockSettled();
  const double now = Now();
  ASSIGN_OR_RETURN(const std::vector<v1::Worker> workers, store_->ListWorkers());
  std::vector<WorkerCapacity> live;
  for (const v1::Worker& worker : workers)
    if (worker.alive()) live.push_back({worker.slots(), {worker.gpu_memory_bytes().begin(), worker.gpu_memory_bytes().end()}});
  ASSIGN_OR_RETURN(const std::vector<PendingTrial> pending, store_->PendingTrials(kPendingTrialsPerLease));
  ASSIGN_OR_RETURN(const auto waiting, store_->WaitingReasons());
  // The common case, every trial placeable and none marked: no write transaction.
  const bool all_placeable = std::all_of(pending.begin(), pending.end(), [&](const PendingTrial& trial) {
    return UnplaceableReason(trial, live).empty();
  });
  if (all_placeable && waiting.empty()) return OkStatus();
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  bool changed = false;
  std::map<int64_t, int64_t> timeouts;  // by sweep
  for (const PendingTrial& trial : pending) {
    const std::string reason = UnplaceableReason(trial, live);
    const auto before = waiting.find(trial.trial_id);
    if (reason.empty()) {
      if (before == waiting.end()) continue;
      RETURN_IF_ERROR(store_->SetTrialWaiting(trial.trial_id, "", 0));
      changed = true;
      continue;
    }
    const double since = before == waiting.end() ? now : before->second.second;
    if (before == waiting.end() || before->second.first != reason) {
      RETURN_IF_ERROR(store_->SetTrialWaiting(trial.trial_id, reason, since));
      changed = true;
    }
    if (!timeouts.count(trial.sweep_id)) {
      ASSIGN_OR_RETURN(const SweepRecord sweep, store_->LoadSweep(trial.sweep_id));
      timeouts[trial.sweep_id] =
          sweep.spec.value("unplaceable_timeout_seconds", SweepSpec{}.unplaceable_timeout_seconds);
    }
    const int64_t timeout = timeouts[trial.sweep_id];
    if (timeout <= 0 || now - since < static_cast<double>(timeout)) continue;
    ASSIGN_OR_RETURN(const v1::Trial ended, store_->GetTrial(trial.trial_id));
    const std::string message = reason + "; waited " + std::to_string(timeout) + " s (sweep.unplaceable_timeout_seconds): " +
                                (trial.share.any() ? "start a worker with a larger GPU or lower sweep.gpu_memory_gib"
                                                   : "start a larger worker or lower sweep.ranks");
    RETURN_IF_ERROR(store_->SetTrialState(trial.trial_id, "failed", message, now));
    RETURN_IF_ERROR(store_->AddEvent(trial.sweep_id, now, TrialName(ended.number()) + " failed: " + message));
    RETURN_IF_ERROR(HandleSearchEvent(trial.sweep_id, TrialExited{ended.number(), TrialExited::Kind::kFailed}));
    changed = true;
  }
  RETURN_IF_ERROR(tx.Commit());
  if (changed) Changed();
  return OkStatus();
}

}  // namespace orchard::coordinator
