// The coordinator's domain logic: owns the store and the sweeps' search strategies and applies one
// state change at a time, each as one store transaction committed before the caller answers.
//
//   ASSIGN_OR_RETURN(auto coordinator, Coordinator::Open(options));
//   ASSIGN_OR_RETURN(v1::Sweep sweep, coordinator->Submit(request));
//
// The gRPC services are thin adapters over these methods; every method validates its input and
// returns InvalidArgument, NotFound, FailedPrecondition or PermissionDenied with a message a person
// can act on. Thread-safe: changes serialise on one mutex; reads use connections of their own
// (store/read_pool.h) and never wait for a change to commit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "coordinator/access/auth.h"
#include "coordinator/paging.h"
#include "core/clock.h"
#include "core/prometheus.h"
#include "coordinator/registry/model_registry.h"
#include "coordinator/placement/retry_policy.h"
#include "coordinator/schedules/schedule_firing.h"
#include "coordinator/search/importance.h"
#include "coordinator/search/search_strategy.h"
#include "coordinator/store/read_pool.h"
#include "coordinator/store/store.h"
#include "coordinator/schedules/time_zone.h"
#include "core/recipe.h"
#include "core/status.h"
#include "orchard/v1/schedule_service.pb.h"
#include "orchard/v1/sweep_service.pb.h"
#include "orchard/v1/trial_service.pb.h"
#include "orchard/v1/worker_service.pb.h"

