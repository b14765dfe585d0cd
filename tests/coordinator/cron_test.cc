// Cron schedules: every syntax form, the errors, the calendar (month ends, leap days, year ends),
// daylight-saving days in Berlin, New York and Sydney, and two references: a day-by-day search in
// UTC over random schedules, and a minute-by-minute walk of the wall clock around transitions.
#include "coordinator/cron.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <thread>

namespace orchard::coordinator {
namespace {

using namespace std::chrono;

// "YYYY-MM-DD HH:MM" in UTC <-> Unix seconds.
int64_t Utc(const std::string& text) {
  int y = 0;
  unsigned mo = 0, d = 0, h = 0, mi = 0;
  EXPECT_EQ(std::sscanf(text.c_str(), "%d-%u-%u %u:%u", &y, &mo, &d, &h, &mi), 5) << text;
  return sys_days{year{y} / month{mo} / day{d}}.time_since_epoch().count() * 86400 + h * 3600 + mi * 60;
}

std::string FormatUtc(int64_t t) {
  const int64_t days = (t >= 0 ? t : t - 86399) / 86400;
  const int64_t secs = t - days * 86400;
  const year_month_day ymd{sys_days{std::chrono::days{days}}};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(secs / 3600), static_cast<int>(secs % 3600 / 60));
  return buf;
}

CronSchedule Parse(const std::string& expression, const std::string& zone = "") {
  StatusOr<CronSchedule> schedule = ParseCron(expression, zone);
  EXPECT_TRUE(schedule.ok()) << expression << ": " << schedule.status().message();
  if (!schedule.ok()) return *ParseCron("@daily", "");
  return *schedule;
}

// The next `n` firings after `after`, chained.
std::vector<int64_t> Firings(const CronSchedule& schedule, int64_t after, size_t n) {
  std::vector<int64_t> out;
  while (out.size() < n) {
    std::optional<int64_t> next = schedule.NextAfter(after);
    if (!next) break;
    EXPECT_GT(*next, after);
    out.push_back(*next);
    after = *next;
  }
  return out;
}

std::vector<std::string> FiringsUtc(const std::string& expression, const std::string& after, size_t n) {
  std::vector<std::string> out;
  for (int64_t t : Firings(Parse(expression), Utc(after), n)) out.push_back(FormatUtc(t));
  return out;
}

struct SyntaxCase {
  const char* expression;
  std::vector<std::string> expected;  // the first firings after Monday 2026-01-05 00:00 UTC
};

TEST(Cron, EverySyntaxForm) {
  const SyntaxCase cases[] = {
      {"* * * * *", {"2026-01-05 00:01", "2026-01-05 00:02", "2026-01-05 00:03"}},
      {"5 * * * *", {"2026-01-05 00:05", "2026-01-05 01:05", "2026-01-05 02:05"}},
      {"5,10,50 * * * *", {"2026-01-05 00:05", "2026-01-05 00:10", "2026-01-05 00:50", "2026-01-05 01:05"}},
      {"10-12 * * * *", {"2026-01-05 00:10", "2026-01-05 00:11", "2026-01-05 00:12", "2026-01-05 01:10"}},
      {"*/20 * * * *", {"2026-01-05 00:20", "2026-01-05 00:40", "2026-01-05 01:00"}},
      {"10-30/10 * * * *", {"2026-01-05 00:10", "2026-01-05 00:20", "2026-01-05 00:30", "2026-01-05 01:10"}},
      {"50/5 * * * *", {"2026-01-05 00:50", "2026-01-05 00:55", "2026-01-05 01:50"}},
      {"0 */6 * * *", {"2026-01-05 06:00", "2026-01-05 12:00", "2026-01-05 18:00", "2026-01-06 00:00"}},
      {"0 9-17/4 * * *", {"2026-01-05 09:00", "2026-01-05 13:00", "2026-01-05 17:00", "2026-01-06 09:00"}},
      {"0,30 8,20 * * *",
       {"2026-01-05 08:00", "2026-01-05 08:30", "2026-01-05 20:00", "2026-01-05 20:30", "2026-01-06 08:00"}},
      {"0 0 1,15 * *", {"2026-01-15 00:00", "2026-02-01 00:00", "2026-02-15 00:00"}},
      {"0 0 1 feb,Mar *", {"2026-02-01 00:00", "2026-03-01 00:00", "2027-02-01 00:00"}},
      {"0 0 1 JUN-AUG *", {"2026-06-01 00:00", "2026-07-01 00:00", "2026-08-01 00:00", "2027-06-01 00:00"}},
      {"0 0 1 */4 *", {"2026-05-01 00:00", "2026-09-01 00:00", "2027-01-01 00:00"}},
      {"0 12 * * MON-FRI",
       {"2026-01-05 12:00", "2026-01-06 12:00", "2026-01-07 12:00", "2026-01-08 12:00", "2026-01-09 12:00",
        "2026-01-12 12:00"}},
      {"0 12 * * sat,Sun", {"2026-01-10 12:00", "2026-01-11 12:00", "2026-01-17 12:00"}},
      {"0 12 * * 0", {"2026-01-11 12:00", "2026-01-18 12:00"}},
      {"0 12 * * 7", {"2026-01-11 12:00", "2026-01-18 12:00"}},  // 7 is Sunday too
      {"0 12 * * 5-7", {"2026-01-09 12:00", "2026-01-10 12:00", "2026-01-11 12:00", "2026-01-16 12:00"}},
      {"0 12 * * */2", {"2026-01-06 12:00", "2026-01-08 12:00", "2026-01-10 12:00", "2026-01-11 12:00"}},
      {"0 12 * * MON/2", {"2026-01-05 12:00", "2026-01-07 12:00", "2026-01-09 12:00", "2026-01-12 12:00"}},
      {"0 12 * * 1-5/2", {"2026-01-05 12:00", "2026-01-07 12:00", "2026-01-09 12:00", "2026-01-12 12:00"}},
      {"  0\t12  *  * *  ", {"2026-01-05 12:00", "2026-01-06 12:00"}},
      {"@hourly", {"2026-01-05 01:00", "2026-01-05 02:00"}},
      {"@daily", {"2026-01-06 00:00", "2026-01-07 00:00"}},
      {"@midnight", {"2026-01-06 00:00", "2026-01-07 00:00"}},
      {"@DAILY", {"2026-01-06 00:00", "2026-01-07 00:00"}},
      {"@weekly", {"2026-01-11 00:00", "2026-01-18 00:00"}},
      {"@monthly", {"2026-02-01 00:00", "2026-03-01 00:00"}},
      {"@yearly", {"2027-01-01 00:00", "2028-01-01 00:00"}},
      {"@annually", {"2027-01-01 00:00", "2028-01-01 00:00"}},
  };
  for (const SyntaxCase& c : cases) {
    EXPECT_EQ(FiringsUtc(c.expression, "2026-01-05 00:00", c.expected.size()), c.expected) << c.expression;
  }
}

TEST(Cron, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
  const SyntaxCase cases[] = {
      // The 1st and every Monday.
      {"0 0 1 * MON",
       {"2026-01-12 00:00", "2026-01-19 00:00", "2026-01-26 00:00", "2026-02-01 00:00", "2026-02-02 00:00"}},
      // Fridays and the 13th (a Tuesday in January 2026).
      {"0 0 13 * FRI", {"2026-01-09 00:00", "2026-01-13 00:00", "2026-01-16 00:00", "2026-01-23 00:00"}},
      // 1-31 is restricted although it covers every day: every day.
      {"0 0 1-31 * 1", {"2026-01-06 00:00", "2026-01-07 00:00", "2026-01-08 00:00"}},
      // A field that starts with '*' is not restricted: both must match, i.e. the 1st, 11th, 21st
      // and 31st that are Mondays.
      {"0 0 */10 * 1", {"2026-05-11 00:00", "2026-06-01 00:00", "2026-08-31 00:00", "2026-09-21 00:00"}},
      {"0 0 * * 1", {"2026-01-12 00:00", "2026-01-19 00:00"}},
      {"0 0 13 * *", {"2026-01-13 00:00", "2026-02-13 00:00"}},
  };
  for (const SyntaxCase& c : cases) {
    EXPECT_EQ(FiringsUtc(c.expression, "2026-01-05 00:00", c.expected.size()), c.expected) << c.expression;
  }
}

TEST(Cron, MonthEndsLeapDaysAndYearEnds) {
  struct Case {
    const char* expression;
    const char* after;
    std::vector<std::string> expected;
  };
  const Case cases[] = {
      {"0 0 31 * *",
       "2026-01-31 00:00",
       {"2026-03-31 00:00", "2026-05-31 00:00", "2026-07-31 00:00", "2026-08-31 00:00", "2026-10-31 00:00",
        "2026-12-31 00:00"}},
      {"0 0 29 2 *", "2026-01-01 00:00", {"2028-02-29 00:00", "2032-02-29 00:00"}},
      {"0 0 29 2 *", "2096-03-01 00:00", {"2104-02-29 00:00"}},  // 2100 is no leap year
      {"0 0 28-31 2 *", "2027-02-27 00:00", {"2027-02-28 00:00", "2028-02-28 00:00", "2028-02-29 00:00"}},
      {"59 23 31 12 *", "2026-12-31 23:59", {"2027-12-31 23:59"}},
      {"0 0 1 1 *", "2026-12-31 23:59", {"2027-01-01 00:00"}},
      {"30 * * * *", "2026-12-31 23:45", {"2027-01-01 00:30"}},
      {"* * * * *", "2026-12-31 23:59", {"2027-01-01 00:00"}},
      {"0 0 * * *", "1969-12-31 12:00", {"1970-01-01 00:00", "1970-01-02 00:00"}},
      {"0 0 1 3 *", "1900-02-28 00:00", {"1900-03-01 00:00"}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FiringsUtc(c.expression, c.after, c.expected.size()), c.expected)
        << c.expression << " after " << c.after;
  }
}

TEST(Cron, FiresStrictlyAfterAnyInstant) {
  const CronSchedule every_minute = Parse("* * * * *");
  EXPECT_EQ(every_minute.NextAfter(Utc("2026-01-05 00:00") + 30), Utc("2026-01-05 00:01"));
  EXPECT_EQ(every_minute.NextAfter(Utc("2026-01-05 00:00") - 1), Utc("2026-01-05 00:00"));
  EXPECT_EQ(Parse("0 0 * * *").NextAfter(Utc("2026-01-05 00:00")), Utc("2026-01-06 00:00"));
}

TEST(Cron, SchedulesThatNeverFireAndInstantsOutOfRange) {
  for (const char* never : {"0 0 30 2 *", "0 0 31 2 *", "0 0 31 4,6,9,11 *", "0 0 30,31 feb *"}) {
    EXPECT_EQ(Parse(never).NextAfter(Utc("2026-01-01 00:00")), std::nullopt) << never;
  }
  const CronSchedule daily = Parse("@daily");
  EXPECT_EQ(daily.NextAfter(std::numeric_limits<int64_t>::max()), std::nullopt);
  EXPECT_EQ(daily.NextAfter(std::numeric_limits<int64_t>::min()), std::nullopt);
  EXPECT_EQ(daily.NextAfter(Utc("9999-12-31 12:00")), Utc("9999-12-31 12:00") + 12 * 3600);
}

struct ZoneCase {
  const char* zone;
  const char* expression;
  int64_t after;
  std::vector<int64_t> expected;
};

// Expected instants from `TZ=<zone> date -d '<local time>' +%s` (GNU date, same tzdata).
TEST(Cron, DaylightSavingDays2026) {
  const ZoneCase cases[] = {
      // Europe/Berlin, 2026-03-29: at 02:00 CET clocks jump to 03:00 CEST (01:00 UTC).
      {"Europe/Berlin",
       "30 2 * * *",
       1774661400 /* 03-28 02:30 CET */,
       {1774746000 /* 03-29 03:00 CEST, the jump */, 1774830600 /* 03-30 02:30 CEST */}},
      {"Europe/Berlin",
       "0 2 * * *",
       1774659600 /* 03-28 02:00 CET */,
       {1774746000 /* 03-29 03:00 CEST, the jump */, 1774828800 /* 03-30 02:00 CEST */}},
      {"Europe/Berlin",
       "*/30 * * * *",
       1774744200 /* 03-29 01:30 CET */,
       {1774746000 /* 03:00 CEST: 02:00, 02:30 and 03:00 fire once */, 1774747800 /* 03:30 CEST */}},
      {"Europe/Berlin",
       "0 3 * * *",
       1774663200 /* 03-28 03:00 CET */,
       {1774746000 /* 03-29 03:00 CEST */, 1774832400 /* 03-30 03:00 CEST */}},
      // Europe/Berlin, 2026-10-25: at 03:00 CEST clocks go back to 02:00 CET (01:00 UTC).
      {"Europe/Berlin",
       "30 2 * * *",
       1792801800 /* 10-24 02:30 CEST */,
       {1792888200 /* 10-25 02:30 CEST, not again at 02:30 CET */, 1792978200 /* 10-26 02:30 CET */}},
      {"Europe/Berlin",
       "0 2 * * *",
       1792800000 /* 10-24 02:00 CEST */,
       {1792886400 /* 10-25 02:00 CEST */, 1792976400 /* 10-26 02:00 CET */}},
      {"Europe/Berlin",
       "*/30 * * * *",
       1792884600 /* 10-25 01:30 CEST */,
       {1792886400 /* 02:00 CEST */, 1792888200 /* 02:30 CEST */, 1792893600 /* 03:00 CET */,
        1792895400 /* 03:30 CET */}},
      {"Europe/Berlin",
       "*/30 * * * *",
       1792890600 /* 10-25 02:10 CET, in the repeated hour */,
       {1792893600 /* 03:00 CET */}},
      {"Europe/Berlin",
       "0 3 * * *",
       1792803600 /* 10-24 03:00 CEST */,
       {1792893600 /* 10-25 03:00 CET */, 1792980000 /* 10-26 03:00 CET */}},
      // America/New_York, 2026-03-08: at 02:00 EST clocks jump to 03:00 EDT (07:00 UTC).
      {"America/New_York",
       "30 2 * * *",
       1772868600 /* 03-07 02:30 EST */,
       {1772953200 /* 03-08 03:00 EDT, the jump */, 1773037800 /* 03-09 02:30 EDT */}},
      {"America/New_York",
       "0 2 * * *",
       1772866800 /* 03-07 02:00 EST */,
       {1772953200 /* 03-08 03:00 EDT, the jump */, 1773036000 /* 03-09 02:00 EDT */}},
      {"America/New_York",
       "*/30 * * * *",
       1772951400 /* 03-08 01:30 EST */,
       {1772953200 /* 03:00 EDT */, 1772955000 /* 03:30 EDT */}},
      {"America/New_York",
       "0 3 * * *",
       1772870400 /* 03-07 03:00 EST */,
       {1772953200 /* 03-08 03:00 EDT */, 1773039600 /* 03-09 03:00 EDT */}},
      // America/New_York, 2026-11-01: at 02:00 EDT clocks go back to 01:00 EST (06:00 UTC).
      {"America/New_York",
       "30 2 * * *",
       1793428200 /* 10-31 02:30 EDT */,
       {1793518200 /* 11-01 02:30 EST */, 1793604600 /* 11-02 02:30 EST */}},
      {"America/New_York",
       "0 2 * * *",
       1793426400 /* 10-31 02:00 EDT */,
       {1793516400 /* 11-01 02:00 EST */, 1793602800 /* 11-02 02:00 EST */}},
      {"America/New_York",
       "*/30 * * * *",
       1793507400 /* 11-01 00:30 EDT */,
       {1793509200 /* 01:00 EDT */, 1793511000 /* 01:30 EDT; not again at 01:00 or 01:30 EST */,
        1793516400 /* 02:00 EST */, 1793518200 /* 02:30 EST */}},
      {"America/New_York",
       "0 3 * * *",
       1793430000 /* 10-31 03:00 EDT */,
       {1793520000 /* 11-01 03:00 EST */, 1793606400 /* 11-02 03:00 EST */}},
      {"America/New_York",
       "30 1 * * *",
       1793424600 /* 10-31 01:30 EDT */,
       {1793511000 /* 11-01 01:30 EDT, the first */, 1793601000 /* 11-02 01:30 EST */}},
      // Australia/Sydney: 2026-10-04 02:00 AEST jumps to 03:00 AEDT; 2026-04-05 03:00 AEDT goes
      // back to 02:00 AEST.
      {"Australia/Sydney",
       "30 2 * * *",
       1790958600 /* 10-03 02:30 AEST */,
       {1791043200 /* 10-04 03:00 AEDT, the jump */, 1791127800 /* 10-05 02:30 AEDT */}},
      {"Australia/Sydney",
       "30 2 * * *",
       1775230200 /* 04-04 02:30 AEDT */,
       {1775316600 /* 04-05 02:30 AEDT, the first */, 1775406600 /* 04-06 02:30 AEST */}},
      // 2040, past the transitions the files list (to 2037): the footer's rules.
      {"Europe/Berlin",
       "30 2 * * *",
       2216165400 /* 2040-03-24 02:30 CET */,
       {2216250000 /* 2040-03-25 03:00 CEST, the jump */, 2216334600 /* 2040-03-26 02:30 CEST */}},
      {"America/New_York",
       "30 2 * * *",
       2214977400 /* 2040-03-10 02:30 EST */,
       {2215062000 /* 2040-03-11 03:00 EDT, the jump */, 2215146600 /* 2040-03-12 02:30 EDT */}},
      {"Europe/Berlin",
       "30 2 * * *",
       2234910600 /* 2040-10-27 02:30 CEST */,
       {2234997000 /* 2040-10-28 02:30 CEST, the first */}},
      // UTC, by name and by default.
      {"UTC", "30 2 * * *", 1774661400 /* 2026-03-28 01:30 UTC */, {1774665000 /* 03-28 02:30 UTC */}},
      {"", "30 2 * * *", 1774661400 /* 2026-03-28 01:30 UTC */, {1774665000 /* 03-28 02:30 UTC */}},
  };
  for (const ZoneCase& c : cases) {
    EXPECT_EQ(Firings(Parse(c.expression, c.zone), c.after, c.expected.size()), c.expected)
        << c.expression << " in '" << c.zone << "' after " << c.after;
  }
}

TEST(Cron, RejectsBadExpressionsSayingWhereAndHow) {
  struct Case {
    const char* expression;
    const char* message;  // a part of it
  };
  const Case cases[] = {
      {"", "cron expression is empty; expected five fields"},
      {" \t ", "cron expression is empty"},
      {"* * * *", "cron expression '* * * *' has 4 fields; expected five fields"},
      {"0 * * * * *",
       "has 6 fields; expected five fields 'minute hour day-of-month month day-of-week' such as "
       "'0 3 * * *', or a macro such as @daily (seconds and year fields are not supported)"},
      {"60 * * * *", "cron field 1 (minute) '60': 60 is out of range 0-59"},
      {"0 0 0 * *", "cron field 3 (day-of-month) '0': 0 is out of range 1-31"},
      {"0 0 32 * *", "cron field 3 (day-of-month) '32': 32 is out of range 1-31"},
      {"0 0 * 13 *", "cron field 4 (month) '13': 13 is out of range 1-12"},
      {"0 0 * * 8", "cron field 5 (day-of-week) '8': 8 is out of range 0-7"},
      {"*/0 * * * *", "cron field 1 (minute) '*/0': step 0 in '*/0' must be at least 1"},
      {"0 */25 * * *", "cron field 2 (hour) '*/25': step 25 in '*/25' is larger than the field's range 0-23"},
      {"5-1 * * * *", "cron field 1 (minute) '5-1': range '5-1' runs backwards (5 > 1); write the smaller"},
      {"0 0 * * SAT-SUN",
       "cron field 5 (day-of-week) 'SAT-SUN': range 'SAT-SUN' runs backwards (6 > 0); use 7 for "
       "a Sunday that ends a range, as in 5-7"},
      {"99999999999999999999 * * * *",
       "cron field 1 (minute) '99999999999999999999': 99999999999999999999 is out of range 0-59"},
      {"*/99999999999999999999 * * * *", "step 99999999999999999999 in '*/99999999999999999999' is larger"},
      {"abc * * * *",
       "cron field 1 (minute) 'abc': 'abc' is not a number; expected *, a number 0-59, a range a-b, "
       "a list a,b or a step */n"},
      {"0 0 * JANUARY *", "cron field 4 (month) 'JANUARY': 'JANUARY' is neither a number 1-12 nor a name JAN-DEC"},
      {"0 0 * MON *", "cron field 4 (month) 'MON': 'MON' is neither a number 1-12 nor a name JAN-DEC"},
      {"0 0 * * MON-XYZ",
       "cron field 5 (day-of-week) 'MON-XYZ': 'XYZ' is neither a number 0-7 nor a name SUN-SAT"},
      {"0 0 JAN * *", "cron field 3 (day-of-month) 'JAN': 'JAN' is not a number"},
      {"1,,2 * * * *", "cron field 1 (minute) '1,,2': empty list element"},
      {"1, * * * *", "cron field 1 (minute) '1,': empty list element"},
      {"*/5/2 * * * *", "cron field 1 (minute) '*/5/2': '*/5/2' has more than one '/'"},
      {"-5 * * * *", "cron field 1 (minute) '-5': range '-5' is missing its start"},
      {"5- * * * *", "cron field 1 (minute) '5-': range '5-' is missing its end"},
      {"1-2-3 * * * *", "cron field 1 (minute) '1-2-3': '2-3' is not a number"},
      {"*/x * * * *", "cron field 1 (minute) '*/x': step 'x' is not a number"},
      {"5/ * * * *", "cron field 1 (minute) '5/': step '' is not a number"},
      {"0 0 L * *", "cron field 3 (day-of-month) 'L'"},
      {"0 0 ? * *", "cron field 3 (day-of-month) '?'"},
      {"@reboot", "@reboot is not a time schedule"},
      {"@fortnightly", "unknown macro '@fortnightly'; use @hourly, @daily"},
      {"@daily 5", "remove the fields after it"},
  };
  for (const Case& c : cases) {
    StatusOr<CronSchedule> schedule = ParseCron(c.expression, "");
    ASSERT_FALSE(schedule.ok()) << "'" << c.expression << "' parsed";
    EXPECT_EQ(schedule.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(schedule.status().message().find(c.message), std::string::npos)
        << "'" << c.expression << "': " << schedule.status().message();
  }
  // The two messages the issue quotes, whole.
  EXPECT_EQ(ParseCron("0 25 * * *", "UTC").status().message(),
            "cron field 2 (hour) '25': 25 is out of range 0-23");
  EXPECT_EQ(ParseCron("0 0 * * *", "Europe/Berln").status().message(),
            "unknown time zone 'Europe/Berln': no such file under /usr/share/zoneinfo; use an IANA name such as "
            "Europe/Berlin or UTC");
}

TEST(Cron, KeepsItsExpressionAndZone) {
  const CronSchedule schedule = Parse("@weekly", "America/New_York");
  EXPECT_EQ(schedule.expression(), "@weekly");
  EXPECT_EQ(schedule.time_zone().name(), "America/New_York");
  EXPECT_EQ(Parse("@weekly").time_zone().name(), "UTC");
}

// ---- References ----------------------------------------------------------------------------------

// A schedule as sets of values, rendered as comma lists (or '*', or '*/1', which counts as '*').
struct Sets {
  std::set<int> minutes, hours, days, months, weekdays;  // empty: '*'
  bool days_star_step = false;                           // write '*' as '*/1'

  std::string Expression() const {
    auto list = [](const std::set<int>& values, const char* star) {
      if (values.empty()) return std::string(star);
      std::string s;
      for (int v : values) s += (s.empty() ? "" : ",") + std::to_string(v);
      return s;
    };
    return list(minutes, "*") + " " + list(hours, "*") + " " + list(days, days_star_step ? "*/1" : "*") + " " +
           list(months, "*") + " " + list(weekdays, "*");
  }

  bool Matches(const std::set<int>& values, int v) const { return values.empty() || values.count(v) > 0; }

  // Day by day, then every hour and minute of a matching day; UTC only.
  std::optional<int64_t> Next(int64_t t) const {
    const int64_t first_day = (t >= 0 ? t : t - 86399) / 86400;
    for (int64_t d = first_day; d <= first_day + 8 * 366; ++d) {
      const sys_days date{std::chrono::days{d}};
      const year_month_day ymd{date};
      const int weekday = static_cast<int>(std::chrono::weekday{date}.c_encoding());
      if (!Matches(months, static_cast<int>(static_cast<unsigned>(ymd.month())))) continue;
      const bool dom = Matches(days, static_cast<int>(static_cast<unsigned>(ymd.day())));
      const bool dow = Matches(weekdays, weekday) || (weekday == 0 && weekdays.count(7) > 0);
      const bool day_ok = (days.empty() || weekdays.empty()) ? (dom && dow) : (dom || dow);
      if (!day_ok) continue;
      for (int h = 0; h < 24; ++h) {
        for (int m = 0; m < 60; ++m) {
          const int64_t at = d * 86400 + h * 3600 + m * 60;
          if (at > t && Matches(hours, h) && Matches(minutes, m)) {
            return at <= t + 8 * 366 * 86400 ? std::optional<int64_t>(at) : std::nullopt;
          }
        }
      }
    }
    return std::nullopt;
  }
};

TEST(Cron, MatchesADayByDayReferenceOnRandomSchedules) {
  std::mt19937_64 rng(20260329);
  auto pick = [&rng](int lo, int hi, double star_chance) {
    std::set<int> values;
    if (std::uniform_real_distribution<double>(0, 1)(rng) < star_chance) return values;
    const int n = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < n; ++i) values.insert(lo + static_cast<int>(rng() % (hi - lo + 1)));
    return values;
  };
  int fired = 0;
  for (int i = 0; i < 300; ++i) {
    Sets sets;
    sets.minutes = pick(0, 59, 0.2);
    sets.hours = pick(0, 23, 0.2);
    sets.days = pick(1, 31, 0.5);
    sets.months = pick(1, 12, 0.5);
    sets.weekdays = pick(0, 7, 0.5);
    sets.days_star_step = rng() % 4 == 0;
    const CronSchedule schedule = Parse(sets.Expression());
    for (int q = 0; q < 3; ++q) {
      const int64_t t = static_cast<int64_t>(rng() % 4'102'444'800);  // 1970 to 2100
      const std::optional<int64_t> expected = sets.Next(t);
      ASSERT_EQ(schedule.NextAfter(t), expected)
          << "'" << sets.Expression() << "' after " << FormatUtc(t) << " (" << t << ")";
      fired += expected.has_value();
    }
  }
  EXPECT_GT(fired, 800);
}

// Walks the wall clock minute by minute around every transition of 2026 and 2040 and fires
// whenever it first reaches or passes a matching wall time: the rule the header states.
TEST(Cron, MatchesAWallClockWalkAroundEveryTransition) {
  struct Expression {
    const char* text;
    std::function<bool(int hour, int minute)> matches;
  };
  const Expression expressions[] = {
      {"*/15 * * * *", [](int, int m) { return m % 15 == 0; }},
      {"0 * * * *", [](int, int m) { return m == 0; }},
      {"30 2 * * *", [](int h, int m) { return h == 2 && m == 30; }},
      {"0 2 * * *", [](int h, int m) { return h == 2 && m == 0; }},
      {"0 3 * * *", [](int h, int m) { return h == 3 && m == 0; }},
      {"45 1 * * *", [](int h, int m) { return h == 1 && m == 45; }},
      {"*/7 0-4 * * *", [](int h, int m) { return h <= 4 && m % 7 == 0; }},
      {"0 0 * * *", [](int h, int m) { return h == 0 && m == 0; }},
      {"30 23 * * *", [](int h, int m) { return h == 23 && m == 30; }},
      {"10,50 1-3 * * *", [](int h, int m) { return h >= 1 && h <= 3 && (m == 10 || m == 50); }},
  };
  const char* const zones[] = {"Europe/Berlin", "America/New_York", "Australia/Sydney",    "America/Santiago",
                               "Europe/Dublin", "America/Nuuk",     "Australia/Lord_Howe", "Pacific/Chatham"};
  int transitions = 0;
  for (const char* zone_name : zones) {
    StatusOr<TimeZone> zone = LoadTimeZone(zone_name);
    ASSERT_TRUE(zone.ok()) << zone.status().message();
    for (const char* year : {"2026", "2040"}) {
      const int64_t year_start = Utc(std::string(year) + "-01-01 00:00");
      for (const TimeZone::Transition& tr : zone->TransitionsBetween(year_start, year_start + 366 * 86400)) {
        ++transitions;
        const int64_t start = tr.at - 86400, end = tr.at + 86400;
        std::vector<int64_t> local;  // the wall clock at start, start + 60, ...
        for (int64_t u = start; u <= end; u += 60) local.push_back(zone->ToLocal(u));
        for (const Expression& e : expressions) {
          std::vector<int64_t> walked;
          int64_t reached = local[0];
          for (size_t i = 1; i < local.size(); ++i) {
            for (int64_t w = reached - reached % 60 + 60; w <= local[i]; w += 60) {
              const int64_t of_day = ((w % 86400) + 86400) % 86400;
              if (e.matches(static_cast<int>(of_day / 3600), static_cast<int>(of_day % 3600 / 60))) {
                walked.push_back(start + static_cast<int64_t>(i) * 60);
                break;
              }
            }
            reached = std::max(reached, local[i]);
          }
          std::vector<int64_t> fired;
          const CronSchedule schedule = *ParseCron(e.text, *zone);
          for (std::optional<int64_t> next = schedule.NextAfter(start); next && *next <= end;
               next = schedule.NextAfter(*next)) {
            fired.push_back(*next);
          }
          ASSERT_EQ(fired, walked) << e.text << " in " << zone_name << " around " << tr.at;
        }
      }
    }
  }
  EXPECT_EQ(transitions, 8 * 2 * 2);
}

TEST(Cron, NeverCrashesOnGarbage) {
  const std::string alphabet = "0123456789*/-,@ \tJANMONSUNdailyx?L#";
  const char* const pieces[] = {"*",  "*/", "-",  "/",  ",",   "0",   "1",   "5",   "7", "12", "23",
                                "31", "59", "60", "99", "mon", "SUN", "Feb", "dec", "x", ""};
  std::mt19937 rng(5);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string expression;
    if (i % 2 == 0) {  // characters at random
      const size_t length = rng() % 24;
      for (size_t j = 0; j < length; ++j) expression += alphabet[rng() % alphabet.size()];
    } else {  // mostly five fields, mostly of well-formed elements with small numbers
      const int fields = rng() % 8 == 0 ? 4 + static_cast<int>(rng() % 3) : 5;
      auto number = [&rng] { return std::to_string(rng() % 8 == 0 ? rng() % 100 : 1 + rng() % 12); };
      for (int f = 0; f < fields; ++f) {
        if (f > 0) expression += ' ';
        switch (rng() % 8) {
          case 0:
            expression += "*";
            break;
          case 1:
            expression += "*/" + number();
            break;
          case 2:
            expression += number();
            break;
          case 3:
            expression += number() + "-" + number();
            break;
          case 4:
            expression += number() + "-" + number() + "/" + number();
            break;
          case 5:
            expression += number() + "/" + number();
            break;
          case 6:
            expression += number() + "," + number();
            break;
          default:
            for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k)
              expression += pieces[rng() % std::size(pieces)];
        }
      }
    }
    StatusOr<CronSchedule> schedule = ParseCron(expression, TimeZone());
    if (schedule.ok()) {
      ++parsed;
      const int64_t t = static_cast<int64_t>(rng() % 4'102'444'800);
      const std::optional<int64_t> next = schedule->NextAfter(t);
      if (next) {
        ASSERT_GT(*next, t) << expression;
      }
    } else {
      ASSERT_EQ(schedule.status().message().rfind("cron ", 0), 0u) << schedule.status().message();
    }
  }
  EXPECT_GT(parsed, 100);
}

TEST(Cron, ConstSchedulesAnswerFromManyThreads) {
  const CronSchedule schedule = Parse("*/15 * * * *", "Europe/Berlin");
  const std::vector<int64_t> expected = Firings(schedule, 1792800000, 200);
  std::vector<std::vector<int64_t>> got(4);
  std::vector<std::thread> threads;
  for (auto& g : got) threads.emplace_back([&] { g = Firings(schedule, 1792800000, 200); });
  for (std::thread& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, expected);
}

}  // namespace
}  // namespace orchard::coordinator
