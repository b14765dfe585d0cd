// The Coordinator's schedules (issue #8): adding and versioning them, and carrying out the firing
// decisions of schedule_firing.h through the same path as Submit.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "coordinator/coordinator.h"
#include "coordinator/request_validation.h"
#include "core/recipe_variables.h"

namespace orchard::coordinator {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kDefaultRunsShown = 20;
constexpr int64_t kMaxRunsShown = 1000;

ScheduleSettings SettingsOf(const v1::AddScheduleRequest& request) {
  ScheduleSettings settings;
  settings.cron = request.cron();
  settings.time_zone = request.time_zone().empty() ? "UTC" : request.time_zone();
  settings.recipe_yaml = request.recipe_yaml();
  settings.recipe_file = request.recipe_file();
  settings.overrides.assign(request.overrides().begin(), request.overrides().end());
  settings.overlap = request.overlap().empty() ? "skip" : request.overlap();
  settings.model = request.model();
  settings.promotion_margin = request.promotion_margin();
  settings.skip_if_data_unchanged = request.skip_if_data_unchanged();
  return settings;
}

// What a new version changed, for the person who made it.
std::vector<std::string> Changes(const ScheduleSettings& before, const ScheduleSettings& after) {
  std::vector<std::string> changed;
  if (before.recipe_yaml != after.recipe_yaml) changed.push_back("recipe");
  if (before.recipe_file != after.recipe_file) changed.push_back("recipe file");
  if (before.overrides != after.overrides) changed.push_back("overrides");
  if (before.cron != after.cron) changed.push_back("cron");
  if (before.time_zone != after.time_zone) changed.push_back("time zone");
  if (before.overlap != after.overlap) changed.push_back("overlap");
  if (before.model != after.model) changed.push_back("model");
  if (before.promotion_margin != after.promotion_margin) changed.push_back("margin");
  if (before.skip_if_data_unchanged != after.skip_if_data_unchanged) changed.push_back("skip if data unchanged");
  return changed;
}

// The sweep a firing submits: the recipe with its variables filled, and the schedule's overrides,
// model and margin.
StatusOr<v1::SubmitSweepRequest> SweepRequest(const ScheduleSettings& settings,
                                              const std::map<std::string, std::string>& variables) {
  const std::string file = settings.recipe_file.empty() ? "<schedule recipe>" : settings.recipe_file;
  ASSIGN_OR_RETURN(std::string recipe, SubstituteVariables(settings.recipe_yaml, variables, file));
  v1::SubmitSweepRequest request;
  request.set_recipe_yaml(std::move(recipe));
  request.set_recipe_file(settings.recipe_file);
  for (const std::string& o : settings.overrides) request.add_overrides(o);
  request.set_model(settings.model);
  request.set_promotion_margin(settings.promotion_margin);
  return request;
}

// FailedPrecondition naming the first file the recipe reads that is not there. Paths are as
// ParseRecipe resolved them; an empty one is the trainer's default, which it checks itself.
Status CheckInputsExist(const Recipe& recipe) {
  const std::pair<const char*, const std::string*> files[] = {
      {"data.path", &recipe.data.path}, {"data.labels", &recipe.data.labels_path}, {"model.path", &recipe.model.torchscript.path}};
  for (const auto& [field, path] : files) {
    std::error_code error;
    if (!path->empty() && !fs::exists(*path, error))
      return FailedPrecondition(std::string(field) + " " + *path + " does not exist");
  }
  return OkStatus();
}

// The recipe's data files by content, so that a run records what it fired on and an unchanged data
// set can be skipped: from `hashed` (HashDataOfDueRuns), else hashed here.
StatusOr<std::vector<FileFingerprint>> FingerprintInputs(const Recipe& recipe,
                                                         const std::map<std::string, FileFingerprint>& hashed) {
  FingerprintCache cache(DefaultFingerprintCacheFile());
  std::vector<FileFingerprint> data;
  for (const std::string& file : InputFiles(recipe)) {
    if (const auto known = hashed.find(file); known != hashed.end()) {
      data.push_back(known->second);
      continue;
    }
    StatusOr<FileFingerprint> fingerprint = cache.Fingerprint(file);
    if (!fingerprint.ok()) return FailedPrecondition(fingerprint.status().message());
    data.push_back(*std::move(fingerprint));
  }
  (void)cache.Save();  // a cache that cannot be written costs only a hash next time
  return data;
}

bool SameData(const std::vector<FileFingerprint>& a, const std::vector<FileFingerprint>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](const auto& x, const auto& y) {
           return x.path == y.path && x.sha256 == y.sha256;
         });
}

