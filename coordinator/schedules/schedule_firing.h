// When a schedule fires (issue #8): a pure decision from the schedule's cron, what it has handled so
// far and the time, with no clock and no I/O; the coordinator calls it every second or so and at
// startup, and carries the decision out (coordinator/schedules.cc).
//
//   FiringState state{.due_after = last_slot, .previous_run_active = sweep_running};
//   FiringDecision decision = DecideFiring(cron, state, now);
//   if (const auto* fire = std::get_if<FireRun>(&decision)) Submit(..., fire->slot);
//
// A slot is an instant at which the cron fires (cron.h has the daylight-saving rules). The slots
// after `due_after` up to now are due. When several are due (the coordinator was down, or the
// schedule's clock was not looked at for a while) only the latest one runs, once, and the others are
// counted as missed: a night's retraining caught up after a weekend's outage runs once, on the
// latest data, not three times. When the schedule's previous run is still going, the overlap policy
// decides: skip (the default) records the slot as skipped, allow runs both, replace cancels the
// previous sweep and then runs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include "coordinator/schedules/cron.h"
#include "coordinator/schedules/time_zone.h"

namespace orchard::coordinator {

enum class OverlapPolicy { kSkip, kAllow, kReplace };

// "skip", "allow", "replace"; nullopt for anything else.
std::optional<OverlapPolicy> ParseOverlapPolicy(const std::string& name);
std::string OverlapPolicyName(OverlapPolicy policy);

// What the decision needs to know about a schedule besides its cron.
struct FiringState {
  // Slots strictly after this instant are due: the latest slot handled (fired, skipped or failed),
  // or when the schedule's current version was made or it was last resumed, whichever is later.
  int64_t due_after = 0;
  bool paused = false;
  bool previous_run_active = false;  // a sweep the schedule fired is still running
  OverlapPolicy overlap = OverlapPolicy::kSkip;
};

// Nothing to do before `next_slot` (nullopt: paused, or the cron never fires again).
struct WaitForSlot {
  std::optional<int64_t> next_slot;
};
// Run the schedule for `slot`, first canceling the previous run's sweep when `cancel_previous`.
// `missed`: the due slots before `slot` that will never run (counted up to kMaxCountedMissedSlots).
struct FireRun {
  int64_t slot = 0;
  int64_t missed = 0;
  bool cancel_previous = false;
};
// The previous run is still going and the policy is skip: record `slot` as skipped.
struct SkipRun {
  int64_t slot = 0;
  int64_t missed = 0;
};
using FiringDecision = std::variant<WaitForSlot, FireRun, SkipRun>;

// Missed slots are counted up to this many (a minutely schedule down for a week misses 10080).
inline constexpr int64_t kMaxCountedMissedSlots = 100000;

// The decision for the cron's slots at `now` (Unix seconds).
FiringDecision DecideFiring(const CronSchedule& cron, const FiringState& state, int64_t now);

// `orchard schedule run-now`: a run for the slot `now`, whatever the cron and even when paused. With
// the previous run still going the overlap policy applies as for a cron slot (SkipRun under skip,
// which the coordinator refuses rather than records: a person asked and is told why). Never
// WaitForSlot; `missed` is always 0.
FiringDecision DecideRunNow(const FiringState& state, int64_t now);

// The values a firing gives the recipe variables (recipe_variables.h) for run number `run` of
// `schedule` at `slot`, as the schedule's zone reads it: date "2026-11-21", time "02-00", datetime
// "2026-11-21T02-00" (no ':' so that they fit in file names), schedule, and run "12".
std::map<std::string, std::string> FiringVariables(const std::string& schedule, int64_t run, int64_t slot,
                                                   const TimeZone& zone);

// "2026-11-21 02:00 Europe/Berlin": the instant as the zone's wall clock reads it, to the minute.
std::string FormatWallTime(int64_t unix_seconds, const TimeZone& zone);

}  // namespace orchard::coordinator
