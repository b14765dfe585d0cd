// The Coordinator's sweeps: submitting, reading, canceling, and what watchers see.
#include "coordinator/coordinator.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "coordinator/access/path_confinement.h"
#include "coordinator/request_validation.h"
#include "core/format.h"
#include "core/fusion.h"
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

// One more row than the page holds tells whether another page follows.
template <typename T, typename TokenOf>
Page<T> CutPage(std::vector<T> rows, int64_t page_size, TokenOf token_of) {
  Page<T> page;
  if (static_cast<int64_t>(rows.size()) > page_size) {
    rows.resize(page_size);
    page.next_page_token = token_of(rows.back());
  }
  page.items = std::move(rows);
  return page;
}

}  // namespace

nlohmann::json SweepSpecToJson(const SweepSpec& spec) {
  nlohmann::json parameters = nlohmann::json::array();
  for (const ParameterSpace& p : spec.parameters) {
    nlohmann::json when = nlohmann::json::array();
    for (const ParameterCondition& c : p.when) when.push_back({{"path", c.path}, {"values", c.values}});
    parameters.push_back(
        {{"path", p.path}, {"kind", KindName(p.kind)}, {"min", p.min}, {"max", p.max}, {"values", p.values}, {"when", when}});
  }
  return {{"strategy", spec.strategy}, {"metric", spec.metric}, {"mode", spec.mode}, {"max_trials", spec.max_trials},
          {"max_concurrent", spec.max_concurrent}, {"ranks", spec.ranks}, {"gpu_memory_gib", spec.gpu_memory_gib},
          {"gpu_fraction", spec.gpu_fraction}, {"fuse", spec.fuse}, {"seed", spec.seed}, {"max_restarts", spec.max_restarts},
          {"unplaceable_timeout_seconds", spec.unplaceable_timeout_seconds},
          {"sampler", spec.sampler}, {"min_steps", spec.min_steps}, {"reduction_factor", spec.reduction_factor},
          {"min_trials", spec.min_trials}, {"max_steps", spec.max_steps}, {"step_budget", spec.step_budget}, {"tpe_startup_trials", spec.tpe_startup_trials},
          {"tpe_candidates", spec.tpe_candidates}, {"tpe_multivariate", spec.tpe_multivariate},
          {"tpe_constant_liar", spec.tpe_constant_liar}, {"pbt_interval", spec.pbt_interval}, {"pbt_quantile", spec.pbt_quantile},
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
  spec.gpu_memory_gib = json.value("gpu_memory_gib", spec.gpu_memory_gib);
  spec.gpu_fraction = json.value("gpu_fraction", spec.gpu_fraction);
  spec.fuse = json.value("fuse", spec.fuse);
  spec.seed = json.value("seed", spec.seed);
  spec.max_restarts = json.value("max_restarts", spec.max_restarts);
  spec.unplaceable_timeout_seconds = json.value("unplaceable_timeout_seconds", spec.unplaceable_timeout_seconds);
  spec.min_steps = json.value("min_steps", spec.min_steps);
  spec.reduction_factor = json.value("reduction_factor", spec.reduction_factor);
  spec.min_trials = json.value("min_trials", spec.min_trials);
  spec.sampler = json.value("sampler", spec.sampler);
  spec.max_steps = json.value("max_steps", spec.max_steps);
  spec.step_budget = json.value("step_budget", spec.step_budget);
  spec.tpe_startup_trials = json.value("tpe_startup_trials", spec.tpe_startup_trials);
  spec.tpe_candidates = json.value("tpe_candidates", spec.tpe_candidates);
  // A sweep saved before these existed was proposing one parameter at a time, ignoring running trials:
  // the closest to that (its proposals after the upgrade still differ from what they would have been).
  spec.tpe_multivariate = json.value("tpe_multivariate", false);
  spec.tpe_constant_liar = json.value("tpe_constant_liar", false);
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
    for (const auto& c : p.value("when", nlohmann::json::array()))
      space.when.push_back({c.value("path", ""), c.value("values", std::vector<std::string>{})});
    spec.parameters.push_back(std::move(space));
  }
  return spec;
}

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
  // What a fused group's member costs, for sizing fuse: auto groups (PendingTrial).
  std::string sizing;
  if (prepared.spec.fuse != 1) {
    if (const auto member = EstimateFusedMemberCost(prepared.recipe)) {
      record.spec["fused_member"] = {{"bytes", member->bytes}, {"step_flops", member->step_flops}};
      sizing = "; a fused member estimated at " + FormatNumber(static_cast<double>(member->bytes) / 1e6) + " MB and " +
               FormatNumber(member->step_flops / 1e6) + " MFLOP a step";
    }
  }
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
                                                      std::to_string(active.strategy->PlannedTrials()) + " trials" +
                                                      sizing));
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
  const auto lock = LockSettled();
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  ASSIGN_OR_RETURN(int64_t sweep_id, InsertSweepLocked(std::move(prepared), owner, /*schedule=*/""));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return store_->GetSweep(sweep_id);
}

StatusOr<v1::Sweep> Coordinator::GetSweep(int64_t sweep_id) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  return reads_->With([&](Store& store) { return store.GetSweep(sweep_id); });
}