// Run `schedule.runs + 1`, before its outcome is known.
ScheduleRunRecord NextRun(const ScheduleRecord& schedule, int64_t slot, int64_t missed, const std::string& fired_by,
                          double now) {
  ScheduleRunRecord run;
  run.number = schedule.runs + 1;
  run.version = schedule.version;
  run.fired_by = fired_by;
  run.slot = slot;
  run.fired_at = now;
  run.missed = missed;
  return run;
}

std::string IdList(const std::vector<int64_t>& ids) {
  std::string list;
  for (int64_t id : ids) list += (list.empty() ? "" : ", ") + std::to_string(id);
  return list;
}

std::string MissedText(int64_t missed) {
  if (missed >= kMaxCountedMissedSlots) return std::to_string(missed) + " or more earlier slots were missed";
  return std::to_string(missed) + (missed == 1 ? " earlier slot was" : " earlier slots were") + " missed";
}

}  // namespace

// ---- schedules ----

StatusOr<TimeZone> Coordinator::ZoneLocked(const std::string& name) {
  if (auto it = zones_.find(name); it != zones_.end()) return it->second;
  ASSIGN_OR_RETURN(TimeZone zone, LoadTimeZone(name));
  zones_.emplace(name, zone);
  return zone;
}

StatusOr<CronSchedule> Coordinator::CronLocked(const ScheduleSettings& settings) {
  ASSIGN_OR_RETURN(TimeZone zone, ZoneLocked(settings.time_zone));
  return ParseCron(settings.cron, std::move(zone));
}

StatusOr<FiringState> Coordinator::FiringStateLocked(const ScheduleRecord& schedule) {
  ASSIGN_OR_RETURN(const std::vector<int64_t> running, store_->RunningSweepsOfSchedule(schedule.id));
  FiringState state;
  state.due_after = schedule.due_after;
  state.paused = schedule.paused;
  state.previous_run_active = !running.empty();
  state.overlap = ParseOverlapPolicy(schedule.settings.overlap).value_or(OverlapPolicy::kSkip);
  return state;
}

v1::ScheduleRun Coordinator::RunProtoLocked(const ScheduleRunRecord& run, const std::string& time_zone) {
  v1::ScheduleRun proto;
  proto.set_number(run.number);
  proto.set_version(run.version);
  proto.set_fired_by(run.fired_by);
  proto.set_slot(run.slot);
  const StatusOr<TimeZone> zone = ZoneLocked(time_zone);
  proto.set_slot_local(FormatWallTime(run.slot, zone.ok() ? *zone : TimeZone()));
  proto.set_fired_at(run.fired_at);
  proto.set_missed(run.missed);
  proto.set_sweep_id(run.sweep_id);
  proto.set_state(run.state);
  proto.set_reason(run.reason);
  for (const FileFingerprint& f : run.data) {
    v1::DataFile* file = proto.add_data();
    file->set_path(f.path);
    file->set_bytes(f.bytes);
    file->set_sha256(f.sha256);
  }
  return proto;
}