namespace orchard::coordinator {

struct CoordinatorOptions {
  std::string state_dir = ".orchard";  // orchard.db lives here
  std::string storage_root;             // trial output; default <state_dir>/storage
  double heartbeat_interval_seconds = 2;
  double lease_timeout_seconds = 15;    // a worker silent this long is declared lost
  // Refuse recipe paths outside the storage root and `allowed_path_roots` (path_confinement.h).
  bool confine_paths = false;
  std::vector<std::string> allowed_path_roots;
  const Clock* clock = nullptr;         // default: the system clock
  // Opened only to be looked at (`orchard ui`): nothing is changed on opening, and the caller starts
  // no timers or workers.
  bool read_only = false;
  // Told before an older state file is upgraded to this build's schema (none: nobody is told).
  SchemaUpgradeNotice before_schema_upgrade;
};

class Coordinator {
 public:
  // Opens (or creates) the state directory and database and restores running sweeps' strategies.
  static StatusOr<std::unique_ptr<Coordinator>> Open(const CoordinatorOptions& options);
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Sweeps (the CLI's service; coordinator_sweeps.cc).
  // `owner` is the user submitting; with confine_paths, PermissionDenied lists recipe paths outside the roots.
  // With request.model the sweep challenges that model's champion (created for `owner` when new;
  // PermissionDenied when it is another user's): a champion is first evaluated on the sweep's data.
  StatusOr<v1::Sweep> Submit(const v1::SubmitSweepRequest& request, const std::string& owner = kLocalUser);
  StatusOr<v1::Sweep> GetSweep(int64_t sweep_id);
  // The newest running sweep submitted with this very request (recipe text, file, overrides,
  // name, model and margin), if any: what a rerun of an interrupted `orchard run` resumes.
  StatusOr<std::optional<v1::Sweep>> FindUnfinishedSweep(const v1::SubmitSweepRequest& request);
  // Newest first; only `owner`'s sweeps when given. Paged as coordinator/paging.h says.
  StatusOr<Page<v1::Sweep>> ListSweeps(int64_t page_size, const std::string& page_token,
                                       const std::optional<std::string>& owner = std::nullopt);
  // Who submitted a sweep, or the sweep of a trial (NotFound when there is none).
  StatusOr<std::string> SweepOwner(int64_t sweep_id);
  StatusOr<std::string> TrialOwner(int64_t trial_id);
  StatusOr<v1::Sweep> Cancel(int64_t sweep_id);
  // Every trial of a sweep, for the coordinator's own views; the API lists them a page at a time.
  StatusOr<std::vector<v1::Trial>> ListTrials(int64_t sweep_id);
  StatusOr<Page<v1::Trial>> ListTrialsPage(int64_t sweep_id, int64_t page_size, const std::string& page_token);
  StatusOr<v1::Trial> GetTrial(int64_t trial_id);
  // A trial's points by step, then name; `name` empty for every metric.
  StatusOr<Page<v1::MetricPoint>> TrialMetrics(int64_t trial_id, const std::string& name, int64_t page_size,
                                               const std::string& page_token);
  StatusOr<v1::Trial> BestTrial(int64_t sweep_id);
  StatusOr<v1::GetTrialLogResponse> TrialLog(const v1::GetTrialLogRequest& request);
  StatusOr<std::vector<v1::Worker>> ListWorkers();

  // Watching: events of a sweep after `after_event_id`, with the sweep as it is now.
  struct SweepEvents {
    v1::Sweep sweep;
    std::vector<EventRecord> events;
  };
  StatusOr<SweepEvents> EventsAfter(int64_t sweep_id, int64_t after_event_id);
  // Blocks until some state changed after `version` (see version()) or `timeout_seconds` passed.
  uint64_t WaitForChange(uint64_t version, double timeout_seconds);
  uint64_t version();

  // Schedules (the schedule service; coordinator_schedules.cc, docs/schedules.md): a cron
  // expression in a time zone that submits a stored recipe as the schedule's owner, filling its
  // ${...} variables.
  // Creates `request.name` for `owner`, or makes a new version of it when anything changed (the
  // owner stays; adding it unchanged changes nothing). InvalidArgument for a bad name, cron
  // expression, zone, policy, variable or recipe: the recipe is checked as the next slot's firing
  // would submit it, except that its data need not exist yet.
  StatusOr<v1::AddScheduleResponse> AddSchedule(const v1::AddScheduleRequest& request,
                                                const std::string& owner = kLocalUser);
  // By name; only `owner`'s schedules when given.
  StatusOr<std::vector<v1::Schedule>> ListSchedules(const std::optional<std::string>& owner = std::nullopt);
  // With every version and the newest `runs_limit` runs (0: 20).
  StatusOr<v1::ScheduleDetails> GetSchedule(const std::string& name, int64_t runs_limit);
  StatusOr<std::string> ScheduleOwner(const std::string& name);
  // Idempotent. Slots that pass while paused are never caught up: a resumed schedule fires from the
  // first slot after it was resumed.
  StatusOr<v1::Schedule> PauseSchedule(const std::string& name);
  StatusOr<v1::Schedule> ResumeSchedule(const std::string& name);
  // Forgets the schedule, its versions and runs; the sweeps it fired go on.
  Status RemoveSchedule(const std::string& name);
  // A run now, for the slot `now` (schedule_firing.h: DecideRunNow); FailedPrecondition, with
  // nothing recorded, when the previous run is still going under the skip policy.
  StatusOr<v1::ScheduleRun> RunScheduleNow(const std::string& name);
  // Carries out every schedule's due slot (schedule_firing.h: DecideFiring), each schedule in its
  // own transaction: submits the sweep, or records the run as skipped or as failed with its reason
  // (missing data, a recipe that no longer parses). Called every second and once at startup, when
  // it catches up the slots missed while the coordinator was down. The first error of a schedule
  // that could not be handled at all (its zone file is gone, the database fails); the others are
  // still handled.
  Status FireDueSchedules();

  // Workers and leases (the worker service; coordinator_workers.cc).
  StatusOr<v1::RegisterWorkerResponse> RegisterWorker(const v1::RegisterWorkerRequest& request);
  StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request);
  StatusOr<v1::LeaseAttemptsResponse> LeaseAttempts(const v1::LeaseAttemptsRequest& request);
  Status ReportAttemptExit(const v1::ReportAttemptExitRequest& request);
  // A worker leaving (shutdown, preemption): attempts it did not report ended are queued again.
  Status DeregisterWorker(const v1::DeregisterWorkerRequest& request);
  // Declares workers silent past the lease timeout lost; their attempts end as lost and their trials
  // are queued again (sweep.max_restarts). Called periodically.
  Status ExpireWorkers();
  // Gives each pending trial that no live worker can hold (a gang larger than the largest worker) its
  // reason, and fails it once it waited sweep.unplaceable_timeout_seconds; the strategy hears of it.
  // Called periodically.
  Status CheckUnplaceableTrials();

  // Trial reports (the trial service; coordinator_reports.cc), authorised by the attempt's token:
  // Unauthenticated when it is not that attempt's, FailedPrecondition once the attempt has ended.
  // A report of the sweep's metric is judged by the strategy; the answer names the step judged and
  // the next one that will be, for a trainer that waits at its rungs.
  StatusOr<v1::ReportMetricsResponse> ReportMetrics(const v1::ReportMetricsRequest& request);
  // Each report as ReportMetrics would take it alone, in order, all in one commit: one outcome per
  // report, or the commit's error for all.
  StatusOr<std::vector<StatusOr<v1::ReportMetricsResponse>>> ReportMetricsBatch(
      const v1::ReportMetricsBatchRequest& request);
  StatusOr<v1::Decision> ReportCheckpoint(const v1::ReportCheckpointRequest& request);

