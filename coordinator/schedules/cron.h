// Cron schedules: when a recurring job (a scheduled retraining, issue #8) fires next.
//
//   ASSIGN_OR_RETURN(CronSchedule nightly, ParseCron("30 2 * * MON-FRI", "Europe/Berlin"));
//   std::optional<int64_t> next = nightly.NextAfter(clock.NowUnixSeconds());
//   if (next) timers.Arm(*next); else ...  // the schedule never fires (e.g. "0 0 30 2 *")
//
// Syntax: five fields separated by blanks, minute (0-59) hour (0-23) day-of-month (1-31) month
// (1-12 or JAN-DEC) day-of-week (0-7 or SUN-SAT; 0 and 7 are both Sunday). Each field is a
// comma-separated list of `*`, `n`, `a-b`, `*/s`, `a-b/s` or `a/s` (from a to the field's maximum,
// every s; for day-of-week, `*` and `a/s` end at 6). Names are case-insensitive and may appear in
// ranges (MON-FRI). Ranges do not wrap around; a step longer than the field's range is refused. The
// macros @hourly, @daily (= @midnight), @weekly, @monthly and @yearly (= @annually) stand for
// "0 * * * *", "0 0 * * *", "0 0 * * 0", "0 0 1 * *" and "0 0 1 1 *". No seconds or year field,
// no @reboot, no L, W or # (Quartz).
//
// Days, as in Vixie cron and cronie: when the day-of-month and day-of-week fields are both
// restricted, a day matches if EITHER matches ("0 0 1 * MON": the 1st and every Monday); when one of
// them starts with `*` (including `*/2`), a day must match both, which leaves just the other one.
//
// Times are wall-clock times in the schedule's time zone, and daylight saving is handled as follows.
// Every matching wall time fires once, at the first instant at which the zone's clock reads that
// time or later:
//   - A wall time the clocks skip (spring forward, e.g. 02:30 on 2026-03-29 in Europe/Berlin, where
//     02:00 CET becomes 03:00 CEST) fires at the moment of the jump (03:00 CEST), not never. Several
//     skipped times collapse into that one firing, and a job due at the jump's end anyway (03:00)
//     also fires just that once: "*/30 * * * *" fires at 01:30, 03:00, 03:30.
//   - A wall time that occurs twice (fall back, e.g. 02:30 on 2026-10-25 in Europe/Berlin) fires at
//     its first occurrence only (02:30 CEST), never again at the repeat (02:30 CET). This holds for
//     every schedule, so "*/15 * * * *" does not fire during the repeated hour at all and there is
//     an hour of real time without a firing, where Vixie cron and cronie would run such "wildcard"
//     jobs again: one wall time is one run, never two.
//   - Outside transitions, jobs that fire every minute or hour keep firing in real time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "coordinator/schedules/time_zone.h"
#include "core/status.h"

namespace orchard::coordinator {

// A parsed cron expression with its time zone. An immutable value: copy it freely and call
// NextAfter from any number of threads at once. Does no I/O.
class CronSchedule {
 public:
  // The first firing strictly after the instant `unix_seconds` (seconds since the Unix epoch; any
  // second, not only whole minutes). Firings are whole minutes of local time. nullopt when nothing
  // fires within 8 years after it (long enough for every Feb 29: around 2100 leap days are 8 years
  // apart), e.g. for "0 0 30 2 *", which never fires; nullopt too for instants before year 1 or
  // after year 9999. Computes in memory: a few microseconds, more for sparse schedules.
  std::optional<int64_t> NextAfter(int64_t unix_seconds) const;

  // The expression as given (macros not expanded) and the zone it runs in.
  const std::string& expression() const { return expression_; }
  const TimeZone& time_zone() const { return zone_; }

 private:
  friend StatusOr<CronSchedule> ParseCron(const std::string& expression, TimeZone zone);
  CronSchedule() = default;

  // The first matching local time (local seconds, see time_zone.h) at or after `local_seconds`
  // and at most `limit`; nullopt if none.
  std::optional<int64_t> NextWallTime(int64_t local_seconds, int64_t limit) const;
  bool DayMatches(int64_t days_since_epoch) const;

  std::string expression_;
  TimeZone zone_;
  uint64_t minutes_ = 0;            // bit m: minute m
  uint32_t hours_ = 0;              // bit h: hour h
  uint32_t days_of_month_ = 0;      // bit d: day d (1-31)
  uint32_t months_ = 0;             // bit m: month m (1-12)
  uint32_t days_of_week_ = 0;       // bit d: weekday d (0 = Sunday to 6)
  bool day_of_month_star_ = false;  // the field starts with '*'
  bool day_of_week_star_ = false;
};

// Parses `expression` (see the syntax above) in the IANA time zone `time_zone` ("Europe/Berlin",
// "America/New_York"; "" and "UTC" mean UTC), which is read once from /usr/share/zoneinfo.
// InvalidArgument for a bad expression or an unknown zone, with a message that names the field,
// quotes it and says how to fix it, e.g. "cron field 2 (hour) '25': 25 is out of range 0-23".
StatusOr<CronSchedule> ParseCron(const std::string& expression, const std::string& time_zone);

// The same in an already loaded zone (from LoadTimeZone, e.g. with another zoneinfo directory).
// Pure.
StatusOr<CronSchedule> ParseCron(const std::string& expression, TimeZone zone);

}  // namespace orchard::coordinator