StatusOr<v1::Schedule> Coordinator::ScheduleProtoLocked(const ScheduleRecord& schedule) {
  v1::Schedule proto;
  proto.set_name(schedule.name);
  proto.set_owner(schedule.owner);
  proto.set_version(schedule.version);
  proto.set_paused(schedule.paused);
  proto.set_cron(schedule.settings.cron);
  proto.set_time_zone(schedule.settings.time_zone);
  proto.set_overlap(schedule.settings.overlap);
  proto.set_model(schedule.settings.model);
  proto.set_promotion_margin(schedule.settings.promotion_margin);
  proto.set_skip_if_data_unchanged(schedule.settings.skip_if_data_unchanged);
  proto.set_recipe_file(schedule.settings.recipe_file);
  for (const std::string& o : schedule.settings.overrides) proto.add_overrides(o);
  proto.set_created_at(schedule.created_at);
  proto.set_runs(schedule.runs);
  if (const StatusOr<CronSchedule> cron = CronLocked(schedule.settings); cron.ok() && !schedule.paused) {
    // The first slot not yet handled: the next firing (or, for a moment, one about to fire).
    if (const std::optional<int64_t> next = cron->NextAfter(schedule.due_after)) {
      proto.set_next_slot(*next);
      proto.set_next_slot_local(FormatWallTime(*next, cron->time_zone()));
    }
  }
  ASSIGN_OR_RETURN(const std::vector<ScheduleRunRecord> last, store_->ScheduleRuns(schedule.id, 1));
  if (!last.empty()) {
    // The run's own version may have had another zone.
    std::string zone = schedule.settings.time_zone;
    ASSIGN_OR_RETURN(const std::vector<ScheduleVersionRecord> versions, store_->ScheduleVersions(schedule.id));
    for (const ScheduleVersionRecord& version : versions)
      if (version.version == last.front().version) zone = version.settings.time_zone;
    *proto.mutable_last_run() = RunProtoLocked(last.front(), zone);
  }
  return proto;
}

StatusOr<v1::AddScheduleResponse> Coordinator::AddSchedule(const v1::AddScheduleRequest& request,
                                                           const std::string& owner) {
  RETURN_IF_ERROR(ValidateAddSchedule(request));
  const ScheduleSettings settings = SettingsOf(request);
  const auto lock = LockSettled();
  ASSIGN_OR_RETURN(CronSchedule cron, CronLocked(settings));
  const int64_t now = static_cast<int64_t>(std::floor(Now()));
  const std::optional<int64_t> next = cron.NextAfter(now);
  if (!next)
    return InvalidArgument("cron '" + settings.cron + "' never fires (no matching day within 8 years); check its " +
                           "day-of-month and month fields");
  StatusOr<ScheduleRecord> existing = store_->LoadSchedule(request.name());
  if (!existing.ok() && existing.status().code() != StatusCode::kNotFound) return existing.status();
  // Check the recipe as the next slot would submit it, so that a typo shows now and not at 2 am.
  const int64_t next_run = existing.ok() ? existing->runs + 1 : 1;
  const std::string example = "with the variables of run " + std::to_string(next_run) + " at " +
                              FormatWallTime(*next, cron.time_zone());
  StatusOr<v1::SubmitSweepRequest> sweep =
      SweepRequest(settings, FiringVariables(request.name(), next_run, *next, cron.time_zone()));
  if (!sweep.ok()) return sweep.status();
  if (Status prepared = PrepareSweep(*sweep).status(); !prepared.ok())
    return Status(prepared.code(), "the recipe " + example + ":\n" + prepared.message());

  v1::AddScheduleResponse response;
  Transaction tx = store_->Begin();
  RETURN_IF_ERROR(tx.status());
  if (!existing.ok()) {
    RETURN_IF_ERROR(store_->InsertSchedule(request.name(), owner, settings, now, Now()).status());
    response.set_outcome("created");
  } else if (existing->settings == settings) {
    response.set_outcome("unchanged");
  } else {
    for (std::string& change : Changes(existing->settings, settings)) response.add_changed(std::move(change));
    // Slots of the new version count from now: a changed cron does not fire for slots already past.
    RETURN_IF_ERROR(store_->AddScheduleVersion(existing->id, settings, now, Now()));
    response.set_outcome("new version");
  }
  RETURN_IF_ERROR(tx.Commit());
  ASSIGN_OR_RETURN(ScheduleRecord stored, store_->LoadSchedule(request.name()));
  ASSIGN_OR_RETURN(*response.mutable_schedule(), ScheduleProtoLocked(stored));
  return response;
}

