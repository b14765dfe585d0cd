#include "coordinator/schedules/cron.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <chrono>
#include <string_view>
#include <vector>

namespace orchard::coordinator {
namespace {

constexpr int64_t kSecondsPerDay = 86400;
constexpr int64_t kMinInstant = -62'135'596'800;  // 0001-01-01 00:00:00 UTC
constexpr int64_t kMaxInstant = 253'402'300'799;  // 9999-12-31 23:59:59 UTC
// How far NextAfter looks: 8 years, the longest gap between two Feb 29ths (2096 to 2104).
constexpr int64_t kHorizon = 8 * 366 * kSecondsPerDay;

constexpr std::array<const char*, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                     "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<const char*, 7> kDayNames = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct Field {
  const char* name;
  int min;
  int max;
  int top;                   // where * and a/s end: the maximum, but Saturday (6) for weekdays
  const char* const* names;  // names[i] is min + i; nullptr if the field has none
  int name_count;
  const char* name_range;  // for messages: "JAN-DEC"
};

constexpr std::array<Field, 5> kFields = {{
    {"minute", 0, 59, 59, nullptr, 0, nullptr},
    {"hour", 0, 23, 23, nullptr, 0, nullptr},
    {"day-of-month", 1, 31, 31, nullptr, 0, nullptr},
    {"month", 1, 12, 12, kMonthNames.data(), 12, "JAN-DEC"},
    {"day-of-week", 0, 7, 6, kDayNames.data(), 7, "SUN-SAT"},
}};

constexpr std::array<std::pair<const char*, const char*>, 7> kMacros = {{
    {"@hourly", "0 * * * *"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},
    {"@monthly", "0 0 1 * *"},
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
}};

constexpr char kFieldsHint[] =
    "expected five fields 'minute hour day-of-month month day-of-week' such as '0 3 * * *', or a "
    "macro such as @daily";

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(separator, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::vector<std::string_view> SplitBlanks(std::string_view s) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    const size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) words.push_back(s.substr(start, i - start));
  }
  return words;
}

// Parses one field into a bit set (bit v: value v), reporting errors as
// "cron field N (name) 'text': what is wrong; how to fix it".
class FieldParser {
 public:
  FieldParser(int index, std::string_view text) : index_(index), field_(kFields[index]), text_(text) {}

  StatusOr<uint64_t> Parse() {
    uint64_t bits = 0;
    for (std::string_view element : Split(text_, ',')) {
      if (element.empty()) return Error("empty list element; separate values with single commas, as in 1,15");
      const std::vector<std::string_view> slash = Split(element, '/');
      if (slash.size() > 2) return Error("'" + std::string(element) + "' has more than one '/'");
      int step = 1;
      if (slash.size() == 2) {
        std::optional<int64_t> s = Number(slash[1]);
        if (!s) return Error("step '" + std::string(slash[1]) + "' is not a number; write */5 or 0-30/5");
        const int span = field_.top - field_.min + 1;
        if (*s == 0) return Error("step 0 in '" + std::string(element) + "' must be at least 1");
        if (*s > span) {
          return Error("step " + std::string(slash[1]) + " in '" + std::string(element) +
                       "' is larger than the field's range " + std::to_string(field_.min) + "-" +
                       std::to_string(field_.top) + ", so at most one value would match");
        }
        step = static_cast<int>(*s);
      }
      int first = field_.min, last = field_.top;
      const std::string_view range = slash[0];
      if (range != "*") {
        const size_t dash = range.find('-');
        if (dash == std::string_view::npos) {
          ASSIGN_OR_RETURN(first, Value(range));
          last = slash.size() == 2 ? std::max(first, field_.top) : first;  // a/s: a to the top
        } else {
          if (dash == 0) return Error("range '" + std::string(range) + "' is missing its start, as in 1-5");
          if (dash + 1 == range.size()) {
            return Error("range '" + std::string(range) + "' is missing its end, as in 1-5");
          }
          ASSIGN_OR_RETURN(first, Value(range.substr(0, dash)));
          ASSIGN_OR_RETURN(last, Value(range.substr(dash + 1)));
          if (first > last) {
            std::string fix = "write the smaller value first; ranges do not wrap around, so split it into two";
            if (index_ == 4 && last == 0) fix = "use 7 for a Sunday that ends a range, as in 5-7";
            return Error("range '" + std::string(range) + "' runs backwards (" + std::to_string(first) + " > " +
                         std::to_string(last) + "); " + fix);
          }
        }
      }
      for (int v = first; v <= last; v += step) bits |= uint64_t{1} << v;
    }
    if (index_ == 4 && ((bits >> 7) & 1)) bits = (bits & ~(uint64_t{1} << 7)) | 1;  // 7 is Sunday too
    return bits;
  }

