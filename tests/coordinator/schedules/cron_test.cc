// Cron schedules: every syntax form, the errors, the calendar (month ends, leap days, year ends), a
// day-by-day reference search in UTC over random schedules, garbage, and threads. Daylight-saving
// days are in cron_daylight_saving_test.cc.
#include "coordinator/schedules/cron.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <limits>
#include <random>
#include <set>
#include <thread>

#include "tests/coordinator/schedules/cron_test_util.h"

namespace orchard::coordinator {
namespace {

using namespace std::chrono;

// Unix seconds -> "YYYY-MM-DD HH:MM" in UTC.
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