  // The model registry (its service; coordinator_registry.cc, registry/model_registry.h). Who may
  // do what is the service's check.
  StatusOr<std::vector<v1::ModelSummary>> ListModels(const std::optional<std::string>& owner = std::nullopt);
  StatusOr<v1::Model> GetModel(const std::string& name);
  // NotFound when there is no such model.
  StatusOr<std::string> ModelOwner(const std::string& name);
  // `user` is recorded as who decided, and owns the model when this creates it.
  StatusOr<v1::Model> PromoteTrial(const std::string& model, int64_t trial_id, const std::string& user);
  StatusOr<v1::Model> RollbackModel(const std::string& model, const std::string& user);

  // What the dashboard and /metrics read besides the calls above (coordinator_views.cc).
  struct SweepMetricSeries {
    std::string metric;                 // the one asked for, or the sweep's
    std::vector<std::string> names;     // every metric the sweep's trials reported
    std::vector<TrialSeries> series;
  };
  // Every trial's points of one metric; an empty `name` means the sweep's metric. With `max_points`
  // above 0, about that many in all: each longer series keeps evenly spaced points, its first and
  // last among them, and never fewer than kMinPointsPerSeries.
  static constexpr int64_t kMinPointsPerSeries = 20;
  StatusOr<SweepMetricSeries> SweepMetrics(int64_t sweep_id, const std::string& name, int64_t max_points = 0);
  // The sweep block as submitted: the search space and how it is searched.
  StatusOr<SweepSpec> SweepSearchSpace(int64_t sweep_id);
  // Which hyperparameters mattered (search/importance.h), over the trials that reported the
  // sweep's metric; stopped trials count with the value they stopped at.
  StatusOr<ImportanceReport> Importance(int64_t sweep_id);
  // What the search spent against running every trial to the end.
  struct SweepCost {
    double slot_seconds = 0;  // slots held by its attempts, the running ones up to now
    int64_t trial_steps = 0;  // steps its trials trained
    // Steps had every trial run to the end: trials_total x the steps of a whole trial (max_steps, or
    // else the longest completed trial's); 0 while unknown.
    int64_t full_steps = 0;
  };
  StatusOr<SweepCost> Cost(int64_t sweep_id);
  StatusOr<std::vector<AttemptSummary>> TrialAttempts(int64_t trial_id);
  // The trial, its sweep, and every attempt with what it trained from.
  StatusOr<v1::TrialLineage> TrialLineage(int64_t trial_id);
  struct CheckpointEntry {
    int64_t step = 0;
    std::string path;  // relative to the storage root
  };
  // The trial's complete checkpoints (those with a MANIFEST) on the storage root, by step.
  StatusOr<std::vector<CheckpointEntry>> TrialCheckpoints(int64_t trial_id);
  // /metrics: state of the whole coordinator, appended to `out` in Prometheus's text format.
  Status WritePrometheusMetrics(std::string& out);

  const std::string& storage_root() const { return storage_root_; }
  const CoordinatorOptions& options() const { return options_; }

 private:
  struct ActiveSweep {
    std::unique_ptr<SearchStrategy> strategy;
    std::string name;
    SweepSpec spec;
    // Set when the search finished while the champion's evaluation still runs: the state the sweep
    // ends in when it does. The strategy hears of nothing more.
    std::string search_outcome;
  };
  // Strategies advance in memory as a transaction feeds them events. One of these per transaction
  // that may do so: unless Commit() succeeds, every sweep the transaction touched is reloaded from
  // the store, which has rolled back (its strategy's snapshot is saved with every event).
  class StrategyTransaction {
   public:
    explicit StrategyTransaction(Coordinator& coordinator);
    ~StrategyTransaction();
    StrategyTransaction(const StrategyTransaction&) = delete;
    StrategyTransaction& operator=(const StrategyTransaction&) = delete;
    Status status() const { return tx_.status(); }
    Status Commit();

   private:
    Coordinator& coordinator_;
    Transaction tx_;
    bool committed_ = false;
  };

  // A submission checked and parsed, ready to insert: what Submit and a firing schedule share.
  struct PreparedSweep {
    v1::SubmitSweepRequest request;
    std::string file;                    // the recipe file, or a stand-in name for messages
    std::vector<std::string> overrides;
    Recipe recipe;
    SweepSpec spec;
    std::string name;
    std::unique_ptr<SearchStrategy> strategy;
  };

