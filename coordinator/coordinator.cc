#include "coordinator/coordinator.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "coordinator/checkpoint_clone.h"
#include "coordinator/path_confinement.h"
#include "coordinator/request_validation.h"
#include "coordinator/scheduler.h"
#include "core/recipe.h"

namespace orchard::coordinator {
namespace {

namespace fs = std::filesystem;

const char* KindName(ParameterSpace::Kind kind) {
  switch (kind) {
    case ParameterSpace::Kind::kConstant: return "constant";
    case ParameterSpace::Kind::kValues: return "values";
    case ParameterSpace::Kind::kUniform: return "uniform";
    case ParameterSpace::Kind::kLogUniform: return "log_uniform";
    case ParameterSpace::Kind::kIntUniform: return "int_uniform";
  }
  return "constant";
}

ParameterSpace::Kind KindFromName(const std::string& name) {
  for (auto kind : {ParameterSpace::Kind::kValues, ParameterSpace::Kind::kUniform, ParameterSpace::Kind::kLogUniform,
                    ParameterSpace::Kind::kIntUniform})
    if (name == KindName(kind)) return kind;
  return ParameterSpace::Kind::kConstant;
}

// "trial 3", or what the registry's extra trial is.
std::string TrialName(int64_t number) {
  return number == kChampionEvaluationTrial ? "the champion's evaluation" : "trial " + std::to_string(number);
}

std::string Describe(const v1::Trial& trial, const std::string& metric) {
  std::string text = TrialName(trial.number());
  if (trial.has_objective()) {
    std::ostringstream value;
    value << trial.objective();
    text += " (" + metric + " " + value.str() + ")";
  }
  return text;
}

TrialExited::Kind ExitKind(const std::string& state) {
  if (state == "completed") return TrialExited::Kind::kCompleted;
  if (state == "stopped") return TrialExited::Kind::kStopped;
  if (state == "canceled") return TrialExited::Kind::kCanceled;
  if (state == "paused") return TrialExited::Kind::kPaused;
  return TrialExited::Kind::kFailed;
}

// The decision a trainer gets in the answer to its reports.
v1::Decision DecisionFor(const AttemptRecord& attempt) {
  if (attempt.state == "running") return v1::DECISION_CONTINUE;
  return attempt.stop_reason == "paused" ? v1::DECISION_PAUSE : v1::DECISION_STOP;
}

}  // namespace

nlohmann::json SweepSpecToJson(const SweepSpec& spec) {
  nlohmann::json parameters = nlohmann::json::array();
  for (const ParameterSpace& p : spec.parameters)
    parameters.push_back({{"path", p.path}, {"kind", KindName(p.kind)}, {"min", p.min}, {"max", p.max}, {"values", p.values}});
  return {{"strategy", spec.strategy}, {"metric", spec.metric}, {"mode", spec.mode}, {"max_trials", spec.max_trials},
          {"max_concurrent", spec.max_concurrent}, {"ranks", spec.ranks}, {"seed", spec.seed}, {"max_restarts", spec.max_restarts},
          {"sampler", spec.sampler}, {"min_steps", spec.min_steps}, {"reduction_factor", spec.reduction_factor},
          {"min_trials", spec.min_trials}, {"max_steps", spec.max_steps}, {"tpe_startup_trials", spec.tpe_startup_trials},
          {"tpe_candidates", spec.tpe_candidates}, {"pbt_interval", spec.pbt_interval}, {"pbt_quantile", spec.pbt_quantile},
          {"pbt_resample_probability", spec.pbt_resample_probability}, {"parameters", parameters}};
}

SweepSpec SweepSpecFromJson(const nlohmann::json& json) {
  SweepSpec spec;
  spec.strategy = json.value("strategy", spec.strategy);
  spec.metric = json.value("metric", spec.metric);
  spec.mode = json.value("mode", spec.mode);
  spec.max_trials = json.value("max_trials", spec.max_trials);
  spec.max_concurrent = json.value("max_concurrent", spec.max_concurrent);
  spec.ranks = json.value("ranks", spec.ranks);
  spec.seed = json.value("seed", spec.seed);
  spec.max_restarts = json.value("max_restarts", spec.max_restarts);
  spec.min_steps = json.value("min_steps", spec.min_steps);
  spec.reduction_factor = json.value("reduction_factor", spec.reduction_factor);
  spec.min_trials = json.value("min_trials", spec.min_trials);
  spec.sampler = json.value("sampler", spec.sampler);
  spec.max_steps = json.value("max_steps", spec.max_steps);
  spec.tpe_startup_trials = json.value("tpe_startup_trials", spec.tpe_startup_trials);
  spec.tpe_candidates = json.value("tpe_candidates", spec.tpe_candidates);
  spec.pbt_interval = json.value("pbt_interval", spec.pbt_interval);
  spec.pbt_quantile = json.value("pbt_quantile", spec.pbt_quantile);
  spec.pbt_resample_probability = json.value("pbt_resample_probability", spec.pbt_resample_probability);
  for (const auto& p : json.value("parameters", nlohmann::json::array())) {
    ParameterSpace space;
    space.path = p.value("path", "");
    space.kind = KindFromName(p.value("kind", ""));
    space.min = p.value("min", 0.0);
    space.max = p.value("max", 0.0);
    space.values = p.value("values", std::vector<std::string>{});
    spec.parameters.push_back(std::move(space));
  }
  return spec;
}

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
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open((fs::path(options.state_dir) / "orchard.db").string(), resolved.storage_root));
  std::unique_ptr<Coordinator> coordinator(new Coordinator(resolved, std::move(store)));
  // Workers kept running while the coordinator was down: give each a full lease to reconnect and
  // report what it runs before anything is declared lost.
  RETURN_IF_ERROR(coordinator->store_->TouchAliveWorkers(coordinator->Now()));
  coordinator->path_roots_ = std::move(path_roots);
  coordinator->canonical_storage_root_ = fs::canonical(resolved.storage_root, error).string();
  if (error) return FailedPrecondition("cannot resolve the storage root " + resolved.storage_root + ": " + error.message());
  coordinator->registry_ = std::make_unique<ModelRegistry>(*coordinator->store_, resolved.storage_root,
                                                           std::vector<std::string>{coordinator->canonical_storage_root_});
  for (int64_t sweep_id : coordinator->store_->RunningSweepIds()) {
    ASSIGN_OR_RETURN(SweepRecord record, coordinator->store_->LoadSweep(sweep_id));
    const SweepSpec spec = SweepSpecFromJson(record.spec);
    ASSIGN_OR_RETURN(auto strategy, MakeSearchStrategy(spec, &record.strategy_state));
    coordinator->sweeps_[sweep_id] = {std::move(strategy), record.name, spec, record.search_outcome};
  }
  return coordinator;
}

