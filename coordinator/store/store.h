// The coordinator's state in SQLite: sweeps, trials, attempts, workers, metrics, events and schedules.
//
//   ASSIGN_OR_RETURN(auto store, Store::Open("state/orchard.db"));
//   Transaction tx = store->Begin();
//   ASSIGN_OR_RETURN(int64_t id, store->InsertSweep(record));
//   RETURN_IF_ERROR(tx.Commit());
//
// Every method is one or a few SQL statements; the caller groups them in a transaction so that one
// state change commits as a whole before it is acknowledged. Reads return API messages directly.
// Every read returns its SQLite error rather than an empty answer. One file per group of tables:
// store.cc (sweeps, events), store_trials.cc (trials, attempts, metrics), store_workers.cc,
// store_schedules.cc, store_registry.cc; the schema is in schema.cc.
// Not thread-safe: the coordinator serialises all access.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coordinator/placement/scheduler.h"
#include "coordinator/search/search_strategy.h"
#include "coordinator/store/sqlite.h"
#include "core/data_fingerprint.h"
#include "core/status.h"
#include "orchard/v1/registry_service.pb.h"
#include "orchard/v1/types.pb.h"

namespace orchard::coordinator {

// The trial number of a sweep's evaluation of its model's champion (model registry): a job the
// search strategy never hears of, left out of the sweep's counts and its best trial.
inline constexpr int64_t kChampionEvaluationTrial = -1;

struct SweepRecord {
  int64_t id = 0;
  std::string name;
  std::string state = "running";  // running | completed | failed | canceled
  std::string recipe_yaml;
  std::string recipe_file;
  std::vector<std::string> overrides;
  nlohmann::json spec;            // the SweepSpec (SweepSpecToJson)
  int64_t planned_trials = 0;
  nlohmann::json strategy_state;
  double created_at = 0;
  double finished_at = 0;         // 0 while running
  std::string owner;              // the user who submitted it
  std::string schedule;           // the schedule that fired it; empty when submitted by hand
  // Model registry: the model whose champion the best trial challenges (empty: none), how much
  // better it must be, the champion version its evaluation trial judges (0: there was none), and,
  // once the search is over while that evaluation still runs, the state the sweep will end in.
  std::string model;
  double promotion_margin = 0;
  int64_t evaluated_version = 0;
  std::string search_outcome;
};

struct ModelRecord {
  std::string name;
  std::string owner;
  int64_t champion = 0;  // version; 0: none
  double created_at = 0;
};

struct AttemptRecord {
  int64_t id = 0;
  int64_t trial_id = 0;
  int64_t sweep_id = 0;
  int64_t trial_number = 0;
  int64_t number = 0;
  std::string worker_id;
  std::string token_hash;   // SHA-256 of the attempt's token (auth.h); the token itself is not kept
  std::string state;        // running | stopping | exited | lost (its worker was declared lost)
  std::string stop_reason;  // why it is stopping: "canceled" | "stopped" | "paused"
  std::string log_path;     // relative to the storage root
  double started_at = 0;    // when it was leased

