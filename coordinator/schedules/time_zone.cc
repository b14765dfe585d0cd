#include "coordinator/schedules/time_zone.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace orchard::coordinator {
namespace {

using Transition = TimeZone::Transition;
using PosixRule = TimeZone::PosixRule;

constexpr int64_t kSecondsPerDay = 86400;
// RFC 9636 asks offsets to lie in [-89999, 93599] (about -25h to +26h); we refuse anything else, so
// every instant and its local reading are less than this apart.
constexpr int32_t kMaxAbsOffset = 93599;
// Instants are clamped into about years -100 to 10100 before calendar arithmetic, which keeps
// std::chrono::year (range +-32767) and int64 sums far from overflow.
constexpr int64_t kMinClamp = -65'000'000'000;
constexpr int64_t kMaxClamp = 256'000'000'000;
// Largest TZif file we read (the biggest in tzdata is a few KiB).
constexpr std::uintmax_t kMaxFileBytes = 1 << 20;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int YearOfInstant(int64_t unix_seconds) {
  const int64_t days = FloorDiv(std::clamp(unix_seconds, kMinClamp, kMaxClamp), kSecondsPerDay);
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{days}}};
  return static_cast<int>(ymd.year());
}

int64_t DaysFromCivil(int year, unsigned month, unsigned day) {
  return std::chrono::sys_days{std::chrono::year{year} / std::chrono::month{month} / std::chrono::day{day}}
      .time_since_epoch()
      .count();
}

// Days since 1970-01-01 of the rule date `date` in `year`.
int64_t RuleDateDays(const PosixRule::Date& date, int year) {
  using namespace std::chrono;
  const int64_t jan1 = DaysFromCivil(year, 1, 1);
  switch (date.kind) {
    case PosixRule::Date::Kind::kJulianNoLeap:  // Feb 29 is never counted
      return jan1 + date.day - 1 + ((std::chrono::year{year}.is_leap() && date.day >= 60) ? 1 : 0);
    case PosixRule::Date::Kind::kDayOfYear:
      return jan1 + date.day;
    case PosixRule::Date::Kind::kMonthWeekDay: {
      const int64_t first = DaysFromCivil(year, date.month, 1);
      const unsigned first_weekday = weekday{sys_days{days{first}}}.c_encoding();
      const int64_t length =
          static_cast<unsigned>((std::chrono::year{year} / month{static_cast<unsigned>(date.month)} / last).day());
      int64_t offset = (date.weekday - static_cast<int>(first_weekday) + 7) % 7 + (date.week - 1) * 7;
      while (offset >= length) offset -= 7;  // week 5 means the last such weekday
      return first + offset;
    }
  }
  return jan1;
}

// The rule's changes of offset in years [first_year, last_year], ascending; of several at the same
// instant only the last counts (a rule in daylight time all year ends one year's DST as it starts the
// next one's).
std::vector<Transition> RuleTransitions(const PosixRule& rule, int first_year, int last_year) {
  std::vector<Transition> out;
  if (!rule.has_dst) return out;
  for (int year = first_year; year <= last_year; ++year) {
    out.push_back(
        {RuleDateDays(rule.start, year) * kSecondsPerDay + rule.start_time - rule.std_offset, rule.dst_offset});
    out.push_back(
        {RuleDateDays(rule.end, year) * kSecondsPerDay + rule.end_time - rule.dst_offset, rule.std_offset});
  }
  std::stable_sort(out.begin(), out.end(), [](const Transition& a, const Transition& b) { return a.at < b.at; });
  std::vector<Transition> collapsed;
  for (const Transition& t : out) {
    if (!collapsed.empty() && collapsed.back().at == t.at) {
      collapsed.back() = t;
    } else {
      collapsed.push_back(t);
    }
  }
  return collapsed;
}

// ---- POSIX TZ strings ----------------------------------------------------------------------------

class TzStringParser {
 public:
  explicit TzStringParser(std::string_view s) : s_(s) {}