void Coordinator::Changed() {
  ++version_;
  changed_.notify_all();
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

// ---- sweeps ----

StatusOr<Coordinator::PreparedSweep> Coordinator::PrepareSweep(const v1::SubmitSweepRequest& request) const {
  RETURN_IF_ERROR(ValidateSubmit(request));
  PreparedSweep prepared;
  prepared.file = request.recipe_file().empty() ? "<submitted recipe>" : request.recipe_file();
  prepared.overrides.assign(request.overrides().begin(), request.overrides().end());
  ASSIGN_OR_RETURN(prepared.recipe, ParseRecipe(request.recipe_yaml(), prepared.file, prepared.overrides));
  if (options_.confine_paths)
    RETURN_IF_ERROR(ConfineRecipePaths(prepared.recipe, request.recipe_yaml(), prepared.file, prepared.overrides, path_roots_));
  // A recipe without a sweep block is a sweep of one trial.
  prepared.spec = prepared.recipe.sweep;
  if (!prepared.recipe.has_sweep) prepared.spec.strategy = "grid";
  prepared.name = request.name().empty() ? prepared.recipe.name : request.name();
  if (!IsValidName(prepared.name))
    return InvalidArgument(prepared.file + ": name: '" + prepared.name +
                           "' must be 1-64 letters, digits, '.', '_' or '-' (it names the sweep's storage folder)");
  ASSIGN_OR_RETURN(prepared.strategy, MakeSearchStrategy(prepared.spec, nullptr));
  prepared.request = request;
  return prepared;
}

StatusOr<int64_t> Coordinator::InsertSweepLocked(PreparedSweep prepared, const std::string& owner,
                                                 const std::string& schedule) {
  const double now = Now();
  SweepRecord record;
  record.name = prepared.name;
  record.recipe_yaml = prepared.request.recipe_yaml();
  record.recipe_file = prepared.file;
  record.overrides = prepared.overrides;
  record.spec = SweepSpecToJson(prepared.spec);
  record.planned_trials = prepared.strategy->PlannedTrials();
  record.strategy_state = prepared.strategy->Snapshot();
  record.created_at = now;
  record.owner = owner;
  record.schedule = schedule;
  record.model = prepared.request.model();
  record.promotion_margin = prepared.request.promotion_margin();
  if (!record.model.empty()) {
    ASSIGN_OR_RETURN(record.evaluated_version, registry_->ClaimModel(record.model, owner, now));
  }
  ASSIGN_OR_RETURN(int64_t sweep_id, store_->InsertSweep(record));
  Touch(sweep_id);
  ActiveSweep& active = sweeps_[sweep_id] = {std::move(prepared.strategy), prepared.name, prepared.spec, ""};
  RETURN_IF_ERROR(store_->AddEvent(sweep_id, now, "submitted: " + prepared.spec.strategy + " search, " +
                                                      std::to_string(active.strategy->PlannedTrials()) + " trials"));
  if (record.evaluated_version != 0) {
    // The sweep runs either way; without the champion's figure the champion stays (model_registry.h).
    const std::string champion = "model " + record.model + ": champion v" + std::to_string(record.evaluated_version);
    const Status evaluation =
        registry_->AddChampionEvaluation(sweep_id, prepared.name, record.model, record.evaluated_version, now);
    RETURN_IF_ERROR(store_->AddEvent(sweep_id, now,
                                     evaluation.ok() ? champion + " is evaluated on this sweep's data to face its best trial"
                                                     : champion + " cannot be evaluated: " + evaluation.message()));
  } else if (!record.model.empty()) {
    RETURN_IF_ERROR(store_->AddEvent(sweep_id, now, "model " + record.model + ": no champion yet; the best trial becomes one"));
  }
  RETURN_IF_ERROR(HandleSearchEvent(sweep_id, SweepStarted{}));
  return sweep_id;
}

StatusOr<v1::Sweep> Coordinator::Submit(const v1::SubmitSweepRequest& request, const std::string& owner) {
  ASSIGN_OR_RETURN(PreparedSweep prepared, PrepareSweep(request));
  std::lock_guard<std::mutex> lock(mu_);
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  ASSIGN_OR_RETURN(int64_t sweep_id, InsertSweepLocked(std::move(prepared), owner, /*schedule=*/""));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return store_->GetSweep(sweep_id);
}

StatusOr<v1::Sweep> Coordinator::GetSweep(int64_t sweep_id) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  std::lock_guard<std::mutex> lock(mu_);
  return store_->GetSweep(sweep_id);
}

