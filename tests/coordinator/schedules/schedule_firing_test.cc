// The firing decision of schedules, with the time passed in: slots, catch-up once after downtime,
// overlap policies, run-now, daylight-saving days, and the values of a firing's variables.
#include "coordinator/schedules/schedule_firing.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

namespace orchard::coordinator {
namespace {

using namespace std::chrono;

// "YYYY-MM-DD HH:MM[:SS]" in UTC -> Unix seconds.
int64_t Utc(const std::string& text) {
  int y = 0;
  unsigned mo = 0, d = 0, h = 0, mi = 0, s = 0;
  EXPECT_GE(std::sscanf(text.c_str(), "%d-%u-%u %u:%u:%u", &y, &mo, &d, &h, &mi, &s), 5) << text;
  return sys_days{year{y} / month{mo} / day{d}}.time_since_epoch().count() * 86400 + h * 3600 + mi * 60 + s;
}

CronSchedule Cron(const std::string& expression, const std::string& zone = "UTC") {
  auto cron = ParseCron(expression, zone);
  EXPECT_TRUE(cron.ok()) << cron.status().message();
  return *cron;
}

// The decision as text, for table-driven comparisons: "wait 2026-11-22 02:00", "fire ...", "skip ...".
std::string Describe(const FiringDecision& decision) {
  const TimeZone utc;
  auto at = [&](int64_t t) { return FormatWallTime(t, utc).substr(0, 16); };
  if (const auto* wait = std::get_if<WaitForSlot>(&decision))
    return wait->next_slot ? "wait " + at(*wait->next_slot) : "wait forever";
  if (const auto* fire = std::get_if<FireRun>(&decision))
    return "fire " + at(fire->slot) + " missed " + std::to_string(fire->missed) +
           (fire->cancel_previous ? " cancel previous" : "");
  const auto& skip = std::get<SkipRun>(decision);
  return "skip " + at(skip.slot) + " missed " + std::to_string(skip.missed);
}

struct FiringCase {
  const char* what;
  const char* cron;
  const char* due_after;
  const char* now;
  bool paused = false;
  bool previous_run_active = false;
  OverlapPolicy overlap = OverlapPolicy::kSkip;
  const char* expected;
};

TEST(DecideFiringTest, Table) {
  const FiringCase cases[] = {
      {"before the slot", "0 2 * * *", "2026-11-20 12:00", "2026-11-21 01:59:59", false, false,
       OverlapPolicy::kSkip, "wait 2026-11-21 02:00"},
      {"at the slot", "0 2 * * *", "2026-11-20 12:00", "2026-11-21 02:00", false, false, OverlapPolicy::kSkip,
       "fire 2026-11-21 02:00 missed 0"},
      {"a little after the slot", "0 2 * * *", "2026-11-20 12:00", "2026-11-21 02:00:40", false, false,
       OverlapPolicy::kSkip, "fire 2026-11-21 02:00 missed 0"},
      {"the slot was handled", "0 2 * * *", "2026-11-21 02:00", "2026-11-21 02:00:40", false, false,
       OverlapPolicy::kSkip, "wait 2026-11-22 02:00"},
      {"down for three nights: the latest slot, once", "0 2 * * *", "2026-11-18 01:00", "2026-11-21 10:00", false,
       false, OverlapPolicy::kSkip, "fire 2026-11-21 02:00 missed 3"},
      {"a slot exactly at the last one handled is not due again", "0 2 * * *", "2026-11-21 02:00",
       "2026-11-21 02:00", false, false, OverlapPolicy::kSkip, "wait 2026-11-22 02:00"},
      {"paused", "0 2 * * *", "2026-11-18 01:00", "2026-11-21 10:00", true, false, OverlapPolicy::kSkip,
       "wait forever"},
      {"the clock was set back", "0 2 * * *", "2026-11-21 02:00", "2026-11-20 23:00", false, false,
       OverlapPolicy::kSkip, "wait 2026-11-22 02:00"},
      {"a cron that never fires", "0 0 30 2 *", "2026-11-18 01:00", "2026-11-21 10:00", false, false,
       OverlapPolicy::kSkip, "wait forever"},
      {"previous run going, skip", "0 2 * * *", "2026-11-20 12:00", "2026-11-21 02:00", false, true,
       OverlapPolicy::kSkip, "skip 2026-11-21 02:00 missed 0"},
      {"previous run going, allow", "0 2 * * *", "2026-11-20 12:00", "2026-11-21 02:00", false, true,
       OverlapPolicy::kAllow, "fire 2026-11-21 02:00 missed 0"},
      {"previous run going, replace", "0 2 * * *", "2026-11-20 12:00", "2026-11-21 02:00", false, true,
       OverlapPolicy::kReplace, "fire 2026-11-21 02:00 missed 0 cancel previous"},
      {"replace without a previous run going", "0 2 * * *", "2026-11-20 12:00", "2026-11-21 02:00", false, false,
       OverlapPolicy::kReplace, "fire 2026-11-21 02:00 missed 0"},
      {"catch-up while the previous run goes on, skip", "0 2 * * *", "2026-11-18 01:00", "2026-11-21 10:00", false,
       true, OverlapPolicy::kSkip, "skip 2026-11-21 02:00 missed 3"},
      {"every 15 minutes, down for an hour", "*/15 * * * *", "2026-11-21 09:00", "2026-11-21 10:07", false, false,
       OverlapPolicy::kSkip, "fire 2026-11-21 10:00 missed 3"},
      {"weekdays only, down over the weekend", "30 6 * * MON-FRI", "2026-11-20 07:00", "2026-11-23 06:31", false,
       false, OverlapPolicy::kSkip, "fire 2026-11-23 06:30 missed 0"},
      {"yearly, down for three years", "@yearly", "2023-06-01 00:00", "2026-11-21 10:00", false, false,
       OverlapPolicy::kSkip, "fire 2026-01-01 00:00 missed 2"},
  };
  for (const FiringCase& c : cases) {
    FiringState state;
    state.due_after = Utc(c.due_after);
    state.paused = c.paused;
    state.previous_run_active = c.previous_run_active;
    state.overlap = c.overlap;
    EXPECT_EQ(Describe(DecideFiring(Cron(c.cron), state, Utc(c.now))), c.expected) << c.what;
  }
}

TEST(DecideFiringTest, MissedSlotsAreCountedUpToALimitAndTheLatestStillFound) {
  // Every minute, down for a year: the latest minute fires, the count stops at the limit.
  FiringState state;
  state.due_after = Utc("2025-11-21 10:00");
  const FiringDecision decision = DecideFiring(Cron("* * * * *"), state, Utc("2026-11-21 10:00:30"));
  ASSERT_TRUE(std::holds_alternative<FireRun>(decision)) << Describe(decision);
  EXPECT_EQ(std::get<FireRun>(decision).slot, Utc("2026-11-21 10:00"));
  EXPECT_EQ(std::get<FireRun>(decision).missed, kMaxCountedMissedSlots);
}

// Walks the clock over `from`..`to` a minute at a time, firing whatever is due and marking it
// handled, as the coordinator does; returns the slots fired, in UTC.
std::vector<std::string> FiredSlots(const CronSchedule& cron, const std::string& from, const std::string& to) {
  FiringState state;
  state.due_after = Utc(from);
  std::vector<std::string> fired;
  for (int64_t now = Utc(from); now <= Utc(to); now += 60) {
    const FiringDecision decision = DecideFiring(cron, state, now);
    if (const auto* fire = std::get_if<FireRun>(&decision)) {
      EXPECT_EQ(fire->missed, 0) << "nothing is missed when the clock is looked at every minute";
      fired.push_back(FormatWallTime(fire->slot, TimeZone()));
      state.due_after = fire->slot;
    }
  }
  return fired;
}

TEST(DecideFiringTest, FiresAtTheRightInstantsAcrossDaylightSavingChanges) {
  const CronSchedule nightly = Cron("30 2 * * *", "Europe/Berlin");
  // Spring forward on 2026-03-29: 02:30 does not exist and fires at the jump, 03:00 CEST.
  EXPECT_EQ(FiredSlots(nightly, "2026-03-27 12:00", "2026-03-30 12:00"),
            (std::vector<std::string>{"2026-03-28 01:30 UTC", "2026-03-29 01:00 UTC", "2026-03-30 00:30 UTC"}));
  // Fall back on 2026-10-25: 02:30 occurs twice and fires at the first (CEST) only.
  EXPECT_EQ(FiredSlots(nightly, "2026-10-23 12:00", "2026-10-26 12:00"),
            (std::vector<std::string>{"2026-10-24 00:30 UTC", "2026-10-25 00:30 UTC", "2026-10-26 01:30 UTC"}));
}

TEST(DecideRunNowTest, FiresNowWhateverTheCronUnderTheOverlapPolicy) {
  const int64_t now = Utc("2026-11-21 14:03:07");
  FiringState state;
  state.due_after = Utc("2026-11-21 02:00");
  EXPECT_EQ(Describe(DecideRunNow(state, now)), "fire 2026-11-21 14:03 missed 0");
  EXPECT_EQ(std::get<FireRun>(DecideRunNow(state, now)).slot, now);
  state.paused = true;
  EXPECT_EQ(Describe(DecideRunNow(state, now)), "fire 2026-11-21 14:03 missed 0") << "paused stops the cron only";
  state.previous_run_active = true;
  EXPECT_EQ(Describe(DecideRunNow(state, now)), "skip 2026-11-21 14:03 missed 0");
  state.overlap = OverlapPolicy::kAllow;
  EXPECT_EQ(Describe(DecideRunNow(state, now)), "fire 2026-11-21 14:03 missed 0");
  state.overlap = OverlapPolicy::kReplace;
  EXPECT_EQ(Describe(DecideRunNow(state, now)), "fire 2026-11-21 14:03 missed 0 cancel previous");
}

TEST(FiringVariablesTest, AreTheSlotAsTheSchedulesZoneReadsIt) {
  const TimeZone berlin = LoadTimeZone("Europe/Berlin").value();
  EXPECT_EQ(FiringVariables("nightly", 12, Utc("2026-11-21 01:00"), berlin),
            (std::map<std::string, std::string>{{"date", "2026-11-21"},
                                                {"time", "02-00"},
                                                {"datetime", "2026-11-21T02-00"},
                                                {"schedule", "nightly"},
                                                {"run", "12"}}));
  // Half past eleven in UTC is already the next day in Berlin.
  EXPECT_EQ(FiringVariables("n", 1, Utc("2026-12-31 23:30"), berlin).at("datetime"), "2027-01-01T00-30");
  EXPECT_EQ(FiringVariables("n", 1, Utc("2026-12-31 23:30"), TimeZone()).at("date"), "2026-12-31");
}

TEST(FormatWallTimeTest, NamesTheZone) {
  const TimeZone berlin = LoadTimeZone("Europe/Berlin").value();
  EXPECT_EQ(FormatWallTime(Utc("2026-11-21 01:00"), berlin), "2026-11-21 02:00 Europe/Berlin");
  EXPECT_EQ(FormatWallTime(Utc("2026-07-01 01:00:59"), berlin), "2026-07-01 03:00 Europe/Berlin");
  EXPECT_EQ(FormatWallTime(Utc("1969-12-31 23:59"), TimeZone()), "1969-12-31 23:59 UTC");
}

TEST(OverlapPolicyTest, NamesRoundTrip) {
  for (OverlapPolicy policy : {OverlapPolicy::kSkip, OverlapPolicy::kAllow, OverlapPolicy::kReplace})
    EXPECT_EQ(ParseOverlapPolicy(OverlapPolicyName(policy)), policy);
  EXPECT_EQ(ParseOverlapPolicy("Skip"), std::nullopt);
  EXPECT_EQ(ParseOverlapPolicy(""), std::nullopt);
}

}  // namespace
}  // namespace orchard::coordinator