  // Group commit. The frequent writes (reports, heartbeats, leases, exits) each run under mu_
  // inside one shared transaction, the batch, their own work in a savepoint of it. The writer that
  // finds nobody queued behind it (or the batch full) commits the batch: one fsync for everything
  // that arrived while the previous one ran. Every write returns only once the batch holding its
  // change is durable; a failed commit fails every write in it. Events reach each sweep's strategy
  // in the order the writes took mu_, as without batching.
  // One batch's commit, settled once: its writers wait for it here, not under mu_. Woken under mu_,
  // each writer took mu_ in turn only to let it go, and the cores idled in that convoy while new
  // writes queued behind it.
  class BatchOutcome {
   public:
    void Settle(Status status);
    Status Wait();

   private:
    std::mutex mu_;
    std::condition_variable settled_cv_;
    bool settled_ = false;
    Status status_;
  };
  class WriteScope {
   public:
    explicit WriteScope(Coordinator& coordinator);
    ~WriteScope();  // a write that ended early (an error) still leaves the batch to be committed
    WriteScope(const WriteScope&) = delete;
    WriteScope& operator=(const WriteScope&) = delete;
    // Waits until this write's changes are durable, with mu_ released: after it, touch only what
    // the write itself holds (its answer), never the coordinator's state.
    Status Commit();

   private:
    Coordinator& coordinator_;
    std::unique_lock<std::mutex> lock_;
    std::shared_ptr<BatchOutcome> batch_;  // the batch it wrote in; null: it committed alone
    bool ended_ = false;
  };
  static constexpr int64_t kMaxWritesPerCommit = 64;
  // mu_ for everything else: an open batch is committed first, so what is read is durable and what
  // is written commits on its own.
  std::unique_lock<std::mutex> LockSettled();
  // Ends one write of `batch`: the last in line commits it; each releases `lock` and waits for the
  // commit, and returns its status.
  Status EndWriteLocked(std::unique_lock<std::mutex>& lock, const std::shared_ptr<BatchOutcome>& batch);
  void CommitBatchLocked();
  // Strategies of these sweeps advanced in memory in work the store rolled back: load them again.
  void ReloadSweepsLocked(const std::set<int64_t>& sweep_ids);

  Coordinator(CoordinatorOptions options, std::unique_ptr<Store> store);
  double Now() const { return options_.clock->Now(); }
  void Changed();  // wakes watchers; call after a commit, with mu_ held (with a batch open: once it commits)

  // Feeds one event to a sweep's strategy and carries out the operations (inside a StrategyTransaction),
  // then the events those caused, in order: the strategy hears of every trial that ends.
  Status HandleSearchEvent(int64_t sweep_id, const SearchEvent& event);
  // Notes that the open transaction changes this sweep's strategy or its being active.
  void Touch(int64_t sweep_id) { touched_.insert(sweep_id); }
  // Carries out one operation; a trial it ends at once (a pending or paused one stopped) is added
  // to `caused` as TrialExited, for the strategy to hear after the operations of this event.
  Status ApplyAction(int64_t sweep_id, ActiveSweep& sweep, const SearchAction& action, std::deque<SearchEvent>* caused);
  // Ends the sweep, or, when a completed search leaves the champion's evaluation running, ends the
  // rest and lets the sweep end with it. A completed sweep with a model then judges its challenger.
  // By value: it erases the sweep's entry in sweeps_, where a caller's strings may live.
  Status FinishSweepLocked(int64_t sweep_id, std::string state, std::string message);
  // Ends an attempt; its trial ends (and the strategy hears of it) or is queued again (retry_policy.h).
  // `end.stop_reason` is taken from the attempt.
  Status EndAttemptLocked(const AttemptRecord& attempt, AttemptEnd end, const AttemptUsage& usage = {});
  // Ends a worker's active attempts as lost.
  Status LoseAttemptsLocked(const std::vector<AttemptRecord>& attempts, const std::string& reason);
  StatusOr<AttemptRecord> AuthorizeReport(int64_t attempt_id, const std::string& token);
  // A validated report's work inside an open WriteScope: durable once that write commits.
  StatusOr<v1::ReportMetricsResponse> ReportMetricsLocked(const v1::ReportMetricsRequest& request);

  // Validates and parses a submission (no lock needed: reads only the options).
  StatusOr<PreparedSweep> PrepareSweep(const v1::SubmitSweepRequest& request) const;
  // Inserts the sweep and starts its search, inside the caller's transaction; if that transaction
  // does not commit, the caller erases the id from sweeps_.
  StatusOr<int64_t> InsertSweepLocked(PreparedSweep prepared, const std::string& owner, const std::string& schedule);