  bool active() const { return state == "running" || state == "stopping"; }
};

// When an attempt held its trial, for checking that no two attempts of a trial overlapped.
struct AttemptSpan {
  int64_t trial_number = 0;
  int64_t attempt_number = 0;
  std::string state;
  double started_at = 0;
  double ended_at = 0;   // 0 while active
  std::string log_path;  // relative to the storage root
};

// One attempt of a trial as the dashboard shows it.
struct AttemptSummary {
  int64_t number = 0;
  std::string worker_id;
  std::string state;        // running | stopping | exited | lost
  double slots = 0;         // slots held, or the fraction of one GPU a trial that shares it holds
  int64_t exit_code = -1;
  int64_t signal = 0;
  std::string reason;
  double started_at = 0;
  double ended_at = 0;      // 0 while active
  std::string provenance_json;   // what it trained from (core/provenance.h); empty: none reported
  std::string parameter_digest;  // of its final parameters; completed attempts only
};

// What an attempt's processes used, as its worker measured them (0: not measured).
struct AttemptUsage {
  double cpu_seconds = 0;
  int64_t peak_memory_bytes = 0;
  int64_t gpu_peak_memory_bytes = 0;   // 0: no GPU measured, and then the utilisation is not either
  double gpu_utilization_percent = 0;
};

// One trial's points of one metric, in step order.
struct TrialSeries {
  int64_t trial_id = 0;
  int64_t number = 0;
  std::vector<std::pair<int64_t, double>> points;  // (step, value)
};

struct WorkerRecord {
  std::string id;
  int64_t slots = 0;
  bool alive = false;
  double last_heartbeat = 0;
};

// One version of a schedule's settings; a schedule changes only by getting a new version.
struct ScheduleSettings {
  std::string cron;
  std::string time_zone;               // as given; empty is UTC
  std::string recipe_yaml;             // with its ${...} variables
  std::string recipe_file;
  std::vector<std::string> overrides;
  std::string overlap = "skip";        // skip | allow | replace
  std::string model;                   // passed on to every sweep it submits
  double promotion_margin = 0;
  // A firing whose data has the fingerprints of the last completed run's is skipped.
  bool skip_if_data_unchanged = false;

  bool operator==(const ScheduleSettings&) const = default;
};

struct ScheduleRecord {
  int64_t id = 0;
  std::string name;
  std::string owner;
  int64_t version = 0;                 // the current one
  ScheduleSettings settings;           // of the current version
  double version_created_at = 0;
  bool paused = false;
  int64_t due_after = 0;               // cron slots after this instant are due (schedule_firing.h)
  int64_t runs = 0;                    // runs so far; the next is number runs + 1
  double created_at = 0;
};

struct ScheduleVersionRecord {
  int64_t version = 0;
  ScheduleSettings settings;
  double created_at = 0;
};

struct ScheduleRunRecord {
  int64_t number = 0;
  int64_t version = 0;
  std::string fired_by;   // cron | catch-up | run-now
  int64_t slot = 0;       // Unix seconds
  double fired_at = 0;
  int64_t missed = 0;     // slots missed before this one
  int64_t sweep_id = 0;   // 0: none (skipped or failed)
  std::string state;      // submitted | skipped | failed; as read, a submitted run has its sweep's state
  std::string reason;
  std::vector<FileFingerprint> data;  // the recipe's data files when it fired
};

struct EventRecord {
  int64_t id = 0;
  double time = 0;
  std::string message;
};

class Store {
 public:
  // Opens or creates `path` and migrates it to the current schema (telling `before_upgrade` first
  // when an older file is upgraded). Sweeps name `storage_root` as the base of their trials' paths.
  static StatusOr<std::unique_ptr<Store>> Open(const std::string& path, const std::string& storage_root,
                                               const SchemaUpgradeNotice& before_upgrade = {});

  Transaction Begin() { return Transaction(db_.get()); }
  // The same, held across calls: the coordinator's group commit keeps one open for many writes.
  std::unique_ptr<Transaction> BeginHeld() { return std::make_unique<Transaction>(db_.get()); }
  // Several reads that must agree with each other (read_pool.h takes one for every borrower).
  ReadSnapshot Snapshot() { return ReadSnapshot(db_.get()); }
  // Times every commit into `latency` (the coordinator's /metrics).
  void ObserveCommits(HistogramFamily* latency) { db_->ObserveCommits(latency); }

  // Sweeps.
  StatusOr<int64_t> InsertSweep(const SweepRecord& sweep);
  StatusOr<SweepRecord> LoadSweep(int64_t sweep_id);
  StatusOr<std::vector<int64_t>> RunningSweepIds();
  Status SaveStrategyState(int64_t sweep_id, const nlohmann::json& state);
  Status FinishSweep(int64_t sweep_id, const std::string& state, double now);
  StatusOr<v1::Sweep> GetSweep(int64_t sweep_id);
  // Newest first; only `owner`'s sweeps when given.
  // Newest first: at most `limit` sweeps with ids below `before_id` (all when nullopt).
  StatusOr<std::vector<v1::Sweep>> ListSweeps(int64_t limit, const std::optional<std::string>& owner = std::nullopt,
                                              std::optional<int64_t> before_id = std::nullopt);
  // The best trial that completed or was stopped with the metric reported; nullopt if none.
  StatusOr<std::optional<v1::Trial>> BestTrial(int64_t sweep_id, const std::string& mode);
  // The search is over but the champion's evaluation is not: the sweep ends in `state` when it is.
  Status SetSearchOutcome(int64_t sweep_id, const std::string& state);

