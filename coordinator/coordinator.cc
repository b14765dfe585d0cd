#include "coordinator/coordinator.h"

#include <filesystem>
#include <set>
#include <utility>

#include "coordinator/access/path_confinement.h"
#include "coordinator/event_text.h"
#include "coordinator/registry/checkpoint_clone.h"

namespace orchard::coordinator {
namespace {

namespace fs = std::filesystem;

}  // namespace

Coordinator::Coordinator(CoordinatorOptions options, std::unique_ptr<Store> store)
    : options_(std::move(options)), store_(std::move(store)) {
  if (options_.clock == nullptr) options_.clock = &system_clock_;
  storage_root_ = options_.storage_root;
}

StatusOr<std::unique_ptr<Coordinator>> Coordinator::Open(const CoordinatorOptions& options) {
  std::error_code error;
  fs::create_directories(options.state_dir, error);
  if (error)
    return FailedPrecondition("cannot create the state directory " + options.state_dir + ": " + error.message());
  CoordinatorOptions resolved = options;
  if (resolved.storage_root.empty()) resolved.storage_root = (fs::path(options.state_dir) / "storage").string();
  fs::create_directories(resolved.storage_root, error);
  if (error)
    return FailedPrecondition("cannot create the storage root " + resolved.storage_root + ": " + error.message());
  resolved.storage_root = fs::absolute(resolved.storage_root).lexically_normal().string();
  std::vector<std::string> path_roots;
  if (resolved.confine_paths) {
    std::vector<std::string> roots = {resolved.storage_root};
    roots.insert(roots.end(), resolved.allowed_path_roots.begin(), resolved.allowed_path_roots.end());
    ASSIGN_OR_RETURN(path_roots, CanonicalRoots(roots));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open((fs::path(options.state_dir) / "orchard.db").string(),
                                                             resolved.storage_root, options.before_schema_upgrade));
  std::unique_ptr<Coordinator> coordinator(new Coordinator(resolved, std::move(store)));
  coordinator->store_->ObserveCommits(&coordinator->commit_seconds_);
  coordinator->reads_ = std::make_unique<ReadPool>((fs::path(options.state_dir) / "orchard.db").string(), resolved.storage_root);
  // Workers kept running while the coordinator was down: give each a full lease to reconnect and
  // report what it runs before anything is declared lost.
  if (!resolved.read_only) RETURN_IF_ERROR(coordinator->store_->TouchAliveWorkers(coordinator->Now()));
  coordinator->path_roots_ = std::move(path_roots);
  coordinator->canonical_storage_root_ = fs::canonical(resolved.storage_root, error).string();
  if (error) return FailedPrecondition("cannot resolve the storage root " + resolved.storage_root + ": " + error.message());
  coordinator->registry_ = std::make_unique<ModelRegistry>(*coordinator->store_, resolved.storage_root,
                                                           std::vector<std::string>{coordinator->canonical_storage_root_});
  ASSIGN_OR_RETURN(const std::vector<int64_t> running, coordinator->store_->RunningSweepIds());
  for (int64_t sweep_id : running) {
    ASSIGN_OR_RETURN(SweepRecord record, coordinator->store_->LoadSweep(sweep_id));
    const SweepSpec spec = SweepSpecFromJson(record.spec);
    ASSIGN_OR_RETURN(auto strategy, MakeSearchStrategy(spec, &record.strategy_state));
    coordinator->sweeps_[sweep_id] = {std::move(strategy), record.name, spec, record.search_outcome};
  }
  return coordinator;
}

void Coordinator::Changed() {
  if (batch_ != nullptr) {
    batch_changed_ = true;  // watchers read committed state: wake them when the batch commits
    return;
  }
  ++version_;
  changed_.notify_all();
}

void Coordinator::BatchOutcome::Settle(Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    settled_ = true;
    status_ = std::move(status);
  }
  settled_cv_.notify_all();
}

Status Coordinator::BatchOutcome::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  settled_cv_.wait(lock, [&] { return settled_; });
  return status_;
}