StatusOr<std::vector<v1::Schedule>> Coordinator::ListSchedules(const std::optional<std::string>& owner) {
  const auto lock = LockSettled();
  ASSIGN_OR_RETURN(const std::vector<ScheduleRecord> records, store_->ListSchedules(owner));
  std::vector<v1::Schedule> schedules;
  for (const ScheduleRecord& schedule : records) {
    ASSIGN_OR_RETURN(v1::Schedule proto, ScheduleProtoLocked(schedule));
    schedules.push_back(std::move(proto));
  }
  return schedules;
}

StatusOr<v1::ScheduleDetails> Coordinator::GetSchedule(const std::string& name, int64_t runs_limit) {
  RETURN_IF_ERROR(ValidateScheduleName(name));
  if (runs_limit < 0) return InvalidArgument("runs_limit: must not be negative");
  const auto lock = LockSettled();
  ASSIGN_OR_RETURN(ScheduleRecord schedule, store_->LoadSchedule(name));
  v1::ScheduleDetails details;
  ASSIGN_OR_RETURN(*details.mutable_schedule(), ScheduleProtoLocked(schedule));
  std::map<int64_t, std::string> zone_of_version;
  ASSIGN_OR_RETURN(const std::vector<ScheduleVersionRecord> versions, store_->ScheduleVersions(schedule.id));
  for (const ScheduleVersionRecord& record : versions) {
    zone_of_version[record.version] = record.settings.time_zone;
    v1::ScheduleVersion* version = details.add_versions();
    version->set_version(record.version);
    version->set_created_at(record.created_at);
    version->set_cron(record.settings.cron);
    version->set_time_zone(record.settings.time_zone);
    version->set_overlap(record.settings.overlap);
    version->set_model(record.settings.model);
    version->set_promotion_margin(record.settings.promotion_margin);
    version->set_skip_if_data_unchanged(record.settings.skip_if_data_unchanged);
    version->set_recipe_file(record.settings.recipe_file);
    for (const std::string& o : record.settings.overrides) version->add_overrides(o);
    version->set_recipe_yaml(record.settings.recipe_yaml);
  }
  const int64_t limit = runs_limit == 0 ? kDefaultRunsShown : std::min(runs_limit, kMaxRunsShown);
  ASSIGN_OR_RETURN(const std::vector<ScheduleRunRecord> runs, store_->ScheduleRuns(schedule.id, limit));
  for (const ScheduleRunRecord& run : runs)
    *details.add_runs() = RunProtoLocked(run, zone_of_version[run.version]);
  return details;
}

StatusOr<std::string> Coordinator::ScheduleOwner(const std::string& name) {
  RETURN_IF_ERROR(ValidateScheduleName(name));
  const auto lock = LockSettled();
  ASSIGN_OR_RETURN(ScheduleRecord schedule, store_->LoadSchedule(name));
  return schedule.owner;
}

StatusOr<v1::Schedule> Coordinator::PauseSchedule(const std::string& name) {
  RETURN_IF_ERROR(ValidateScheduleName(name));
  const auto lock = LockSettled();
  ASSIGN_OR_RETURN(ScheduleRecord schedule, store_->LoadSchedule(name));
  if (!schedule.paused) {
    Transaction tx = store_->Begin();
    RETURN_IF_ERROR(tx.status());
    RETURN_IF_ERROR(store_->SetSchedulePaused(schedule.id, true));
    RETURN_IF_ERROR(tx.Commit());
    schedule.paused = true;
  }
  return ScheduleProtoLocked(schedule);
}