  // Trials.
  Status InsertTrial(int64_t sweep_id, int64_t number, const std::vector<Hyperparameter>& hyperparameters,
                     const std::string& output_dir, double now);
  StatusOr<v1::Trial> GetTrial(int64_t trial_id);
  // The owner of the trial's sweep.
  StatusOr<std::string> TrialOwner(int64_t trial_id);
  StatusOr<int64_t> TrialId(int64_t sweep_id, int64_t number);
  // By number: at most `limit` trials (-1: all) numbered above `after_number` (all when nullopt).
  StatusOr<std::vector<v1::Trial>> ListTrials(int64_t sweep_id, std::optional<int64_t> after_number = std::nullopt,
                                              int64_t limit = -1);
  Status SetTrialState(int64_t trial_id, const std::string& state, const std::string& message, double now);
  // Pending trials of running sweeps, oldest sweep first, then by trial number.
  StatusOr<std::vector<PendingTrial>> PendingTrials(int64_t limit);
  // Why a pending trial cannot start (empty: it can), and since when.
  Status SetTrialWaiting(int64_t trial_id, const std::string& reason, double since);
  // Pending trials that have a waiting reason: id -> (reason, since).
  StatusOr<std::map<int64_t, std::pair<std::string, double>>> WaitingReasons();
  // Pending trials of one sweep, ids only.
  StatusOr<std::vector<int64_t>> PendingTrialIds(int64_t sweep_id);
  // Trials running (or stopping) per sweep.
  StatusOr<std::map<int64_t, int64_t>> RunningTrialsBySweep();
  // Back to pending after an attempt ended without finishing it; the next attempt resumes.
  Status RequeueTrial(int64_t trial_id, const std::string& message, bool counts_as_restart);
  // The search strategy's latest decision about a trial, at `rung` (-1: leaves the rung as it is).
  Status RecordDecision(int64_t trial_id, const std::string& decision, int64_t rung);
  Status SetTrialHyperparameters(int64_t trial_id, const std::vector<Hyperparameter>& hyperparameters);
  // PBT: the trial continues from `parent`'s checkpoint of `step` with `hyperparameters`.
  Status AppendLineage(int64_t trial_id, int64_t step, int64_t parent, const std::vector<Hyperparameter>& hyperparameters,
                       double now);
  Status RecordObjective(int64_t trial_id, int64_t step, double value);
  Status RecordLastStep(int64_t trial_id, int64_t step);
  // The trial continues from an earlier step (PBT's copy of another's checkpoint): its progress goes
  // back there, and its next reports replace the objective even at steps it had passed.
  Status RewindTrial(int64_t trial_id, int64_t step);
  Status RecordCheckpoint(int64_t trial_id, const std::string& path);