StatusOr<std::optional<v1::Sweep>> Coordinator::FindUnfinishedSweep(const v1::SubmitSweepRequest& request) {
  const std::string file = request.recipe_file().empty() ? "<submitted recipe>" : request.recipe_file();
  const std::vector<std::string> overrides(request.overrides().begin(), request.overrides().end());
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> running = store_->RunningSweepIds();
  std::sort(running.rbegin(), running.rend());
  for (int64_t id : running) {
    ASSIGN_OR_RETURN(SweepRecord record, store_->LoadSweep(id));
    const std::string name = request.name().empty() ? record.name : request.name();
    if (record.recipe_yaml == request.recipe_yaml() && record.recipe_file == file && record.overrides == overrides &&
        record.name == name && record.model == request.model() && record.promotion_margin == request.promotion_margin()) {
      ASSIGN_OR_RETURN(v1::Sweep sweep, store_->GetSweep(id));
      return std::optional<v1::Sweep>(std::move(sweep));
    }
  }
  return std::optional<v1::Sweep>();
}

std::vector<v1::Sweep> Coordinator::ListSweeps(int64_t limit, const std::optional<std::string>& owner) {
  std::lock_guard<std::mutex> lock(mu_);
  return store_->ListSweeps(limit > 0 ? std::min<int64_t>(limit, 10000) : 100, owner);
}

