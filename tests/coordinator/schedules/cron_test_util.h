// What the cron tests share (cron_test.cc, cron_daylight_saving_test.cc): UTC text to Unix
// seconds, parsing that fails the test instead of crashing it, and chained firings.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/schedules/cron.h"

namespace orchard::coordinator {

// "YYYY-MM-DD HH:MM" in UTC -> Unix seconds.
inline int64_t Utc(const std::string& text) {
  using namespace std::chrono;
  int y = 0;
  unsigned mo = 0, d = 0, h = 0, mi = 0;
  EXPECT_EQ(std::sscanf(text.c_str(), "%d-%u-%u %u:%u", &y, &mo, &d, &h, &mi), 5) << text;
  return sys_days{year{y} / month{mo} / day{d}}.time_since_epoch().count() * 86400 + h * 3600 + mi * 60;
}

inline CronSchedule Parse(const std::string& expression, const std::string& zone = "") {
  StatusOr<CronSchedule> schedule = ParseCron(expression, zone);
  EXPECT_TRUE(schedule.ok()) << expression << ": " << schedule.status().message();
  if (!schedule.ok()) return *ParseCron("@daily", "");
  return *schedule;
}

// The next `n` firings after `after`, chained.
inline std::vector<int64_t> Firings(const CronSchedule& schedule, int64_t after, size_t n) {
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

}  // namespace orchard::coordinator