  // Attempts.
  // `slots`: the slots it holds, or the fraction of one GPU's memory it shares.
  StatusOr<AttemptRecord> InsertAttempt(int64_t trial_id, const std::string& worker_id, const std::string& token_hash,
                                        const std::string& log_path_prefix, double slots, double now);
  StatusOr<AttemptRecord> LoadAttempt(int64_t attempt_id);
  // Attempts of a worker that have not exited.
  StatusOr<std::vector<AttemptRecord>> ActiveAttempts(const std::string& worker_id);
  // The attempt of a trial that has not exited, if any.
  StatusOr<std::optional<AttemptRecord>> ActiveAttemptOfTrial(int64_t trial_id);
  // Asks a running attempt to stop for `stop_reason`; one stopping to pause may be asked again.
  Status SetAttemptStopping(int64_t attempt_id, const std::string& stop_reason);
  // Makes `attempt_id` a member of the fused group of `group_attempt_id` (its first member, which
  // holds the group's slot).
  Status JoinFusedGroup(int64_t attempt_id, int64_t group_attempt_id);
  // `state`: exited, or lost when its worker was declared lost. A fused member that held its group's
  // slot hands it to the group's oldest member still running (its trainer still holds the slot).
  Status EndAttempt(int64_t attempt_id, const std::string& state, int64_t exit_code, int64_t signal,
                    const std::string& reason, double now, const AttemptUsage& usage = {});
  // What the attempt trained from and, when it completed, its final parameters' digest.
  Status RecordAttemptProvenance(int64_t attempt_id, const std::string& provenance_json,
                                 const std::string& parameter_digest);
  // Every attempt of a sweep's trials, by trial then attempt number.
  StatusOr<std::vector<AttemptSpan>> AttemptSpans(int64_t sweep_id);
  StatusOr<std::vector<AttemptSummary>> TrialAttempts(int64_t trial_id);
  // Slot-seconds the sweep's attempts held their slots, active ones counted up to `now`.
  StatusOr<double> SweepSlotSeconds(int64_t sweep_id, double now);
  // How long each ended trial ran, from its first start to its end, with the state it ended in.
  StatusOr<std::vector<std::pair<std::string, double>>> TrialDurations();
  // How long each attempt waited before a worker leased it: since its trial was created (the first
  // attempt) or since the attempt before it ended.
  StatusOr<std::vector<double>> QueueWaits();
  // Log path of attempt `number` (1-based; 0 the latest) of a trial.
  StatusOr<std::string> AttemptLogPath(int64_t trial_id, int64_t number);

  // Metrics.
  Status InsertMetrics(int64_t trial_id, const std::vector<v1::MetricPoint>& points);
  // By step, then name: at most `limit` points (-1: all) of `name` (every name when empty) after
  // the point (name, step) `after` (from the first when nullopt).
  StatusOr<std::vector<v1::MetricPoint>> Metrics(int64_t trial_id, const std::string& name,
                                                 const std::optional<std::pair<std::string, int64_t>>& after = std::nullopt,
                                                 int64_t limit = -1);
  // Every trial's points of metric `name`, by trial number (trials without a point left out).
  StatusOr<std::vector<TrialSeries>> SweepMetricSeries(int64_t sweep_id, const std::string& name);
  // The metric names any trial of the sweep reported, sorted.
  StatusOr<std::vector<std::string>> SweepMetricNames(int64_t sweep_id);

  // Workers.
  StatusOr<std::string> InsertWorker(const std::string& hostname, int64_t slots, const std::string& slot_kind,
                                     const std::vector<int64_t>& gpu_memory_bytes, double now);
  StatusOr<std::optional<WorkerRecord>> LoadWorker(const std::string& worker_id);
  Status TouchWorker(const std::string& worker_id, double now);
  // Restarts every live worker's lease clock (after a coordinator restart, so they can reconnect).
  Status TouchAliveWorkers(double now);
  Status MarkWorkerLost(const std::string& worker_id);
  StatusOr<std::vector<std::string>> WorkersSilentSince(double cutoff);
  StatusOr<std::vector<v1::Worker>> ListWorkers();
  // Slots held by the worker's attempts that have not exited; a trial that shares a GPU holds its
  // fraction of one.
  StatusOr<double> BusySlots(const std::string& worker_id);