StatusOr<std::string> Coordinator::SweepOwner(int64_t sweep_id) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(SweepRecord record, store_->LoadSweep(sweep_id));
  return record.owner;
}

StatusOr<std::string> Coordinator::TrialOwner(int64_t trial_id) {
  RETURN_IF_ERROR(ValidateId("trial_id", trial_id));
  std::lock_guard<std::mutex> lock(mu_);
  return store_->TrialOwner(trial_id);
}

StatusOr<v1::Sweep> Coordinator::Cancel(int64_t sweep_id) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(SweepRecord record, store_->LoadSweep(sweep_id));
  if (record.state != "running") return store_->GetSweep(sweep_id);  // idempotent
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  RETURN_IF_ERROR(FinishSweepLocked(sweep_id, "canceled", "canceled"));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return store_->GetSweep(sweep_id);
}

StatusOr<std::vector<v1::Trial>> Coordinator::ListTrials(int64_t sweep_id) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(store_->LoadSweep(sweep_id).status());
  return store_->ListTrials(sweep_id);
}

StatusOr<std::vector<v1::MetricPoint>> Coordinator::TrialMetrics(int64_t trial_id, const std::string& name) {
  RETURN_IF_ERROR(ValidateMetricsQuery(trial_id, name));
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(store_->GetTrial(trial_id).status());
  return store_->Metrics(trial_id, name);
}

StatusOr<v1::Trial> Coordinator::BestTrial(int64_t sweep_id) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(SweepRecord record, store_->LoadSweep(sweep_id));
  const std::string metric = record.spec.value("metric", "");
  auto best = store_->BestTrial(sweep_id, record.spec.value("mode", "min"));
  if (!best)
    return NotFound("sweep " + std::to_string(sweep_id) + " has no completed trial that reported " + metric +
                    " yet (orchard trials " + std::to_string(sweep_id) + " shows their states)");
  return *best;
}

StatusOr<v1::GetTrialLogResponse> Coordinator::TrialLog(const v1::GetTrialLogRequest& request) {
  RETURN_IF_ERROR(ValidateTrialLog(request));
  std::string relative;
  {
    std::lock_guard<std::mutex> lock(mu_);
    RETURN_IF_ERROR(store_->GetTrial(request.trial_id()).status());
    ASSIGN_OR_RETURN(relative, store_->AttemptLogPath(request.trial_id(), request.attempt()));
  }
  // Trials write their own output folders; a link planted there must not expose other files.
  const auto confined = ConfinePath("log", (fs::path(storage_root_) / relative).string(), {canonical_storage_root_});
  if (!confined.ok())
    return PermissionDenied("the log of trial " + std::to_string(request.trial_id()) + " (" + relative +
                            ") leads out of the storage root through a symbolic link; it is not served");
  const fs::path path = *confined;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in)
    return NotFound("the log " + path.string() + " is not readable by the coordinator (workers write logs under the "
                    "storage root; it must be shared storage, or read the file on the worker)");
  const int64_t size = in.tellg();
  const int64_t tail = request.tail_bytes() > 0 ? request.tail_bytes() : (1 << 20);
  const int64_t start = std::max<int64_t>(0, size - tail);
  in.seekg(start);
  v1::GetTrialLogResponse response;
  std::string text(size - start, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  response.set_text(std::move(text));
  response.set_path(path.string());
  response.set_truncated(start > 0);
  return response;
}