StatusOr<v1::Schedule> Coordinator::ResumeSchedule(const std::string& name) {
  RETURN_IF_ERROR(ValidateScheduleName(name));
  const auto lock = LockSettled();
  ASSIGN_OR_RETURN(ScheduleRecord schedule, store_->LoadSchedule(name));
  if (schedule.paused) {
    // Slots that passed while paused are not caught up.
    const int64_t now = static_cast<int64_t>(std::floor(Now()));
    Transaction tx = store_->Begin();
    RETURN_IF_ERROR(tx.status());
    RETURN_IF_ERROR(store_->SetSchedulePaused(schedule.id, false));
    RETURN_IF_ERROR(store_->SetScheduleDueAfter(schedule.id, std::max(schedule.due_after, now)));
    RETURN_IF_ERROR(tx.Commit());
    schedule.paused = false;
    schedule.due_after = std::max(schedule.due_after, now);
  }
  return ScheduleProtoLocked(schedule);
}

Status Coordinator::RemoveSchedule(const std::string& name) {
  RETURN_IF_ERROR(ValidateScheduleName(name));
  const auto lock = LockSettled();
  ASSIGN_OR_RETURN(ScheduleRecord schedule, store_->LoadSchedule(name));
  Transaction tx = store_->Begin();
  RETURN_IF_ERROR(tx.status());
  RETURN_IF_ERROR(store_->DeleteSchedule(schedule.id));
  return tx.Commit();
}

Coordinator::HashedFiles Coordinator::HashDataOfDueRuns(const std::string& run_now) {
  std::set<std::string> files;
  {
    const auto lock = LockSettled();
    std::vector<ScheduleRecord> schedules;
    if (run_now.empty()) {
      StatusOr<std::vector<ScheduleRecord>> due = store_->DueSchedules(static_cast<int64_t>(std::floor(Now())));
      if (due.ok()) schedules = *std::move(due);
    } else if (StatusOr<ScheduleRecord> one = store_->LoadSchedule(run_now); one.ok()) {
      schedules.push_back(*std::move(one));
    }
    const int64_t now = static_cast<int64_t>(std::floor(Now()));
    for (const ScheduleRecord& schedule : schedules) {
      int64_t slot = now;
      if (run_now.empty()) {
        const StatusOr<CronSchedule> cron = CronLocked(schedule.settings);
        const StatusOr<FiringState> state = FiringStateLocked(schedule);
        if (schedule.paused || !cron.ok() || !state.ok()) continue;
        const FiringDecision decision = DecideFiring(*cron, *state, now);
        const auto* fire = std::get_if<FireRun>(&decision);
        if (fire == nullptr) continue;
        slot = fire->slot;
      }
      const StatusOr<TimeZone> zone = ZoneLocked(schedule.settings.time_zone);
      if (!zone.ok()) continue;
      const StatusOr<v1::SubmitSweepRequest> request =
          SweepRequest(schedule.settings, FiringVariables(schedule.name, schedule.runs + 1, slot, *zone));
      if (!request.ok()) continue;
      const StatusOr<PreparedSweep> prepared = PrepareSweep(*request);
      if (!prepared.ok()) continue;
      for (const std::string& file : InputFiles(prepared->recipe)) files.insert(file);
    }
  }
  HashedFiles hashed;
  if (files.empty()) return hashed;  // nothing due: the usual case, every second
  FingerprintCache cache(DefaultFingerprintCacheFile());
  for (const std::string& file : files)
    if (StatusOr<FileFingerprint> fingerprint = cache.Fingerprint(file); fingerprint.ok()) hashed[file] = *fingerprint;
  (void)cache.Save();
  return hashed;
}