  // Schedules (store_schedules.cc). Names are unique.
  // A new schedule at version 1; `due_after` as in ScheduleRecord.
  StatusOr<int64_t> InsertSchedule(const std::string& name, const std::string& owner, const ScheduleSettings& settings,
                                   int64_t due_after, double now);
  // Makes `settings` the schedule's current version, the one after its latest.
  Status AddScheduleVersion(int64_t schedule_id, const ScheduleSettings& settings, int64_t due_after, double now);
  // NotFound naming the schedule and how to list them.
  StatusOr<ScheduleRecord> LoadSchedule(const std::string& name);
  // By name; only `owner`'s when given.
  StatusOr<std::vector<ScheduleRecord>> ListSchedules(const std::optional<std::string>& owner = std::nullopt);
  // Newest first.
  StatusOr<std::vector<ScheduleVersionRecord>> ScheduleVersions(int64_t schedule_id);
  // These three also mark the schedule for the firing loop to look at now (next_check -1).
  Status SetSchedulePaused(int64_t schedule_id, bool paused);
  Status SetScheduleDueAfter(int64_t schedule_id, int64_t due_after);
  // Unpaused schedules whose next_check is at or before `now`, by name: the only ones the firing
  // loop reads each second.
  StatusOr<std::vector<ScheduleRecord>> DueSchedules(int64_t now);
  // Nothing to look at before `next_check` (kNeverCheckAgain: the cron never fires again).
  Status SetScheduleNextCheck(int64_t schedule_id, int64_t next_check);
  static constexpr int64_t kNeverCheckAgain = INT64_MAX;
  // With its versions and runs; the sweeps it fired keep its name.
  Status DeleteSchedule(int64_t schedule_id);
  Status InsertScheduleRun(int64_t schedule_id, const ScheduleRunRecord& run);
  // Newest first, at most `limit`.
  StatusOr<std::vector<ScheduleRunRecord>> ScheduleRuns(int64_t schedule_id, int64_t limit);
  // Sweeps the schedule fired that are still running, oldest first.
  StatusOr<std::vector<int64_t>> RunningSweepsOfSchedule(int64_t schedule_id);
  // The newest run whose sweep completed; nullopt when none has.
  StatusOr<std::optional<ScheduleRunRecord>> LastCompletedScheduleRun(int64_t schedule_id);

  // Events: what changed in a sweep, for watchers.
  Status AddEvent(int64_t sweep_id, double now, const std::string& message);
  StatusOr<std::vector<EventRecord>> EventsAfter(int64_t sweep_id, int64_t after_id);

  // Model registry (store_registry.cc). Versions and decisions come back oldest first.
  StatusOr<std::optional<ModelRecord>> LoadModel(const std::string& name);
  Status InsertModel(const std::string& name, const std::string& owner, double now);
  // By name; only `owner`'s when given.
  StatusOr<std::vector<ModelRecord>> ListModels(const std::optional<std::string>& owner);
  Status SetChampion(const std::string& model, int64_t version);
  StatusOr<int64_t> NextModelVersion(const std::string& model);
  Status InsertModelVersion(const std::string& model, const v1::ModelVersion& version);
  StatusOr<v1::ModelVersion> GetModelVersion(const std::string& model, int64_t version);
  StatusOr<std::vector<v1::ModelVersion>> ListModelVersions(const std::string& model);
  StatusOr<int64_t> CountModelVersions(const std::string& model);
  // The decision's id is assigned by the store.
  Status InsertPromotionDecision(const std::string& model, const v1::PromotionDecision& decision);
  StatusOr<std::vector<v1::PromotionDecision>> ListPromotionDecisions(const std::string& model);
  StatusOr<std::optional<v1::PromotionDecision>> LastPromotionDecision(const std::string& model);
  // The champion that `version` replaced when it was last promoted (rollbacks do not count); 0 when
  // it was the first champion or was never promoted.
  StatusOr<int64_t> ChampionReplacedBy(const std::string& model, int64_t version);

 private:
  Store(std::unique_ptr<Database> db, std::string storage_root)
      : db_(std::move(db)), storage_root_(std::move(storage_root)) {}
  v1::Trial ReadTrial(const Statement& row);

  std::unique_ptr<Database> db_;
  std::string storage_root_;
  // (trial, metric name) pairs this connection put or found in metric_names, so that a report of a
  // known name skips that lookup. Forgotten when anything was undone since (the pair may have gone
  // with it) and when it grows past a bound.
  std::set<std::pair<int64_t, std::string>> known_metric_names_;
  uint64_t known_metric_names_undos_ = 0;
};

}  // namespace orchard::coordinator