std::vector<v1::Worker> Coordinator::ListWorkers() {
  std::lock_guard<std::mutex> lock(mu_);
  return store_->ListWorkers();
}

StatusOr<Coordinator::SweepEvents> Coordinator::EventsAfter(int64_t sweep_id, int64_t after_event_id) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(v1::Sweep sweep, store_->GetSweep(sweep_id));
  return SweepEvents{std::move(sweep), store_->EventsAfter(sweep_id, after_event_id)};
}

// ---- strategies ----

Coordinator::StrategyTransaction::StrategyTransaction(Coordinator& coordinator)
    : coordinator_(coordinator), tx_(coordinator.store_->Begin()) {
  coordinator_.touched_.clear();
}

Status Coordinator::StrategyTransaction::Commit() {
  RETURN_IF_ERROR(tx_.Commit());
  committed_ = true;
  return OkStatus();
}

Coordinator::StrategyTransaction::~StrategyTransaction() {
  std::set<int64_t> touched;
  touched.swap(coordinator_.touched_);
  if (committed_) return;
  tx_.Rollback();
  for (int64_t sweep_id : touched) {
    coordinator_.sweeps_.erase(sweep_id);
    auto record = coordinator_.store_->LoadSweep(sweep_id);
    if (!record.ok() || record->state != "running") continue;  // inserted or finished by the rolled-back work
    const SweepSpec spec = SweepSpecFromJson(record->spec);
    // A snapshot the strategy made itself; should it not load, a restart reports why.
    if (auto strategy = MakeSearchStrategy(spec, &record->strategy_state); strategy.ok())
      coordinator_.sweeps_[sweep_id] = {std::move(strategy).value(), record->name, spec, record->search_outcome};
  }
}

Status Coordinator::HandleSearchEvent(int64_t sweep_id, const SearchEvent& event) {
  auto it = sweeps_.find(sweep_id);
  // The sweep (or its search) has ended; nothing more to decide.
  if (it == sweeps_.end() || !it->second.search_outcome.empty()) return OkStatus();
  Touch(sweep_id);
  ActiveSweep& sweep = it->second;
  for (const SearchAction& action : sweep.strategy->Handle(event)) {
    RETURN_IF_ERROR(ApplyAction(sweep_id, sweep, action));
    if (std::holds_alternative<FinishSweep>(action)) return OkStatus();  // `sweep` is gone
  }
  return store_->SaveStrategyState(sweep_id, sweep.strategy->Snapshot());
}