 private:
  // Digits only; saturates instead of overflowing.
  static std::optional<int64_t> Number(std::string_view s) {
    if (s.empty()) return std::nullopt;
    int64_t value = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      value = std::min<int64_t>(value * 10 + (c - '0'), 1'000'000'000);
    }
    return value;
  }

  StatusOr<int> Value(std::string_view s) {
    if (std::optional<int64_t> n = Number(s)) {
      if (*n < field_.min || *n > field_.max) return Error(std::string(s) + " is out of range " + Range());
      return static_cast<int>(*n);
    }
    const std::string upper = Upper(s);
    for (int i = 0; i < field_.name_count; ++i) {
      if (upper == field_.names[i]) return field_.min + i;
    }
    if (field_.names != nullptr) {
      return Error("'" + std::string(s) + "' is neither a number " + Range() + " nor a name " + field_.name_range);
    }
    return Error("'" + std::string(s) + "' is not a number; expected *, a number " + Range() +
                 ", a range a-b, a list a,b or a step */n");
  }

  std::string Range() const { return std::to_string(field_.min) + "-" + std::to_string(field_.max); }

  Status Error(const std::string& what) const {
    return InvalidArgument("cron field " + std::to_string(index_ + 1) + " (" + field_.name + ") '" +
                           std::string(text_) + "': " + what);
  }

  int index_;
  const Field& field_;
  std::string_view text_;
};

// The lowest set bit at or above `from` below `width`, or -1.
int NextBit(uint64_t bits, int from, int width) {
  if (from >= width) return -1;
  const uint64_t rest = bits >> from;
  if (rest == 0) return -1;
  const int bit = from + std::countr_zero(rest);
  return bit < width ? bit : -1;
}

std::chrono::year_month_day Civil(int64_t days) {
  return std::chrono::year_month_day{std::chrono::sys_days{std::chrono::days{days}}};
}

}  // namespace

bool CronSchedule::DayMatches(int64_t days) const {
  const unsigned day = static_cast<unsigned>(Civil(days).day());
  const unsigned weekday = std::chrono::weekday{std::chrono::sys_days{std::chrono::days{days}}}.c_encoding();
  const bool dom = (days_of_month_ >> day) & 1;
  const bool dow = (days_of_week_ >> weekday) & 1;
  // Vixie cron: both restricted means either; otherwise the restricted one (a '*' field is all ones).
  if (day_of_month_star_ || day_of_week_star_) return dom && dow;
  return dom || dow;
}

std::optional<int64_t> CronSchedule::NextWallTime(int64_t local_seconds, int64_t limit) const {
  const int64_t start = FloorDiv(local_seconds + 59, 60) * 60;
  int64_t days = FloorDiv(start, kSecondsPerDay);
  int hour = static_cast<int>((start - days * kSecondsPerDay) / 3600);
  int minute = static_cast<int>((start - days * kSecondsPerDay) % 3600 / 60);
  while (days * kSecondsPerDay <= limit) {
    const std::chrono::year_month_day ymd = Civil(days);
    if (((months_ >> static_cast<unsigned>(ymd.month())) & 1) == 0) {
      const auto next_month = std::chrono::year_month_day{ymd.year() / ymd.month() / 1} + std::chrono::months{1};
      days = std::chrono::sys_days{next_month}.time_since_epoch().count();
      hour = minute = 0;
      continue;
    }
    if (!DayMatches(days)) {
      ++days;
      hour = minute = 0;
      continue;
    }
    const int next_hour = NextBit(hours_, hour, 24);
    if (next_hour < 0) {
      ++days;
      hour = minute = 0;
      continue;
    }
    if (next_hour != hour) minute = 0;
    hour = next_hour;
    const int next_minute = NextBit(minutes_, minute, 60);
    if (next_minute < 0) {
      minute = 0;
      if (++hour == 24) {
        hour = 0;
        ++days;
      }
      continue;
    }
    const int64_t wall = days * kSecondsPerDay + hour * 3600 + next_minute * 60;
    if (wall > limit) return std::nullopt;
    return wall;
  }
  return std::nullopt;
}