StatusOr<ScheduleRunRecord> Coordinator::FireLocked(const ScheduleRecord& schedule, int64_t slot, int64_t missed,
                                                    bool cancel_previous, const std::string& fired_by,
                                                    const HashedFiles& hashed) {
  ASSIGN_OR_RETURN(TimeZone zone, ZoneLocked(schedule.settings.time_zone));
  ScheduleRunRecord run = NextRun(schedule, slot, missed, fired_by, Now());
  const std::string which =
      "schedule " + schedule.name + ", run " + std::to_string(run.number) + " for " + FormatWallTime(slot, zone);
  // Everything that can fail about the recipe is found before the previous run is replaced.
  StatusOr<v1::SubmitSweepRequest> request =
      SweepRequest(schedule.settings, FiringVariables(schedule.name, run.number, slot, zone));
  StatusOr<PreparedSweep> prepared = request.ok() ? PrepareSweep(*request) : StatusOr<PreparedSweep>(request.status());
  Status inputs = prepared.ok() ? CheckInputsExist(prepared->recipe) : prepared.status();
  if (inputs.ok()) {
    StatusOr<std::vector<FileFingerprint>> data = FingerprintInputs(prepared->recipe, hashed);
    if (data.ok()) run.data = *std::move(data);
    inputs = data.status();
  }
  if (!inputs.ok()) {
    run.state = "failed";
    run.reason = inputs.message() + " (" + which + "); the schedule fires again at its next slot";
    RETURN_IF_ERROR(store_->InsertScheduleRun(schedule.id, run));
    return run;
  }
  // A person's run-now always runs; only the cron's firings skip, and only when the last completed
  // run was of this version (a new recipe or overrides deserve a run on the same data).
  if (schedule.settings.skip_if_data_unchanged && fired_by != "run-now" && !run.data.empty()) {
    ASSIGN_OR_RETURN(const std::optional<ScheduleRunRecord> last, store_->LastCompletedScheduleRun(schedule.id));
    if (last && last->version == schedule.version && SameData(last->data, run.data)) {
      run.state = "skipped";
      run.reason = "the data is unchanged since run " + std::to_string(last->number) + " (sweep " +
                   std::to_string(last->sweep_id) + ", completed): " + std::to_string(run.data.size()) +
                   (run.data.size() == 1 ? " file" : " files") + " with the same sha256 (skip if data unchanged)";
      RETURN_IF_ERROR(store_->InsertScheduleRun(schedule.id, run));
      return run;
    }
  }
  std::vector<std::string> notes;
  if (missed > 0) notes.push_back("caught up: " + MissedText(missed));
  if (cancel_previous) {
    ASSIGN_OR_RETURN(const std::vector<int64_t> running, store_->RunningSweepsOfSchedule(schedule.id));
    for (int64_t previous : running) {
      RETURN_IF_ERROR(FinishSweepLocked(previous, "canceled",
                                        "canceled: replaced by run " + std::to_string(run.number) + " of schedule " +
                                            schedule.name + " (overlap: replace)"));
      notes.push_back("replaced sweep " + std::to_string(previous) + ", which was canceled");
    }
  }
  ASSIGN_OR_RETURN(run.sweep_id, InsertSweepLocked(std::move(prepared).value(), schedule.owner, schedule.name));
  run.state = "submitted";
  for (const std::string& note : notes) run.reason += (run.reason.empty() ? "" : "; ") + note;
  RETURN_IF_ERROR(store_->AddEvent(run.sweep_id, run.fired_at, "fired by " + which));
  RETURN_IF_ERROR(store_->InsertScheduleRun(schedule.id, run));
  return run;
}