Status Coordinator::ApplyAction(int64_t sweep_id, ActiveSweep& sweep, const SearchAction& action) {
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
  const std::optional<AttemptRecord> attempt = store_->ActiveAttemptOfTrial(trial_id);
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

Status Coordinator::FinishSweepLocked(int64_t sweep_id, const std::string& state, const std::string& message) {
  const double now = Now();
  Touch(sweep_id);
  const std::vector<v1::Trial> trials = store_->ListTrials(sweep_id);
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
    if (auto attempt = store_->ActiveAttemptOfTrial(trial.id())) {
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

// ---- workers ----

StatusOr<v1::RegisterWorkerResponse> Coordinator::RegisterWorker(const v1::RegisterWorkerRequest& request) {
  RETURN_IF_ERROR(ValidateRegister(request));
  std::lock_guard<std::mutex> lock(mu_);
  Transaction tx = store_->Begin();
  RETURN_IF_ERROR(tx.status());
  ASSIGN_OR_RETURN(std::string id, store_->InsertWorker(request.hostname(), request.slots(), request.slot_kind(), Now()));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  v1::RegisterWorkerResponse response;
  response.set_worker_id(id);
  response.set_heartbeat_interval_seconds(options_.heartbeat_interval_seconds);
  response.set_lease_timeout_seconds(options_.lease_timeout_seconds);
  response.set_storage_root(storage_root_);
  return response;
}

namespace {
// Longest a worker's call to the coordinator may take (its deadlines are 5 to 10 s).
constexpr double kCallSeconds = 15;

Status UnknownWorker(const std::string& worker_id) {
  return NotFound("worker " + worker_id + " is not registered or was declared lost (no heartbeat within the lease "
                  "timeout); stop its attempts and register again");
}
}  // namespace

StatusOr<v1::HeartbeatResponse> Coordinator::Heartbeat(const v1::HeartbeatRequest& request) {
  RETURN_IF_ERROR(ValidateHeartbeat(request));
  std::lock_guard<std::mutex> lock(mu_);
  auto worker = store_->LoadWorker(request.worker_id());
  if (!worker || !worker->alive) return UnknownWorker(request.worker_id());
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  RETURN_IF_ERROR(store_->TouchWorker(request.worker_id(), Now()));
  const std::set<int64_t> reported(request.running_attempt_ids().begin(), request.running_attempt_ids().end());
  v1::HeartbeatResponse response;
  std::set<int64_t> active;
  std::vector<AttemptRecord> forgotten;  // the worker no longer runs them (it restarted, or the trainer vanished)
  // A heartbeat sent before the worker saw a lease may arrive after it: attempts younger than a
  // call's lifetime are given time to show up in a later heartbeat.
  const double leased_before = Now() - kCallSeconds;
  for (const AttemptRecord& a : store_->ActiveAttempts(request.worker_id())) {
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
  return response;
}

StatusOr<v1::LeaseAttemptsResponse> Coordinator::LeaseAttempts(const v1::LeaseAttemptsRequest& request) {
  RETURN_IF_ERROR(ValidateLease(request));
  std::lock_guard<std::mutex> lock(mu_);
  auto worker = store_->LoadWorker(request.worker_id());
  if (!worker || !worker->alive) return UnknownWorker(request.worker_id());
  const double now = Now();
  Transaction tx = store_->Begin();
  RETURN_IF_ERROR(tx.status());
  RETURN_IF_ERROR(store_->TouchWorker(request.worker_id(), now));
  v1::LeaseAttemptsResponse response;
  const int64_t free = std::min(request.free_slots(), worker->slots - store_->BusySlots(request.worker_id()));
  if (free > 0) {
    SweepRoom room;
    const auto running = store_->RunningTrialsBySweep();
    std::map<int64_t, SweepRecord> records;
    for (int64_t sweep_id : store_->RunningSweepIds()) {
      ASSIGN_OR_RETURN(SweepRecord record, store_->LoadSweep(sweep_id));
      const int64_t max_concurrent = record.spec.value("max_concurrent", int64_t{0});
      if (max_concurrent > 0) room[sweep_id] = max_concurrent - (running.count(sweep_id) ? running.at(sweep_id) : 0);
      records[sweep_id] = std::move(record);
    }
    const auto placements = PlaceTrials({{request.worker_id(), free}}, store_->PendingTrials(1000), room);
    for (const Placement& placement : placements) {
      ASSIGN_OR_RETURN(v1::Trial trial, store_->GetTrial(placement.trial_id));
      const std::string token = NewToken(TokenKind::kAttempt);
      ASSIGN_OR_RETURN(AttemptRecord attempt, store_->InsertAttempt(trial.id(), request.worker_id(), HashToken(token),
                                                                    trial.output_dir() + "/", now));
      RETURN_IF_ERROR(store_->SetTrialState(trial.id(), "running", "", now));
      const SweepRecord& sweep = records.at(trial.sweep_id());
      RETURN_IF_ERROR(store_->AddEvent(sweep.id, now, TrialName(trial.number()) + " started on " + request.worker_id()));
      v1::Attempt* leased = response.add_attempts();
      leased->set_attempt_id(attempt.id);
      leased->set_trial_id(trial.id());
      leased->set_sweep_id(trial.sweep_id());
      leased->set_number(attempt.number);
      leased->set_recipe_yaml(sweep.recipe_yaml);
      leased->set_recipe_file(sweep.recipe_file);
      for (const std::string& o : sweep.overrides) leased->add_overrides(o);
      for (const auto& h : trial.hyperparameters()) leased->add_overrides(h.path() + "=" + h.value());
      leased->set_output_dir(trial.output_dir());
      leased->set_token(token);  // the only time it leaves the coordinator
      leased->set_slots(sweep.spec.value("ranks", int64_t{1}));
      leased->set_resume(attempt.number > 1);
      leased->set_log_path(attempt.log_path);
      leased->set_evaluate_only(trial.number() == kChampionEvaluationTrial);
    }
  }
  RETURN_IF_ERROR(tx.Commit());
  if (response.attempts_size() > 0) Changed();
  return response;
}

Status Coordinator::EndAttemptLocked(const AttemptRecord& attempt, AttemptEnd end) {
  const double now = Now();
  end.stop_reason = attempt.stop_reason;
  RETURN_IF_ERROR(store_->EndAttempt(attempt.id, end.lost ? "lost" : "exited", end.exit_code, end.signal, end.reason, now));
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
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(AttemptRecord attempt, store_->LoadAttempt(request.attempt_id()));
  if (attempt.worker_id != request.worker_id())
    return PermissionDenied("attempt " + std::to_string(attempt.id) + " was leased to worker " + attempt.worker_id +
                            ", not " + request.worker_id());
  if (!attempt.active()) return OkStatus();  // already ended (a retry, or the worker was declared lost)
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  AttemptEnd end;
  end.exit_code = request.exit_code();
  end.signal = request.signal();
  end.reason = request.reason();
  RETURN_IF_ERROR(EndAttemptLocked(attempt, end));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return OkStatus();
}

Status Coordinator::DeregisterWorker(const v1::DeregisterWorkerRequest& request) {
  RETURN_IF_ERROR(ValidateDeregister(request));
  std::lock_guard<std::mutex> lock(mu_);
  auto worker = store_->LoadWorker(request.worker_id());
  if (!worker || !worker->alive) return OkStatus();  // idempotent
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  RETURN_IF_ERROR(store_->MarkWorkerLost(request.worker_id()));
  RETURN_IF_ERROR(LoseAttemptsLocked(store_->ActiveAttempts(request.worker_id()),
                                     "worker " + request.worker_id() + " left without reporting its end"));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return OkStatus();
}

Status Coordinator::ExpireWorkers() {
  std::lock_guard<std::mutex> lock(mu_);
  const double now = Now();
  const auto silent = store_->WorkersSilentSince(now - options_.lease_timeout_seconds);
  if (silent.empty()) return OkStatus();
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  for (const std::string& worker_id : silent) {
    RETURN_IF_ERROR(store_->MarkWorkerLost(worker_id));
    std::ostringstream reason;
    reason << "worker " << worker_id << " lost: no heartbeat for " << options_.lease_timeout_seconds << " s";
    RETURN_IF_ERROR(LoseAttemptsLocked(store_->ActiveAttempts(worker_id), reason.str()));
  }
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return OkStatus();
}

// ---- trial reports ----

StatusOr<AttemptRecord> Coordinator::AuthorizeReport(int64_t attempt_id, const std::string& token) {
  auto attempt = store_->LoadAttempt(attempt_id);
  if (!attempt.ok() || !TokensEqual(attempt->token_hash, HashToken(token)))
    return Unauthenticated("the token does not authorise reports for attempt " + std::to_string(attempt_id) +
                           " (use the token from the attempt's lease)");
  if (!attempt->active())
    return FailedPrecondition("attempt " + std::to_string(attempt_id) + " has already ended; stop reporting");
  return attempt;
}

StatusOr<v1::Decision> Coordinator::ReportMetrics(const v1::ReportMetricsRequest& request) {
  RETURN_IF_ERROR(ValidateMetrics(request));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(AttemptRecord attempt, AuthorizeReport(request.attempt_id(), request.token()));
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  std::vector<v1::MetricPoint> points(request.points().begin(), request.points().end());
  RETURN_IF_ERROR(store_->InsertMetrics(attempt.trial_id, points));
  int64_t last_step = 0;
  const v1::MetricPoint* objective = nullptr;
  auto sweep = sweeps_.find(attempt.sweep_id);
  for (const v1::MetricPoint& p : points) {
    last_step = std::max(last_step, p.step());
    if (sweep != sweeps_.end() && p.name() == sweep->second.spec.metric && (!objective || p.step() >= objective->step()))
      objective = &p;
  }
  RETURN_IF_ERROR(store_->RecordLastStep(attempt.trial_id, last_step));
  if (objective) {
    RETURN_IF_ERROR(store_->RecordObjective(attempt.trial_id, objective->step(), objective->value()));
    if (attempt.trial_number != kChampionEvaluationTrial)
      RETURN_IF_ERROR(HandleSearchEvent(attempt.sweep_id,
                                        ValidationReported{attempt.trial_number, objective->step(), objective->value()}));
  }
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  ASSIGN_OR_RETURN(AttemptRecord now, store_->LoadAttempt(attempt.id));
  return DecisionFor(now);
}

StatusOr<v1::Decision> Coordinator::ReportCheckpoint(const v1::ReportCheckpointRequest& request) {
  RETURN_IF_ERROR(ValidateCheckpoint(request));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(AttemptRecord attempt, AuthorizeReport(request.attempt_id(), request.token()));
  Transaction tx = store_->Begin();
  RETURN_IF_ERROR(tx.status());
  RETURN_IF_ERROR(store_->RecordCheckpoint(attempt.trial_id, request.path()));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return DecisionFor(attempt);
}

// ---- model registry ----

std::vector<v1::ModelSummary> Coordinator::ListModels(const std::optional<std::string>& owner) {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->ListModels(owner);
}

StatusOr<v1::Model> Coordinator::GetModel(const std::string& name) {
  RETURN_IF_ERROR(ValidateModelName("name", name));
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->GetModel(name);
}

StatusOr<std::string> Coordinator::ModelOwner(const std::string& name) {
  RETURN_IF_ERROR(ValidateModelName("model", name));
  std::lock_guard<std::mutex> lock(mu_);
  auto record = store_->LoadModel(name);
  if (!record) return NotFound("model " + name + " does not exist (orchard models list shows the models)");
  return record->owner;
}

StatusOr<v1::Model> Coordinator::PromoteTrial(const std::string& model, int64_t trial_id, const std::string& user) {
  RETURN_IF_ERROR(ValidateModelName("model", model));
  RETURN_IF_ERROR(ValidateId("trial_id", trial_id));
  std::lock_guard<std::mutex> lock(mu_);
  Transaction tx = store_->Begin();
  RETURN_IF_ERROR(tx.status());
  ASSIGN_OR_RETURN(v1::Model promoted, registry_->PromoteTrial(model, trial_id, user, Now()));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return promoted;
}

StatusOr<v1::Model> Coordinator::RollbackModel(const std::string& model, const std::string& user) {
  RETURN_IF_ERROR(ValidateModelName("model", model));
  std::lock_guard<std::mutex> lock(mu_);
  Transaction tx = store_->Begin();
  RETURN_IF_ERROR(tx.status());
  ASSIGN_OR_RETURN(v1::Model rolled_back, registry_->Rollback(model, user, Now()));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return rolled_back;
}

}  // namespace orchard::coordinator