  // Schedules (coordinator_schedules.cc).
  StatusOr<TimeZone> ZoneLocked(const std::string& name);  // loaded once per name
  StatusOr<CronSchedule> CronLocked(const ScheduleSettings& settings);
  StatusOr<FiringState> FiringStateLocked(const ScheduleRecord& schedule);
  // With its next slot and last run.
  StatusOr<v1::Schedule> ScheduleProtoLocked(const ScheduleRecord& schedule);
  // Its slot as the wall clock of `time_zone` read it (UTC when that zone can no longer be loaded).
  v1::ScheduleRun RunProtoLocked(const ScheduleRunRecord& run, const std::string& time_zone);
  // Data files by path, hashed before the lock is taken.
  using HashedFiles = std::map<std::string, FileFingerprint>;
  // The data files of the runs that would fire now (every due schedule's, or `run_now`'s), hashed
  // without holding the lock: a large file takes seconds, and the lock holds every RPC. Best effort:
  // what it misses, FireLocked hashes itself.
  HashedFiles HashDataOfDueRuns(const std::string& run_now);
  // Fires run `schedules.runs + 1` for `slot`, inside the caller's transaction: submits the sweep
  // (first canceling the previous runs' sweeps when `cancel_previous`), records the run as failed
  // when its recipe does not parse or its data is missing, or as skipped when the schedule skips
  // unchanged data and it is. Errors only when the store fails.
  StatusOr<ScheduleRunRecord> FireLocked(const ScheduleRecord& schedule, int64_t slot, int64_t missed,
                                         bool cancel_previous, const std::string& fired_by, const HashedFiles& hashed);
  // Handles one schedule's due slot, if any, in its own transaction.
  Status FireIfDueLocked(const ScheduleRecord& schedule, const HashedFiles& hashed);

  CoordinatorOptions options_;
  SystemClock system_clock_;
  std::string storage_root_;
  std::string canonical_storage_root_;         // symbolic links resolved, for confinement
  std::vector<std::string> path_roots_;        // canonical; empty unless options_.confine_paths

  HistogramFamily commit_seconds_{"orchard_store_commit_seconds",
                                  "Time to commit one state change to SQLite, its fsync included.", {},
                                  LatencyBuckets()};
  HistogramFamily writes_per_commit_{"orchard_store_writes_per_commit",
                                     "Writes (reports, heartbeats, leases, exits) made durable by one group commit.",
                                     {}, {1, 2, 4, 8, 16, 32, 64}};
  std::unique_ptr<ReadPool> reads_;

  std::mutex mu_;
  std::condition_variable changed_;
  uint64_t version_ = 0;                       // guarded by mu_
  std::unique_ptr<Store> store_;               // guarded by mu_
  std::unique_ptr<ModelRegistry> registry_;    // guarded by mu_
  std::map<int64_t, ActiveSweep> sweeps_;      // running sweeps; guarded by mu_
  std::set<int64_t> touched_;                  // sweeps the open transaction changed; guarded by mu_
  // The group commit's batch (WriteScope); all guarded by mu_ but writers_waiting_.
  std::atomic<int> writers_waiting_{0};        // WriteScopes waiting for mu_
  std::unique_ptr<Transaction> batch_;         // null when none is open
  std::shared_ptr<BatchOutcome> batch_outcome_;  // the open batch's, shared with its writers
  int64_t batch_writes_ = 0;
  std::set<int64_t> batch_touched_;            // sweeps its writes advanced in memory
  bool batch_changed_ = false;                 // a write in it called Changed()
  // Schedules' zones by name, each read from the zoneinfo files once (a tzdata update applies at
  // the next start); guarded by mu_.
  std::map<std::string, TimeZone> zones_;
  // When each live worker's last heartbeat came. Kept here, not in the store: a heartbeat that
  // writes nothing commits nothing, and a thousand workers' heartbeats had been about half of all
  // commits under load. The store's last_heartbeat is that of the worker's registration or last
  // lease; views and expiry take the later of the two. After a restart the store grants every live
  // worker a fresh time (TouchAliveWorkers), so nothing here needs to outlive the process.
  mutable std::mutex heard_mu_;
  std::map<std::string, double> last_heard_;   // guarded by heard_mu_
  double LastHeard(const std::string& worker_id) const;  // 0 when none came since this start
  void ForgetHeard(const std::string& worker_id);
};

// The sweep block as stored with a sweep (and back).
nlohmann::json SweepSpecToJson(const SweepSpec& spec);
SweepSpec SweepSpecFromJson(const nlohmann::json& json);

}  // namespace orchard::coordinator