StatusOr<v1::ScheduleRun> Coordinator::RunScheduleNow(const std::string& name) {
  RETURN_IF_ERROR(ValidateScheduleName(name));
  const HashedFiles hashed = HashDataOfDueRuns(name);
  const auto lock = LockSettled();
  ASSIGN_OR_RETURN(ScheduleRecord schedule, store_->LoadSchedule(name));
  const int64_t now = static_cast<int64_t>(std::floor(Now()));
  ASSIGN_OR_RETURN(const FiringState state, FiringStateLocked(schedule));
  const FiringDecision decision = DecideRunNow(state, now);
  if (std::holds_alternative<SkipRun>(decision)) {
    ASSIGN_OR_RETURN(const std::vector<int64_t> running, store_->RunningSweepsOfSchedule(schedule.id));
    return FailedPrecondition("schedule " + name + ": its previous run's sweep (" + IdList(running) +
                              ") is still running and its overlap policy is skip; wait for it, cancel it (orchard "
                              "cancel ID), or add the schedule again with --overlap allow or replace");
  }
  const FireRun& fire = std::get<FireRun>(decision);
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  ASSIGN_OR_RETURN(ScheduleRunRecord run, FireLocked(schedule, fire.slot, 0, fire.cancel_previous, "run-now", hashed));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  // As stored, with its sweep's state.
  ASSIGN_OR_RETURN(const std::vector<ScheduleRunRecord> stored, store_->ScheduleRuns(schedule.id, 1));
  return RunProtoLocked(stored.front(), schedule.settings.time_zone);
}

Status Coordinator::FireIfDueLocked(const ScheduleRecord& schedule, const HashedFiles& hashed) {
  if (schedule.paused) return OkStatus();
  ASSIGN_OR_RETURN(CronSchedule cron, CronLocked(schedule.settings));
  ASSIGN_OR_RETURN(const FiringState state, FiringStateLocked(schedule));
  const FiringDecision decision = DecideFiring(cron, state, static_cast<int64_t>(std::floor(Now())));
  if (const auto* wait = std::get_if<WaitForSlot>(&decision))
    return store_->SetScheduleNextCheck(schedule.id, wait->next_slot.value_or(Store::kNeverCheckAgain));
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  if (const auto* skip = std::get_if<SkipRun>(&decision)) {
    ScheduleRunRecord run = NextRun(schedule, skip->slot, skip->missed, skip->missed > 0 ? "catch-up" : "cron", Now());
    run.state = "skipped";
    ASSIGN_OR_RETURN(const std::vector<int64_t> running, store_->RunningSweepsOfSchedule(schedule.id));
    run.reason = "the previous run's sweep (" + IdList(running) + ") was still running (overlap: skip)";
    if (skip->missed > 0) run.reason += "; " + MissedText(skip->missed);
    RETURN_IF_ERROR(store_->InsertScheduleRun(schedule.id, run));
    RETURN_IF_ERROR(store_->SetScheduleDueAfter(schedule.id, skip->slot));
  } else {
    const FireRun& fire = std::get<FireRun>(decision);
    RETURN_IF_ERROR(FireLocked(schedule, fire.slot, fire.missed, fire.cancel_previous,
                               fire.missed > 0 ? "catch-up" : "cron", hashed).status());
    RETURN_IF_ERROR(store_->SetScheduleDueAfter(schedule.id, fire.slot));
  }
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  return OkStatus();
}

Status Coordinator::FireDueSchedules() {
  const HashedFiles hashed = HashDataOfDueRuns("");
  const auto lock = LockSettled();
  ASSIGN_OR_RETURN(const std::vector<ScheduleRecord> schedules,
                   store_->DueSchedules(static_cast<int64_t>(std::floor(Now()))));
  Status first_error;
  for (const ScheduleRecord& schedule : schedules) {
    Status status = FireIfDueLocked(schedule, hashed);
    if (!status.ok() && first_error.ok())
      first_error = Status(status.code(), "schedule " + schedule.name + ": " + status.message());
  }
  return first_error;
}

}  // namespace orchard::coordinator
