// What the dashboard and /metrics read besides the gRPC read calls, each from a read connection.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "coordinator/access/path_confinement.h"
#include "coordinator/coordinator.h"
#include "coordinator/request_validation.h"
#include "core/names.h"
#include "orchard/v1/state_names.h"

namespace orchard::coordinator {
namespace {

namespace fs = std::filesystem;

// Keeps `keep` evenly spaced points of `points` (at least 2), the first and the last among them.
void ThinPoints(std::vector<std::pair<int64_t, double>>& points, size_t keep) {
  if (points.size() <= keep) return;
  std::vector<std::pair<int64_t, double>> kept;
  kept.reserve(keep);
  const double spacing = static_cast<double>(points.size() - 1) / static_cast<double>(keep - 1);
  for (size_t i = 0; i < keep; ++i) kept.push_back(points[static_cast<size_t>(std::llround(spacing * i))]);
  points = std::move(kept);
}

bool IsFinished(const std::string& state) { return state != "pending" && state != "running" && state != "paused"; }

}  // namespace

StatusOr<Coordinator::SweepMetricSeries> Coordinator::SweepMetrics(int64_t sweep_id, const std::string& name,
                                                                    int64_t max_points) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  if (!name.empty()) RETURN_IF_ERROR(CheckMetricName(name, "name"));
  if (max_points < 0) return InvalidArgument("max_points: must be 0 (every point) or more, got " +
                                             std::to_string(max_points));
  ASSIGN_OR_RETURN(SweepMetricSeries result, reads_->With([&](Store& store) -> StatusOr<SweepMetricSeries> {
    ASSIGN_OR_RETURN(SweepRecord record, store.LoadSweep(sweep_id));
    SweepMetricSeries read;
    read.metric = name.empty() ? record.spec.value("metric", "") : name;
    ASSIGN_OR_RETURN(read.names, store.SweepMetricNames(sweep_id));
    ASSIGN_OR_RETURN(read.series, store.SweepMetricSeries(sweep_id, read.metric));
    return read;
  }));
  if (max_points > 0 && !result.series.empty()) {
    const int64_t per_series = std::max<int64_t>(kMinPointsPerSeries, max_points / static_cast<int64_t>(result.series.size()));
    for (TrialSeries& series : result.series) ThinPoints(series.points, static_cast<size_t>(per_series));
  }
  return result;
}

StatusOr<v1::Trial> Coordinator::GetTrial(int64_t trial_id) {
  RETURN_IF_ERROR(ValidateId("trial_id", trial_id));
  return reads_->With([&](Store& store) { return store.GetTrial(trial_id); });
}

StatusOr<SweepSpec> Coordinator::SweepSearchSpace(int64_t sweep_id) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  ASSIGN_OR_RETURN(SweepRecord record, reads_->With([&](Store& store) { return store.LoadSweep(sweep_id); }));
  return SweepSpecFromJson(record.spec);
}

StatusOr<ImportanceReport> Coordinator::Importance(int64_t sweep_id) {
  ASSIGN_OR_RETURN(SweepSpec spec, SweepSearchSpace(sweep_id));
  ASSIGN_OR_RETURN(std::vector<v1::Trial> trials, ListTrials(sweep_id));
  std::vector<ImportanceSample> samples;
  for (const v1::Trial& trial : trials) {
    if (trial.number() == kChampionEvaluationTrial || !trial.has_objective()) continue;
    if (trial.state() != v1::TRIAL_COMPLETED && trial.state() != v1::TRIAL_STOPPED) continue;
    ImportanceSample sample{{}, trial.objective()};
    for (const v1::Hyperparameter& h : trial.hyperparameters()) sample.hyperparameters[h.path()] = h.value();
    samples.push_back(std::move(sample));
  }
  return HyperparameterImportance(spec.parameters, samples, static_cast<uint64_t>(spec.seed));
}

StatusOr<Coordinator::SweepCost> Coordinator::Cost(int64_t sweep_id) {
  RETURN_IF_ERROR(ValidateId("sweep_id", sweep_id));
  const double now = Now();
  return reads_->With([&](Store& store) -> StatusOr<SweepCost> {
    ASSIGN_OR_RETURN(SweepRecord record, store.LoadSweep(sweep_id));
    ASSIGN_OR_RETURN(v1::Sweep sweep, store.GetSweep(sweep_id));
    ASSIGN_OR_RETURN(std::vector<v1::Trial> trials, store.ListTrials(sweep_id));
    SweepCost cost;
    ASSIGN_OR_RETURN(cost.slot_seconds, store.SweepSlotSeconds(sweep_id, now));
    int64_t longest_completed = 0;
    for (const v1::Trial& trial : trials) {
      if (trial.number() == kChampionEvaluationTrial) continue;
      cost.trial_steps += trial.last_step();
      if (trial.state() == v1::TRIAL_COMPLETED) longest_completed = std::max(longest_completed, trial.last_step());
    }
    const int64_t whole_trial = record.spec.value("max_steps", int64_t{0}) > 0 ? record.spec.value("max_steps", int64_t{0})
                                                                               : longest_completed;
    cost.full_steps = whole_trial * sweep.trials_total();
    return cost;
  });
}

StatusOr<std::vector<AttemptSummary>> Coordinator::TrialAttempts(int64_t trial_id) {
  RETURN_IF_ERROR(ValidateId("trial_id", trial_id));
  return reads_->With([&](Store& store) -> StatusOr<std::vector<AttemptSummary>> {
    RETURN_IF_ERROR(store.GetTrial(trial_id).status());
    return store.TrialAttempts(trial_id);
  });
}