std::optional<int64_t> CronSchedule::NextAfter(int64_t unix_seconds) const {
  if (unix_seconds < kMinInstant || unix_seconds > kMaxInstant) return std::nullopt;
  const int64_t local = zone_.ToLocal(unix_seconds);
  const int64_t limit = local + kHorizon;
  int64_t start = FloorDiv(local, 60) * 60 + 60;
  // A wall time fires at the first instant the clock reads it (or later). After clocks go back,
  // wall times just ahead of the clock may already have had that instant; skip them.
  while (std::optional<int64_t> wall = NextWallTime(start, limit)) {
    const int64_t at = zone_.FirstInstantAtOrAfter(*wall);
    if (at > unix_seconds) return at;
    start = *wall + 60;
  }
  return std::nullopt;
}

StatusOr<CronSchedule> ParseCron(const std::string& expression, TimeZone zone) {
  std::vector<std::string_view> fields = SplitBlanks(expression);
  if (fields.empty()) return InvalidArgument("cron expression is empty; " + std::string(kFieldsHint));
  const std::string quoted = "cron expression '" + expression + "'";
  if (fields[0].front() == '@') {
    const std::string macro = Upper(fields[0]);
    const auto it =
        std::find_if(kMacros.begin(), kMacros.end(), [&macro](const auto& m) { return Upper(m.first) == macro; });
    if (macro == "@REBOOT") {
      return InvalidArgument(quoted +
                             ": @reboot is not a time schedule and is not supported; use a time such as @daily");
    }
    if (it == kMacros.end()) {
      return InvalidArgument(quoted + ": unknown macro '" + std::string(fields[0]) +
                             "'; use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually");
    }
    if (fields.size() > 1) {
      return InvalidArgument(quoted + ": the macro " + std::string(fields[0]) +
                             " stands for a whole schedule; remove the fields after it");
    }
    fields = SplitBlanks(it->second);
  }
  if (fields.size() != 5) {
    std::string why = quoted + " has " + std::to_string(fields.size()) + " field" +
                      (fields.size() == 1 ? "" : "s") + "; " + kFieldsHint;
    if (fields.size() == 6) why += " (seconds and year fields are not supported)";
    return InvalidArgument(why);
  }
  std::array<uint64_t, 5> bits{};
  for (int i = 0; i < 5; ++i) {
    ASSIGN_OR_RETURN(bits[i], FieldParser(i, fields[i]).Parse());
  }
  CronSchedule schedule;
  schedule.expression_ = expression;
  schedule.zone_ = std::move(zone);
  schedule.minutes_ = bits[0];
  schedule.hours_ = static_cast<uint32_t>(bits[1]);
  schedule.days_of_month_ = static_cast<uint32_t>(bits[2]);
  schedule.months_ = static_cast<uint32_t>(bits[3]);
  schedule.days_of_week_ = static_cast<uint32_t>(bits[4]);
  schedule.day_of_month_star_ = fields[2].front() == '*';
  schedule.day_of_week_star_ = fields[4].front() == '*';
  return schedule;
}

StatusOr<CronSchedule> ParseCron(const std::string& expression, const std::string& time_zone) {
  ASSIGN_OR_RETURN(TimeZone zone, LoadTimeZone(time_zone));
  return ParseCron(expression, std::move(zone));
}

}  // namespace orchard::coordinator