Coordinator::WriteScope::WriteScope(Coordinator& coordinator) : coordinator_(coordinator) {
  ++coordinator_.writers_waiting_;
  lock_ = std::unique_lock<std::mutex>(coordinator_.mu_);
  --coordinator_.writers_waiting_;
  if (coordinator_.batch_ == nullptr) {
    coordinator_.batch_ = coordinator_.store_->BeginHeld();
    // Should BEGIN fail (the file is locked by another process), the write's own transaction meets
    // the same error and reports it; there is no batch.
    if (!coordinator_.batch_->status().ok()) {
      coordinator_.batch_.reset();
      return;
    }
    coordinator_.batch_writes_ = 0;
    coordinator_.batch_outcome_ = std::make_shared<BatchOutcome>();
  }
  batch_ = coordinator_.batch_outcome_;
}

Coordinator::WriteScope::~WriteScope() {
  // A write that failed waits too: what it answers may rest on earlier writes of its batch.
  if (!ended_) (void)coordinator_.EndWriteLocked(lock_, batch_);
}

Status Coordinator::WriteScope::Commit() {
  ended_ = true;
  return coordinator_.EndWriteLocked(lock_, batch_);
}

Status Coordinator::EndWriteLocked(std::unique_lock<std::mutex>& lock, const std::shared_ptr<BatchOutcome>& batch) {
  if (batch == nullptr) return OkStatus();  // it committed alone
  // The batch is still the open one: the write has held mu_ since it joined.
  ++batch_writes_;
  // A writer queued behind this one joins the batch and commits it, or hands it on in turn.
  if (writers_waiting_.load() == 0 || batch_writes_ >= kMaxWritesPerCommit) CommitBatchLocked();
  lock.unlock();
  return batch->Wait();
}

void Coordinator::CommitBatchLocked() {
  if (batch_ == nullptr) return;
  const Status status = batch_->Commit();
  batch_.reset();
  // Settled before anything that could throw: its writers need none of what follows.
  std::exchange(batch_outcome_, nullptr)->Settle(status);
  writes_per_commit_.Observe({}, static_cast<double>(batch_writes_));
  if (!status.ok()) {
    ReloadSweepsLocked(batch_touched_);
  }
  batch_touched_.clear();
  if (std::exchange(batch_changed_, false) && status.ok()) Changed();
}

std::unique_lock<std::mutex> Coordinator::LockSettled() {
  std::unique_lock<std::mutex> lock(mu_);
  CommitBatchLocked();
  return lock;
}

void Coordinator::ReloadSweepsLocked(const std::set<int64_t>& sweep_ids) {
  for (int64_t sweep_id : sweep_ids) {
    sweeps_.erase(sweep_id);
    auto record = store_->LoadSweep(sweep_id);
    if (!record.ok() || record->state != "running") continue;  // inserted or finished by the rolled-back work
    const SweepSpec spec = SweepSpecFromJson(record->spec);
    // A snapshot the strategy made itself; should it not load, a restart reports why.
    if (auto strategy = MakeSearchStrategy(spec, &record->strategy_state); strategy.ok())
      sweeps_[sweep_id] = {std::move(strategy).value(), record->name, spec, record->search_outcome};
  }
}