StatusOr<v1::TrialLineage> Coordinator::TrialLineage(int64_t trial_id) {
  RETURN_IF_ERROR(ValidateId("trial_id", trial_id));
  ASSIGN_OR_RETURN(v1::TrialLineage lineage, reads_->With([&](Store& store) -> StatusOr<v1::TrialLineage> {
    v1::TrialLineage out;
    ASSIGN_OR_RETURN(*out.mutable_trial(), store.GetTrial(trial_id));
    ASSIGN_OR_RETURN(const std::vector<AttemptSummary> attempts, store.TrialAttempts(trial_id));
    for (const AttemptSummary& a : attempts) {
      v1::TrialAttempt* attempt = out.add_attempts();
      attempt->set_number(a.number);
      attempt->set_worker_id(a.worker_id);
      attempt->set_state(a.state);
      attempt->set_exit_code(a.exit_code);
      attempt->set_reason(a.reason);
      attempt->set_started_at(a.started_at);
      attempt->set_ended_at(a.ended_at);
      attempt->set_provenance_json(a.provenance_json);
      attempt->set_parameter_digest(a.parameter_digest);
    }
    return out;
  }));
  ASSIGN_OR_RETURN(*lineage.mutable_sweep(), GetSweep(lineage.trial().sweep_id()));
  return lineage;
}

StatusOr<std::vector<Coordinator::CheckpointEntry>> Coordinator::TrialCheckpoints(int64_t trial_id) {
  RETURN_IF_ERROR(ValidateId("trial_id", trial_id));
  ASSIGN_OR_RETURN(v1::Trial trial, reads_->With([&](Store& store) { return store.GetTrial(trial_id); }));
  const std::string relative = trial.output_dir() + "/checkpoints";
  const fs::path folder = fs::path(storage_root_) / relative;
  std::error_code error;
  if (!fs::is_directory(folder, error)) return std::vector<CheckpointEntry>{};
  // Trials write their own folders; a link planted there must not make the listing look elsewhere.
  if (!ConfinePath("checkpoints", folder.string(), {canonical_storage_root_}).ok())
    return PermissionDenied("the checkpoints of trial " + std::to_string(trial_id) +
                            " lead out of the storage root through a symbolic link; they are not listed");
  std::vector<CheckpointEntry> checkpoints;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step-", 0) != 0 || !fs::is_regular_file(entry.path() / "MANIFEST", error)) continue;
    char* end = nullptr;
    const long long step = std::strtoll(name.c_str() + 5, &end, 10);
    if (end == name.c_str() + 5 || *end != '\0') continue;
    checkpoints.push_back({step, relative + "/" + name});
  }
  std::sort(checkpoints.begin(), checkpoints.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  return checkpoints;
}

Status Coordinator::WritePrometheusMetrics(std::string& out) {
  return reads_->With([&](Store& store) -> Status {
    ASSIGN_OR_RETURN(std::vector<v1::Sweep> sweeps, store.ListSweeps(10000));
    std::map<std::string, double> sweeps_by_state;
    std::vector<GaugeSample> trials;
    for (const v1::Sweep& sweep : sweeps) {
      sweeps_by_state[v1::SweepStateName(sweep.state())] += 1;
      if (sweep.state() != v1::SWEEP_RUNNING) continue;  // finished sweeps' trials no longer change
      for (const auto& [trial_state, count] : sweep.trials_by_state())
        trials.push_back({{{"sweep", std::to_string(sweep.id())}, {"state", trial_state}}, static_cast<double>(count)});
    }
    std::vector<GaugeSample> sweep_samples;
    for (const auto& [state, count] : sweeps_by_state) sweep_samples.push_back({{{"state", state}}, count});
    WriteGauges(out, "orchard_sweeps", "Sweeps by state (the newest 10,000).", sweep_samples);
    WriteGauges(out, "orchard_trials", "Trials of running sweeps by sweep and state.", trials);

    ASSIGN_OR_RETURN(std::vector<v1::Worker> workers, store.ListWorkers());
    double alive = 0, lost = 0, busy = 0, free = 0;
    for (const v1::Worker& worker : workers) {
      if (!worker.alive()) {
        lost += 1;
        continue;
      }
      alive += 1;
      ASSIGN_OR_RETURN(const double held, store.BusySlots(worker.id()));
      busy += held;
      free += std::max(0.0, static_cast<double>(worker.slots()) - held);
    }
    WriteGauges(out, "orchard_workers", "Workers by state.", {{{{"state", "alive"}}, alive}, {{{"state", "lost"}}, lost}});
    WriteGauges(out, "orchard_slots", "Slots of live workers by state.",
                {{{{"state", "busy"}}, busy}, {{{"state", "free"}}, free}});

    HistogramFamily durations("orchard_trial_duration_seconds",
                              "Wall time of each ended trial from its first start to its end, by how it ended.",
                              {"state"}, DurationBuckets());
    ASSIGN_OR_RETURN(const auto ended, store.TrialDurations());
    for (const auto& [state, seconds] : ended)
      if (IsFinished(state)) durations.Observe({state}, seconds);
    durations.Write(out);
    HistogramFamily waits("orchard_queue_wait_seconds",
                          "Time each attempt waited for a slot: since its trial was created or its previous attempt ended.",
                          {}, DurationBuckets());
    ASSIGN_OR_RETURN(const std::vector<double> queued, store.QueueWaits());
    for (double seconds : queued) waits.Observe({}, seconds);
    waits.Write(out);
    commit_seconds_.Write(out);
    writes_per_commit_.Write(out);
    return OkStatus();
  });
}

}  // namespace orchard::coordinator
