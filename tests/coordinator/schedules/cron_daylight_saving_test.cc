// Cron schedules on daylight-saving days in Berlin, New York and Sydney (and past the transitions
// the files list), and a reference: a minute-by-minute walk of the wall clock around transitions.
#include "coordinator/schedules/cron.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "tests/coordinator/schedules/cron_test_util.h"

namespace orchard::coordinator {
namespace {

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

}  // namespace
}  // namespace orchard::coordinator