StatusOr<std::optional<v1::Sweep>> Coordinator::FindUnfinishedSweep(const v1::SubmitSweepRequest& request) {
  const std::string file = request.recipe_file().empty() ? "<submitted recipe>" : request.recipe_file();
  const std::vector<std::string> overrides(request.overrides().begin(), request.overrides().end());
  const auto lock = LockSettled();
  ASSIGN_OR_RETURN(std::vector<int64_t> running, store_->RunningSweepIds());
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

StatusOr<Page<v1::Sweep>> Coordinator::ListSweeps(int64_t page_size, const std::string& page_token,
                                                  const std::optional<std::string>& owner) {
  ASSIGN_OR_RETURN(const int64_t size, PageSize("page_size", page_size, kSweepPages));
  ASSIGN_OR_RETURN(const std::optional<int64_t> before, ParseNumberPageToken(NumberedList::kSweeps, page_token));
  ASSIGN_OR_RETURN(std::vector<v1::Sweep> rows,
                   reads_->With([&](Store& store) { return store.ListSweeps(size + 1, owner, before); }));
  return CutPage(std::move(rows), size, [](const v1::Sweep& last) { return NumberPageToken(NumberedList::kSweeps, last.id()); });
}

StatusOr<std::string> Coordinator::SweepOwner(int64_t sweep_id) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  ASSIGN_OR_RETURN(SweepRecord record, reads_->With([&](Store& store) { return store.LoadSweep(sweep_id); }));
  return record.owner;
}

StatusOr<std::string> Coordinator::TrialOwner(int64_t trial_id) {
  RETURN_IF_ERROR(ValidateId("trial_id", trial_id));
  return reads_->With([&](Store& store) { return store.TrialOwner(trial_id); });
}

StatusOr<v1::Sweep> Coordinator::Cancel(int64_t sweep_id) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  const auto lock = LockSettled();
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
  return reads_->With([&](Store& store) -> StatusOr<std::vector<v1::Trial>> {
    RETURN_IF_ERROR(store.LoadSweep(sweep_id).status());
    return store.ListTrials(sweep_id);
  });
}

StatusOr<Page<v1::Trial>> Coordinator::ListTrialsPage(int64_t sweep_id, int64_t page_size,
                                                      const std::string& page_token) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  ASSIGN_OR_RETURN(const int64_t size, PageSize("page_size", page_size, kTrialPages));
  ASSIGN_OR_RETURN(const std::optional<int64_t> after, ParseNumberPageToken(NumberedList::kTrials, page_token));
  ASSIGN_OR_RETURN(std::vector<v1::Trial> rows, reads_->With([&](Store& store) -> StatusOr<std::vector<v1::Trial>> {
    RETURN_IF_ERROR(store.LoadSweep(sweep_id).status());
    return store.ListTrials(sweep_id, after, size + 1);
  }));
  return CutPage(std::move(rows), size, [](const v1::Trial& last) { return NumberPageToken(NumberedList::kTrials, last.number()); });
}

StatusOr<Page<v1::MetricPoint>> Coordinator::TrialMetrics(int64_t trial_id, const std::string& name,
                                                          int64_t page_size, const std::string& page_token) {
  RETURN_IF_ERROR(ValidateMetricsQuery(trial_id, name));
  ASSIGN_OR_RETURN(const int64_t size, PageSize("page_size", page_size, kMetricPages));
  ASSIGN_OR_RETURN(const auto after, ParseMetricPageToken(page_token));
  ASSIGN_OR_RETURN(std::vector<v1::MetricPoint> rows,
                   reads_->With([&](Store& store) -> StatusOr<std::vector<v1::MetricPoint>> {
                     RETURN_IF_ERROR(store.GetTrial(trial_id).status());
                     return store.Metrics(trial_id, name, after, size + 1);
                   }));
  return CutPage(std::move(rows), size,
                 [](const v1::MetricPoint& last) { return MetricPageToken(last.name(), last.step()); });
}

StatusOr<v1::Trial> Coordinator::BestTrial(int64_t sweep_id) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  return reads_->With([&](Store& store) -> StatusOr<v1::Trial> {
    ASSIGN_OR_RETURN(SweepRecord record, store.LoadSweep(sweep_id));
    const std::string metric = record.spec.value("metric", "");
    ASSIGN_OR_RETURN(std::optional<v1::Trial> best, store.BestTrial(sweep_id, record.spec.value("mode", "min")));
    if (!best)
      return NotFound("sweep " + std::to_string(sweep_id) + " has no completed trial that reported " + metric +
                      " yet (orchard trials " + std::to_string(sweep_id) + " shows their states)");
    return *best;
  });
}

StatusOr<v1::GetTrialLogResponse> Coordinator::TrialLog(const v1::GetTrialLogRequest& request) {
  RETURN_IF_ERROR(ValidateTrialLog(request));
  ASSIGN_OR_RETURN(const std::string relative, reads_->With([&](Store& store) -> StatusOr<std::string> {
    RETURN_IF_ERROR(store.GetTrial(request.trial_id()).status());
    return store.AttemptLogPath(request.trial_id(), request.attempt());
  }));
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

StatusOr<std::vector<v1::Worker>> Coordinator::ListWorkers() {
  ASSIGN_OR_RETURN(std::vector<v1::Worker> workers, reads_->With([](Store& store) { return store.ListWorkers(); }));
  for (v1::Worker& worker : workers) worker.set_last_heartbeat(std::max(worker.last_heartbeat(), LastHeard(worker.id())));
  return workers;
}

StatusOr<Coordinator::SweepEvents> Coordinator::EventsAfter(int64_t sweep_id, int64_t after_event_id) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  return reads_->With([&](Store& store) -> StatusOr<SweepEvents> {
    ASSIGN_OR_RETURN(v1::Sweep sweep, store.GetSweep(sweep_id));
    ASSIGN_OR_RETURN(std::vector<EventRecord> events, store.EventsAfter(sweep_id, after_event_id));
    return SweepEvents{std::move(sweep), std::move(events)};
  });
}

}  // namespace orchard::coordinator
