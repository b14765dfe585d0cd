#include "coordinator/schedules/schedule_firing.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace orchard::coordinator {
namespace {

constexpr int64_t kSecondsPerDay = 86400;

// The latest slot in (after, now], or nullopt. Searches backwards from `now` through windows that
// grow fourfold, so that finding it costs about as many steps as there are slots between the
// window's start and `now`, not since `after` (which may be months back).
std::optional<int64_t> LatestSlot(const CronSchedule& cron, int64_t after, int64_t now) {
  if (now <= after) return std::nullopt;
  for (int64_t window = 3600;; window *= 4) {
    const int64_t from = std::max(after, now - window);
    std::optional<int64_t> slot = cron.NextAfter(from);
    if (slot && *slot <= now) {
      for (auto next = cron.NextAfter(*slot); next && *next <= now; next = cron.NextAfter(*next)) slot = next;
      return slot;
    }
    if (from == after) return std::nullopt;
  }
}

// Slots in (after, before), at most kMaxCountedMissedSlots.
int64_t CountSlotsBetween(const CronSchedule& cron, int64_t after, int64_t before) {
  int64_t count = 0;
  for (auto slot = cron.NextAfter(after); slot && *slot < before && count < kMaxCountedMissedSlots;
       slot = cron.NextAfter(*slot))
    ++count;
  return count;
}

FiringDecision Overlapping(const FiringState& state, int64_t slot, int64_t missed) {
  if (!state.previous_run_active) return FireRun{slot, missed, false};
  switch (state.overlap) {
    case OverlapPolicy::kSkip: return SkipRun{slot, missed};
    case OverlapPolicy::kAllow: return FireRun{slot, missed, false};
    case OverlapPolicy::kReplace: return FireRun{slot, missed, true};
  }
  return SkipRun{slot, missed};
}

struct WallTime {
  std::chrono::year_month_day date;
  int hour = 0;
  int minute = 0;
};

WallTime ToWallTime(int64_t unix_seconds, const TimeZone& zone) {
  const int64_t local = zone.ToLocal(unix_seconds);
  const int64_t days = local / kSecondsPerDay - (local % kSecondsPerDay < 0 ? 1 : 0);
  const int64_t seconds = local - days * kSecondsPerDay;
  return {std::chrono::year_month_day{std::chrono::sys_days{std::chrono::days{days}}}, static_cast<int>(seconds / 3600),
          static_cast<int>(seconds % 3600 / 60)};
}

std::string FormatDate(const std::chrono::year_month_day& date) {
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()));
  return text;
}

std::string FormatClock(int hour, int minute, char separator) {
  char text[8];
  std::snprintf(text, sizeof text, "%02d%c%02d", hour, separator, minute);
  return text;
}

}  // namespace

std::optional<OverlapPolicy> ParseOverlapPolicy(const std::string& name) {
  for (OverlapPolicy policy : {OverlapPolicy::kSkip, OverlapPolicy::kAllow, OverlapPolicy::kReplace})
    if (name == OverlapPolicyName(policy)) return policy;
  return std::nullopt;
}

std::string OverlapPolicyName(OverlapPolicy policy) {
  switch (policy) {
    case OverlapPolicy::kSkip: return "skip";
    case OverlapPolicy::kAllow: return "allow";
    case OverlapPolicy::kReplace: return "replace";
  }
  return "skip";
}

FiringDecision DecideFiring(const CronSchedule& cron, const FiringState& state, int64_t now) {
  if (state.paused) return WaitForSlot{std::nullopt};
  const std::optional<int64_t> latest = LatestSlot(cron, state.due_after, now);
  // With the clock set back before the last slot handled, nothing is due until it has passed again.
  if (!latest) return WaitForSlot{cron.NextAfter(std::max(state.due_after, now))};
  return Overlapping(state, *latest, CountSlotsBetween(cron, state.due_after, *latest));
}

FiringDecision DecideRunNow(const FiringState& state, int64_t now) { return Overlapping(state, now, 0); }

std::map<std::string, std::string> FiringVariables(const std::string& schedule, int64_t run, int64_t slot,
                                                   const TimeZone& zone) {
  const WallTime wall = ToWallTime(slot, zone);
  const std::string date = FormatDate(wall.date);
  const std::string time = FormatClock(wall.hour, wall.minute, '-');
  return {{"date", date}, {"time", time}, {"datetime", date + "T" + time}, {"schedule", schedule},
          {"run", std::to_string(run)}};
}

std::string FormatWallTime(int64_t unix_seconds, const TimeZone& zone) {
  const WallTime wall = ToWallTime(unix_seconds, zone);
  return FormatDate(wall.date) + " " + FormatClock(wall.hour, wall.minute, ':') + " " + zone.name();
}

}  // namespace orchard::coordinator
