// Time zones from the system's IANA database: UTC offsets of instants, and the instant a local wall
// time first comes round, without touching TZ, localtime_r or any other process-wide state.
//
//   ASSIGN_OR_RETURN(TimeZone berlin, LoadTimeZone("Europe/Berlin"));
//   int64_t local = berlin.ToLocal(now);                      // seconds since 1970-01-01 00:00 local
//   int64_t at = berlin.FirstInstantAtOrAfter(local + 3600);  // when the wall clock reads that
//
// A zone is read once from a TZif file (RFC 9636, formerly RFC 8536; versions 1 to 4, using the
// 64-bit block of version 2 and later) and then answered from memory: the transitions the file
// lists, and for instants after the last of them the POSIX TZ rule in the file's footer
// (std offset [dst [offset] ,start[/time],end[/time]] with Mm.w.d, Jn and n dates). zic's "slim"
// files list no transition that the footer predicts, so for them the footer carries every date from
// about 2007 on; Debian 12's files are "fat" and list transitions up to 2037, so there the footer
// takes over after that. Files with leap seconds (right/...) are refused.
//
// "Local seconds" below are a wall-clock reading counted like Unix seconds: the seconds from
// 1970-01-01 00:00:00 to that reading on a calendar without time zones.
//
// Instants and local times are meant for years 1 to 9999; outside them answers are unspecified but
// never undefined behaviour. TimeZone is an immutable value: copy it freely, and call its const
// methods from any number of threads at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace orchard::coordinator {

// Where Debian (package tzdata) installs the IANA database.
inline constexpr char kSystemZoneinfoDir[] = "/usr/share/zoneinfo";

class TimeZone {
 public:
  // From `at` on, local time is UTC plus `utc_offset` seconds.
  struct Transition {
    int64_t at = 0;
    int32_t utc_offset = 0;
    bool operator==(const Transition&) const = default;
  };

  // Rules from a POSIX TZ string (the TZif footer).
  struct PosixRule {
    struct Date {
      enum class Kind { kJulianNoLeap, kDayOfYear, kMonthWeekDay };  // Jn, n, Mm.w.d
      Kind kind = Kind::kMonthWeekDay;
      int day = 0;      // Jn: 1-365; n: 0-365
      int month = 1;    // Mm.w.d
      int week = 1;     // 1-5, 5 meaning the last
      int weekday = 0;  // 0 = Sunday
    };
    int32_t std_offset = 0;  // seconds east of UTC (the string's sign is the opposite)
    bool has_dst = false;
    int32_t dst_offset = 0;
    Date start, end;
    int32_t start_time = 7200;  // local standard time of day; may be negative or past 24h
    int32_t end_time = 7200;    // local daylight time of day
  };

  // A zone that is always UTC ("UTC", "" and the default).
  TimeZone();

  // The name it was loaded under, e.g. "Europe/Berlin"; "UTC" for the default.
  const std::string& name() const { return name_; }

  // The offset from UTC, in seconds, in effect at the instant `unix_seconds`.
  int32_t UtcOffsetAt(int64_t unix_seconds) const;

  // The local time (local seconds) that the wall clock shows at the instant.
  int64_t ToLocal(int64_t unix_seconds) const;

  // The first instant at which the wall clock reads `local_seconds` or later. For a wall time that
  // occurs once, the instant it occurs; for one that occurs twice (clocks set back), the earlier;
  // for one that clocks skip (set forward), the instant of the jump.
  int64_t FirstInstantAtOrAfter(int64_t local_seconds) const;

  // Every change of offset in (from, to], in order, from the file and its footer rule.
  std::vector<Transition> TransitionsBetween(int64_t from, int64_t to) const;

 private:
  friend StatusOr<TimeZone> ParseTimeZone(const std::string& name, std::string_view tzif);

  int32_t RuleOffsetAt(int64_t unix_seconds) const;

  std::string name_ = "UTC";
  int32_t initial_offset_ = 0;           // before the first transition (time type 0)
  std::vector<Transition> transitions_;  // ascending `at`
  std::optional<PosixRule> rule_;        // after the last transition
};

// The zone `name` (an IANA name such as "Europe/Berlin"; "" and "UTC" need no file) from the TZif
// file `zoneinfo_dir`/`name`. InvalidArgument when the name is not an IANA-style name (it may not
// leave `zoneinfo_dir`), names no file there, or the file is not a usable TZif file; each message
// quotes the name and says how to fix it. Reads one file; no other I/O.
StatusOr<TimeZone> LoadTimeZone(const std::string& name,
                                const std::string& zoneinfo_dir = kSystemZoneinfoDir);

// Parses the contents of a TZif file; `name` is kept for name() and messages. InvalidArgument for
// anything truncated, inconsistent or unsupported. Pure.
StatusOr<TimeZone> ParseTimeZone(const std::string& name, std::string_view tzif);

// Parses a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3". InvalidArgument if malformed, or if
// it names a daylight-saving zone without rules for when it starts and ends. Pure.
StatusOr<TimeZone::PosixRule> ParsePosixTz(std::string_view tz);

}  // namespace orchard::coordinator