  StatusOr<PosixRule> Parse() {
    PosixRule rule;
    if (!Designation() || !Offset(/*allow_hours=*/24, &rule.std_offset)) return Error("standard time");
    rule.std_offset = -rule.std_offset;  // POSIX counts west of Greenwich as positive
    if (AtEnd()) return rule;
    if (!Designation()) return Error("daylight time name");
    rule.has_dst = true;
    rule.dst_offset = rule.std_offset + 3600;
    if (!AtEnd() && Peek() != ',') {
      if (!Offset(24, &rule.dst_offset)) return Error("daylight time offset");
      rule.dst_offset = -rule.dst_offset;
    }
    if (AtEnd()) return Error("rule (a daylight time without ',start,end' rules)");
    if (!Consume(',') || !Date(&rule.start) || !OptionalTime(&rule.start_time) || !Consume(',') ||
        !Date(&rule.end) || !OptionalTime(&rule.end_time) || !AtEnd()) {
      return Error("daylight time rule");
    }
    return rule;
  }

 private:
  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[pos_]; }
  bool Consume(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  static bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  // An abbreviation: three or more letters, or <...> of letters, digits, '+' and '-'.
  bool Designation() {
    size_t start = pos_;
    if (Consume('<')) {
      while (!AtEnd() && (IsAlpha(Peek()) || IsDigit(Peek()) || Peek() == '+' || Peek() == '-')) ++pos_;
      return pos_ - start - 1 >= 3 && Consume('>');
    }
    while (!AtEnd() && IsAlpha(Peek())) ++pos_;
    return pos_ - start >= 3;
  }

  bool Number(int max, int* out) {
    int value = 0, digits = 0;
    while (!AtEnd() && IsDigit(Peek())) {
      value = value * 10 + (s_[pos_++] - '0');
      if (++digits > 3 || value > max) return false;
    }
    *out = value;
    return digits > 0;
  }

  // [+-]hh[:mm[:ss]] in seconds, hours up to `allow_hours`.
  bool Offset(int allow_hours, int32_t* seconds) {
    int sign = 1;
    if (Consume('-')) {
      sign = -1;
    } else {
      Consume('+');
    }
    int h = 0, m = 0, s = 0;
    if (!Number(allow_hours, &h)) return false;
    if (Consume(':') && (!Number(59, &m) || (Consume(':') && !Number(59, &s)))) return false;
    *seconds = sign * (h * 3600 + m * 60 + s);
    return true;
  }

  // Jn, n or Mm.w.d.
  bool Date(PosixRule::Date* date) {
    if (Consume('J')) {
      date->kind = PosixRule::Date::Kind::kJulianNoLeap;
      return Number(365, &date->day) && date->day >= 1;
    }
    if (Consume('M')) {
      date->kind = PosixRule::Date::Kind::kMonthWeekDay;
      return Number(12, &date->month) && date->month >= 1 && Consume('.') && Number(5, &date->week) &&
             date->week >= 1 && Consume('.') && Number(6, &date->weekday);
    }
    date->kind = PosixRule::Date::Kind::kDayOfYear;
    return Number(365, &date->day);
  }

  // [/time], where RFC 9636 allows -167 to 167 hours.
  bool OptionalTime(int32_t* seconds) { return !Consume('/') || Offset(167, seconds); }

  Status Error(const char* what) const {
    return InvalidArgument("TZ string '" + std::string(s_) + "': bad or missing " + what + " at offset " +
                           std::to_string(pos_) +
                           "; expected a POSIX TZ string such as CET-1CEST,M3.5.0,M10.5.0/3");
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// ---- TZif ----------------------------------------------------------------------------------------

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool Has(size_t n) const { return data_.size() - pos_ >= n; }
  size_t pos() const { return pos_; }
  void Skip(size_t n) { pos_ += n; }
  int64_t Int(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(data_[pos_++]);
    if (bytes == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
    return static_cast<int64_t>(v);
  }
  uint8_t Byte() { return static_cast<unsigned char>(data_[pos_++]); }
  std::string_view Rest() const { return data_.substr(pos_); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

struct Header {
  char version = 0;
  int64_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
};

bool ReadHeader(Reader& r, Header* h) {
  if (!r.Has(44) || r.Rest().substr(0, 4) != "TZif") return false;
  r.Skip(4);
  h->version = static_cast<char>(r.Byte());
  r.Skip(15);
  for (int64_t* count : {&h->isutcnt, &h->isstdcnt, &h->leapcnt, &h->timecnt, &h->typecnt, &h->charcnt}) {
    *count = static_cast<uint32_t>(r.Int(4));
  }
  return true;
}

size_t DataBlockSize(const Header& h, int time_bytes) {
  return h.timecnt * time_bytes + h.timecnt + h.typecnt * 6 + h.charcnt + h.leapcnt * (time_bytes + 4) +
         h.isstdcnt + h.isutcnt;
}

}  // namespace

TimeZone::TimeZone() = default;

int32_t TimeZone::RuleOffsetAt(int64_t unix_seconds) const {
  if (!rule_->has_dst) return rule_->std_offset;
  const int year = YearOfInstant(unix_seconds);
  const std::vector<Transition> around = RuleTransitions(*rule_, year - 2, year + 1);
  int32_t offset = around.empty() ? rule_->std_offset : around.front().utc_offset;
  for (const Transition& t : around) {
    if (t.at > unix_seconds) break;
    offset = t.utc_offset;
  }
  return offset;
}

int32_t TimeZone::UtcOffsetAt(int64_t unix_seconds) const {
  if (transitions_.empty()) return rule_ ? RuleOffsetAt(unix_seconds) : initial_offset_;
  if (unix_seconds < transitions_.front().at) return initial_offset_;
  if (unix_seconds > transitions_.back().at && rule_) return RuleOffsetAt(unix_seconds);
  auto after = std::upper_bound(transitions_.begin(), transitions_.end(), unix_seconds,
                                [](int64_t t, const Transition& tr) { return t < tr.at; });
  return std::prev(after)->utc_offset;
}

int64_t TimeZone::ToLocal(int64_t unix_seconds) const {
  const int64_t t = std::clamp(unix_seconds, kMinClamp, kMaxClamp);  // no overflow at the extremes
  return t + UtcOffsetAt(t);
}

std::vector<Transition> TimeZone::TransitionsBetween(int64_t from, int64_t to) const {
  std::vector<Transition> all;
  auto first = std::upper_bound(transitions_.begin(), transitions_.end(), from,
                                [](int64_t t, const Transition& tr) { return t < tr.at; });
  for (auto it = first; it != transitions_.end() && it->at <= to; ++it) all.push_back(*it);
  if (rule_) {
    const int64_t rule_from = transitions_.empty() ? from : std::max(from, transitions_.back().at);
    if (to > rule_from) {
      for (const Transition& t : RuleTransitions(*rule_, YearOfInstant(rule_from) - 1, YearOfInstant(to) + 1)) {
        if (t.at > rule_from && t.at <= to) all.push_back(t);
      }
    }
  }
  // Only real changes: files also list changes of abbreviation or of the DST flag alone.
  std::vector<Transition> changes;
  int32_t offset = UtcOffsetAt(from);
  for (const Transition& t : all) {
    if (t.utc_offset != offset) changes.push_back(t);
    offset = t.utc_offset;
  }
  return changes;
}

int64_t TimeZone::FirstInstantAtOrAfter(int64_t local_seconds) const {
  local_seconds = std::clamp(local_seconds, kMinClamp, kMaxClamp);
  // Periods of constant offset, in time order. The first whose stretch of local time ends after
  // `local_seconds` holds the answer: the reading itself if it falls inside the period, else the
  // period's start (the reading was skipped). Periods that end before `from` end, in local time,
  // before `local_seconds`, since offsets are smaller than a day.
  const int64_t from = local_seconds - kMaxAbsOffset - kSecondsPerDay;
  const int64_t to = local_seconds + kMaxAbsOffset + kSecondsPerDay;
  int64_t period_start = from;
  int32_t offset = UtcOffsetAt(from);
  for (const Transition& t : TransitionsBetween(from, to)) {
    if (local_seconds < t.at + offset) return std::max(period_start, local_seconds - offset);
    period_start = t.at;
    offset = t.utc_offset;
  }
  return std::max(period_start, local_seconds - offset);
}

StatusOr<PosixRule> ParsePosixTz(std::string_view tz) { return TzStringParser(tz).Parse(); }

StatusOr<TimeZone> ParseTimeZone(const std::string& name, std::string_view tzif) {
  auto bad = [&name](const std::string& why) {
    return InvalidArgument("time zone '" + name + "': " + why +
                           "; reinstall the zone database (Debian package tzdata) or use another zone");
  };
  Reader r(tzif);
  Header h;
  if (!ReadHeader(r, &h)) return bad("not a TZif file (no 'TZif' header)");
  if (h.version != '\0' && (h.version < '2' || h.version > '4')) {
    return bad("unsupported TZif version '" + std::string(1, h.version) + "'");
  }
  int time_bytes = 4;
  if (h.version != '\0') {  // skip the 32-bit block, then read the 64-bit one
    if (!r.Has(DataBlockSize(h, 4))) return bad("truncated version 1 data block");
    r.Skip(DataBlockSize(h, 4));
    if (!ReadHeader(r, &h)) return bad("missing the version 2+ header");
    time_bytes = 8;
  }
  if (h.typecnt == 0 || h.typecnt > 256 || h.charcnt == 0 || (h.isstdcnt != 0 && h.isstdcnt != h.typecnt) ||
      (h.isutcnt != 0 && h.isutcnt != h.typecnt)) {
    return bad("inconsistent counts in the header");
  }
  if (h.leapcnt != 0) return bad("the file has leap seconds (a right/ zone), which are not supported");
  if (!r.Has(DataBlockSize(h, time_bytes))) return bad("truncated data block");

  TimeZone zone;
  zone.name_ = name;
  std::vector<int64_t> times(h.timecnt);
  for (int64_t& t : times) t = r.Int(time_bytes);
  std::vector<uint8_t> type_of(h.timecnt);
  for (uint8_t& index : type_of) index = r.Byte();
  std::vector<int32_t> offsets(h.typecnt);
  for (int32_t& offset : offsets) {
    offset = static_cast<int32_t>(r.Int(4));
    r.Skip(2);  // isdst, abbreviation index
    if (offset < -kMaxAbsOffset || offset > kMaxAbsOffset) {
      return bad("UTC offset " + std::to_string(offset) + " s is out of range");
    }
  }
  r.Skip(h.charcnt + h.isstdcnt + h.isutcnt);
  for (int64_t i = 0; i < h.timecnt; ++i) {
    if (type_of[i] >= h.typecnt) return bad("transition to an unknown time type");
    if (i > 0 && times[i] <= times[i - 1]) return bad("transitions out of order");
    zone.transitions_.push_back({times[i], offsets[type_of[i]]});
  }
  zone.initial_offset_ = offsets[0];

  if (h.version != '\0') {
    std::string_view footer = r.Rest();
    const size_t end = footer.size() > 1 ? footer.find('\n', 1) : std::string_view::npos;
    if (footer.empty() || footer[0] != '\n' || end == std::string_view::npos) {
      return bad("missing the footer with the TZ rule for later dates");
    }
    footer = footer.substr(1, end - 1);
    if (!footer.empty()) {
      StatusOr<PosixRule> rule = ParsePosixTz(footer);
      if (!rule.ok()) return bad(rule.status().message());
      zone.rule_ = *rule;
    }
  }
  return zone;
}

StatusOr<TimeZone> LoadTimeZone(const std::string& name, const std::string& zoneinfo_dir) {
  if (name.empty() || name == "UTC") return TimeZone();
  const auto valid_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '+' || c == '/';
  };
  const bool bad_part = name.front() == '/' || name.back() == '/' || name.find("//") != std::string::npos ||
                        name.find("..") != std::string::npos || name.front() == '-';
  if (bad_part || name.size() > 255 || !std::all_of(name.begin(), name.end(), valid_char)) {
    return InvalidArgument("time zone '" + name +
                           "' is not an IANA name (parts of letters, digits, '_', '-' and '+' joined by "
                           "'/'); use a name such as Europe/Berlin or UTC");
  }
  const std::filesystem::path path = std::filesystem::path(zoneinfo_dir) / name;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return InvalidArgument("unknown time zone '" + name + "': no such file under " + zoneinfo_dir +
                           "; use an IANA name such as Europe/Berlin or UTC");
  }
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxFileBytes) {
    return InvalidArgument("time zone '" + name + "': " + path.string() +
                           " is unreadable or too large to be a TZif file");
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return InvalidArgument("time zone '" + name + "': cannot read " + path.string());
  }
  return ParseTimeZone(name, bytes);
}

}  // namespace orchard::coordinator