uint64_t Coordinator::version() {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

uint64_t Coordinator::WaitForChange(uint64_t version, double timeout_seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_for(lock, std::chrono::duration<double>(timeout_seconds), [&] { return version_ != version; });
  return version_;
}

Coordinator::StrategyTransaction::StrategyTransaction(Coordinator& coordinator)
    : coordinator_(coordinator), tx_(coordinator.store_->Begin()) {
  coordinator_.touched_.clear();
}

Status Coordinator::StrategyTransaction::Commit() {
  RETURN_IF_ERROR(tx_.Commit());
  committed_ = true;
  std::set<int64_t> touched;
  touched.swap(coordinator_.touched_);
  // Inside a batch, the batch's commit can still fail: then these reload too. Taken now, while
  // mu_ is held: the write may wait for its batch, and other writes use touched_ meanwhile.
  if (coordinator_.batch_ != nullptr) coordinator_.batch_touched_.insert(touched.begin(), touched.end());
  return OkStatus();
}

Coordinator::StrategyTransaction::~StrategyTransaction() {
  if (committed_) return;
  std::set<int64_t> touched;
  touched.swap(coordinator_.touched_);
  tx_.Rollback();
  coordinator_.ReloadSweepsLocked(touched);
}

Status Coordinator::HandleSearchEvent(int64_t sweep_id, const SearchEvent& event) {
  std::deque<SearchEvent> events = {event};
  while (!events.empty()) {
    auto it = sweeps_.find(sweep_id);
    // The sweep (or its search) has ended; nothing more to decide.
    if (it == sweeps_.end() || !it->second.search_outcome.empty()) return OkStatus();
    Touch(sweep_id);
    ActiveSweep& sweep = it->second;
    const SearchEvent next = std::move(events.front());
    events.pop_front();
    for (const SearchAction& action : sweep.strategy->Handle(next)) {
      RETURN_IF_ERROR(ApplyAction(sweep_id, sweep, action, &events));
      if (std::holds_alternative<FinishSweep>(action)) return OkStatus();  // `sweep` is gone
    }
    RETURN_IF_ERROR(store_->SaveStrategyState(sweep_id, sweep.strategy->Snapshot()));
  }
  return OkStatus();
}

Status Coordinator::ApplyAction(int64_t sweep_id, ActiveSweep& sweep, const SearchAction& action,
                                std::deque<SearchEvent>* caused) {
  const double now = Now();
  if (const auto* create = std::get_if<CreateTrial>(&action)) {
    const std::string output_dir = sweep.name + "-" + std::to_string(sweep_id) + "/trial-" + std::to_string(create->trial);
    return store_->InsertTrial(sweep_id, create->trial, create->hyperparameters, output_dir, now);
  }
  if (std::holds_alternative<FinishSweep>(action)) {
    const auto sweep_now = store_->GetSweep(sweep_id);
    const bool any_completed = sweep_now.ok() && sweep_now->trials_by_state().count("completed") > 0;
    return FinishSweepLocked(sweep_id, any_completed ? "completed" : "failed",
                             any_completed ? "completed" : "failed: no trial completed");
  }
  const int64_t number = std::visit(
      [](const auto& a) -> int64_t {
        if constexpr (std::is_same_v<std::decay_t<decltype(a)>, FinishSweep>) return -1;
        else return a.trial;
      },
      action);
  ASSIGN_OR_RETURN(int64_t trial_id, store_->TrialId(sweep_id, number));
  ASSIGN_OR_RETURN(v1::Trial trial, store_->GetTrial(trial_id));
  ASSIGN_OR_RETURN(const std::optional<AttemptRecord> attempt, store_->ActiveAttemptOfTrial(trial_id));
  const std::string name = "trial " + std::to_string(number);
  if (const auto* go_on = std::get_if<ContinueTrial>(&action)) return store_->RecordDecision(trial_id, "continue", go_on->rung);
  if (const auto* stop = std::get_if<StopTrial>(&action)) {
    RETURN_IF_ERROR(store_->RecordDecision(trial_id, "stop", stop->rung));
    if (attempt) return store_->SetAttemptStopping(attempt->id, "stopped");
    if (trial.state() == v1::TRIAL_PENDING || trial.state() == v1::TRIAL_PAUSED) {
      RETURN_IF_ERROR(store_->SetTrialState(trial_id, "stopped",
                                            trial.state() == v1::TRIAL_PAUSED ? "stopped by the search while paused"
                                                                              : "stopped by the search before it started",
                                            now));
      caused->push_back(TrialExited{number, TrialExited::Kind::kStopped});
      return store_->AddEvent(sweep_id, now, Describe(trial, sweep.spec.metric) + " stopped");
    }
    return OkStatus();
  }
  if (const auto* pause = std::get_if<PauseTrial>(&action)) {
    // Strategies pause a trial at its own report, which only a running attempt sends.
    if (!attempt) return Internal("the search paused " + name + ", which is not running");
    RETURN_IF_ERROR(store_->RecordDecision(trial_id, "pause", pause->rung));
    return store_->SetAttemptStopping(attempt->id, "paused");
  }
  const auto& resume = std::get<ResumeTrial>(action);
  if (trial.state() != v1::TRIAL_PAUSED) return Internal("the search resumed " + name + ", which is not paused");
  std::string message = "resumed by the search";
  bool exploited = false;
  if (resume.clone_from >= 0) {
    ASSIGN_OR_RETURN(int64_t parent_id, store_->TrialId(sweep_id, resume.clone_from));
    ASSIGN_OR_RETURN(v1::Trial parent, store_->GetTrial(parent_id));
    // The copy failing leaves the trial with its own checkpoint (and the new hyperparameters): the
    // search goes on rather than stall on a file system error.
    auto cloned = parent.checkpoint().empty()
                      ? StatusOr<ClonedCheckpoint>(NotFound("it has not reported a checkpoint yet"))
                      : CloneCheckpoint(storage_root_, parent.checkpoint(), parent.output_dir(),
                                        trial.output_dir() + "/checkpoints", {canonical_storage_root_});
    if (!cloned.ok()) {
      message = "resumed from its own checkpoint: trial " + std::to_string(resume.clone_from) + "'s could not be copied (" +
                cloned.status().message() + ")";
    } else {
      RETURN_IF_ERROR(store_->RecordCheckpoint(trial_id, cloned->path));
      RETURN_IF_ERROR(store_->RewindTrial(trial_id, cloned->step));
      std::vector<Hyperparameter> next = resume.hyperparameters;
      if (next.empty())
        for (const auto& h : trial.hyperparameters()) next.push_back({h.path(), h.value()});
      RETURN_IF_ERROR(store_->AppendLineage(trial_id, cloned->step, resume.clone_from, next, now));
      message = "continues from trial " + std::to_string(resume.clone_from) + "'s checkpoint of step " +
                std::to_string(cloned->step);
      exploited = true;
    }
  }
  if (!resume.hyperparameters.empty()) RETURN_IF_ERROR(store_->SetTrialHyperparameters(trial_id, resume.hyperparameters));
  RETURN_IF_ERROR(store_->RecordDecision(trial_id, exploited ? "exploit" : "resume", -1));
  RETURN_IF_ERROR(store_->RequeueTrial(trial_id, message, /*counts_as_restart=*/false));
  return store_->AddEvent(sweep_id, now, name + " " + message);
}

Status Coordinator::FinishSweepLocked(int64_t sweep_id, std::string state, std::string message) {
  const double now = Now();
  Touch(sweep_id);
  ASSIGN_OR_RETURN(const std::vector<v1::Trial> trials, store_->ListTrials(sweep_id));
  // The champion's evaluation is what a completed search's best trial is judged against.
  const bool evaluation_goes_on =
      state == "completed" && std::any_of(trials.begin(), trials.end(), [](const v1::Trial& trial) {
        return trial.number() == kChampionEvaluationTrial &&
               (trial.state() == v1::TRIAL_PENDING || trial.state() == v1::TRIAL_RUNNING);
      });
  const std::string why = state == "canceled" ? "the sweep was canceled" : "the search finished";
  int64_t stopping = 0;
  for (const v1::Trial& trial : trials) {
    if (evaluation_goes_on && trial.number() == kChampionEvaluationTrial) continue;
    if (trial.state() == v1::TRIAL_PENDING)
      RETURN_IF_ERROR(store_->SetTrialState(trial.id(), "canceled", why + " before it started", now));
    if (trial.state() == v1::TRIAL_PAUSED)
      RETURN_IF_ERROR(store_->SetTrialState(trial.id(), state == "canceled" ? "canceled" : "stopped", why + " while it was paused", now));
    if (trial.state() != v1::TRIAL_RUNNING) continue;
    ASSIGN_OR_RETURN(const std::optional<AttemptRecord> attempt, store_->ActiveAttemptOfTrial(trial.id()));
    if (attempt) {
      RETURN_IF_ERROR(store_->SetAttemptStopping(attempt->id, state == "canceled" ? "canceled" : "stopped"));
      ++stopping;
    }
  }
  const std::string stopping_note = stopping ? "; " + std::to_string(stopping) + " running trials are stopping" : "";
  if (evaluation_goes_on) {
    RETURN_IF_ERROR(store_->SetSearchOutcome(sweep_id, state));
    sweeps_.at(sweep_id).search_outcome = state;
    return store_->AddEvent(sweep_id, now, "search " + message + stopping_note +
                                               "; the sweep ends when the champion's evaluation does");
  }
  RETURN_IF_ERROR(store_->FinishSweep(sweep_id, state, now));
  sweeps_.erase(sweep_id);
  RETURN_IF_ERROR(store_->AddEvent(sweep_id, now, message + stopping_note));
  ASSIGN_OR_RETURN(SweepRecord record, store_->LoadSweep(sweep_id));
  if (state != "completed" || record.model.empty()) return OkStatus();
  ASSIGN_OR_RETURN(std::string judged, registry_->JudgeSweep(record, now));
  return store_->AddEvent(sweep_id, now, judged);
}

}  // namespace orchard::coordinator
