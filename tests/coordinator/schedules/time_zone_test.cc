// Time zones: the TZif reader and the POSIX TZ rules against glibc (which reads the same files), the
// instants of local wall times around transitions, hand-made and damaged files, and zone names.
#include "coordinator/schedules/time_zone.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <random>

#include "tests/util/test_util.h"

namespace orchard::coordinator {
namespace {

// Local seconds of a wall-clock reading (see time_zone.h).
int64_t Local(int y, unsigned mo, unsigned d, int h, int mi) {
  using namespace std::chrono;
  return sys_days{year{y} / month{mo} / day{d}}.time_since_epoch().count() * 86400 + h * 3600 + mi * 60;
}

TimeZone Load(const std::string& name) {
  StatusOr<TimeZone> zone = LoadTimeZone(name);
  EXPECT_TRUE(zone.ok()) << zone.status().message();
  return zone.ok() ? *zone : TimeZone();
}

// glibc's answer, with TZ set for this process (fine in a test; the library never does this).
class GlibcZone {
 public:
  explicit GlibcZone(const std::string& name) {
    const char* old = std::getenv("TZ");
    if (old != nullptr) old_ = old;
    had_old_ = old != nullptr;
    setenv("TZ", name.c_str(), 1);
    tzset();
  }
  ~GlibcZone() {
    if (had_old_) {
      setenv("TZ", old_.c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  static int32_t OffsetAt(int64_t t) {
    const time_t tt = static_cast<time_t>(t);
    struct tm tm {};
    localtime_r(&tt, &tm);
    return static_cast<int32_t>(tm.tm_gmtoff);
  }

 private:
  std::string old_;
  bool had_old_ = false;
};

// Zones with the rules that trip readers up: southern hemisphere (Sydney, Santiago with 24:00),
// negative DST (Dublin: winter is the "daylight" time), a transition at -1:00 (Nuuk), a 30-minute
// shift (Lord Howe), a fixed footer after transitions listed to 2087 (Casablanca), a zone that
// skipped a day (Apia), and Berlin and New York.
const char* const kZones[] = {"Europe/Berlin", "America/New_York", "Australia/Sydney",    "America/Santiago",
                              "Europe/Dublin", "America/Nuuk",     "Australia/Lord_Howe", "Africa/Casablanca",
                              "Pacific/Apia",  "Asia/Kolkata"};

TEST(TimeZone, OffsetsMatchGlibcFrom1900To2100) {
  const int64_t from = Local(1900, 1, 1, 0, 0), to = Local(2100, 1, 1, 0, 0);
  for (const char* name : kZones) {
    const TimeZone zone = Load(name);
    GlibcZone glibc(name);
    int checked = 0;
    // Every week and a bit, so that every time of day comes round.
    for (int64_t t = from; t < to; t += 7 * 86400 + 3671) {
      ASSERT_EQ(zone.UtcOffsetAt(t), GlibcZone::OffsetAt(t)) << name << " at " << t;
      ++checked;
    }
    // The second before, of and after every change, listed in the file or made by its footer rule.
    for (const TimeZone::Transition& tr : zone.TransitionsBetween(from, to)) {
      for (int64_t t : {tr.at - 1, tr.at, tr.at + 1}) {
        ASSERT_EQ(zone.UtcOffsetAt(t), GlibcZone::OffsetAt(t)) << name << " at " << t;
      }
      ++checked;
    }
    EXPECT_GT(checked, 10000) << name;
  }
}

TEST(TimeZone, TransitionsAfterTheFileComeFromTheFooter) {
  // Berlin's file lists transitions up to 2037; 2040's come from "CET-1CEST,M3.5.0,M10.5.0/3".
  const TimeZone berlin = Load("Europe/Berlin");
  const std::vector<TimeZone::Transition> expected = {
      {2216250000, 7200},  // 2040-03-25 01:00 UTC: 02:00 CET becomes 03:00 CEST
      {2234998800, 3600},  // 2040-10-28 01:00 UTC: 03:00 CEST becomes 02:00 CET
  };
  EXPECT_EQ(berlin.TransitionsBetween(Local(2040, 1, 1, 0, 0), Local(2041, 1, 1, 0, 0)), expected);
  // Sydney's southern summer straddles the new year.
  const TimeZone sydney = Load("Australia/Sydney");
  const std::vector<TimeZone::Transition> sydney_2040 = {
      {2216822400, 36000},  // 2040-03-31 16:00 UTC: Sun 04-01 03:00 AEDT becomes 02:00 AEST
      {2233152000, 39600},  // 2040-10-06 16:00 UTC: Sun 10-07 02:00 AEST becomes 03:00 AEDT
  };
  EXPECT_EQ(sydney.TransitionsBetween(Local(2040, 1, 1, 0, 0), Local(2041, 1, 1, 0, 0)), sydney_2040);
}

TEST(TimeZone, FirstInstantAtOrAfterAWallTime) {
  const TimeZone berlin = Load("Europe/Berlin");
  struct Case {
    int64_t local;
    int64_t expected;
    const char* what;
  };
  const Case cases[] = {
      {Local(2026, 3, 29, 1, 59), 1774745940, "01:59 CET, just before the gap"},
      {Local(2026, 3, 29, 2, 0), 1774746000, "02:00 does not exist: the jump, 03:00 CEST"},
      {Local(2026, 3, 29, 2, 30), 1774746000, "02:30 does not exist: the jump, 03:00 CEST"},
      {Local(2026, 3, 29, 3, 0), 1774746000, "03:00 CEST"},
      {Local(2026, 3, 29, 3, 1), 1774746060, "03:01 CEST"},
      {Local(2026, 10, 25, 1, 59), 1792886340, "01:59 CEST"},
      {Local(2026, 10, 25, 2, 0), 1792886400, "02:00 twice: the first, CEST"},
      {Local(2026, 10, 25, 2, 30), 1792888200, "02:30 twice: the first, CEST"},
      {Local(2026, 10, 25, 3, 0), 1792893600, "03:00 CET"},
      {Local(2040, 3, 25, 2, 30), 2216250000, "2040 (footer): the jump, 03:00 CEST"},
      {Local(2040, 10, 28, 2, 30), 2234997000, "2040 (footer): 02:30 CEST, the first"},
  };
  for (const Case& c : cases) EXPECT_EQ(berlin.FirstInstantAtOrAfter(c.local), c.expected) << c.what;

  EXPECT_EQ(TimeZone().FirstInstantAtOrAfter(Local(2026, 3, 29, 2, 30)), Local(2026, 3, 29, 2, 30));
  // Apia went from UTC-10 to UTC+14 at the end of 2011-12-29: the 30th never happened there.
  const TimeZone apia = Load("Pacific/Apia");
  EXPECT_EQ(apia.FirstInstantAtOrAfter(Local(2011, 12, 30, 12, 0)),
            apia.FirstInstantAtOrAfter(Local(2011, 12, 31, 0, 0)));
  EXPECT_EQ(apia.ToLocal(apia.FirstInstantAtOrAfter(Local(2011, 12, 30, 12, 0))), Local(2011, 12, 31, 0, 0));
}

TEST(TimeZone, UtcNeedsNoFile) {
  for (const std::string name : {"", "UTC"}) {
    StatusOr<TimeZone> zone = LoadTimeZone(name, "/nonexistent");
    ASSERT_TRUE(zone.ok()) << zone.status().message();
    EXPECT_EQ(zone->name(), "UTC");
    EXPECT_EQ(zone->UtcOffsetAt(1774746000), 0);
    EXPECT_TRUE(zone->TransitionsBetween(0, 4'000'000'000).empty());
  }
}

TEST(TimeZone, ExtremeInstantsDoNotOverflow) {
  const TimeZone berlin = Load("Europe/Berlin");
  for (int64_t t : {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    berlin.UtcOffsetAt(t);
    berlin.ToLocal(t);
    berlin.FirstInstantAtOrAfter(t);
    EXPECT_LE(berlin.TransitionsBetween(t, t).size(), 0u);
  }
  EXPECT_GT(
      berlin.TransitionsBetween(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()).size(),
      10000u);  // to year 10100, where the calendar arithmetic stops
}

TEST(TimeZone, ParsesPosixTzStrings) {
  StatusOr<TimeZone::PosixRule> berlin = ParsePosixTz("CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(berlin.ok()) << berlin.status().message();
  EXPECT_EQ(berlin->std_offset, 3600);
  EXPECT_TRUE(berlin->has_dst);
  EXPECT_EQ(berlin->dst_offset, 7200);
  EXPECT_EQ(berlin->start.month, 3);
  EXPECT_EQ(berlin->start.week, 5);
  EXPECT_EQ(berlin->start.weekday, 0);
  EXPECT_EQ(berlin->start_time, 7200);  // the default, 02:00
  EXPECT_EQ(berlin->end.month, 10);
  EXPECT_EQ(berlin->end_time, 3 * 3600);

  StatusOr<TimeZone::PosixRule> nuuk = ParsePosixTz("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  ASSERT_TRUE(nuuk.ok()) << nuuk.status().message();
  EXPECT_EQ(nuuk->std_offset, -7200);
  EXPECT_EQ(nuuk->dst_offset, -3600);
  EXPECT_EQ(nuuk->start_time, -3600);

  StatusOr<TimeZone::PosixRule> india = ParsePosixTz("IST-5:30");
  ASSERT_TRUE(india.ok()) << india.status().message();
  EXPECT_EQ(india->std_offset, 5 * 3600 + 1800);
  EXPECT_FALSE(india->has_dst);

  StatusOr<TimeZone::PosixRule> julian = ParsePosixTz("<+0330>-3:30<+0430>-4:30,J79/24,J263/24");
  ASSERT_TRUE(julian.ok()) << julian.status().message();
  EXPECT_EQ(julian->start.kind, TimeZone::PosixRule::Date::Kind::kJulianNoLeap);
  EXPECT_EQ(julian->start.day, 79);
  EXPECT_EQ(julian->dst_offset, 4 * 3600 + 1800);

  for (const char* bad : {"", "CE-1", "CET", "CET-1CEST", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0",
                          "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,J0,J365",
                          "CET-1CEST,M3.5.0,M10.5.0/168", "CET-25", "CET-1:60", "<AB>-1", "<ABC-1",
                          "CET-1CEST,M3.5.0,M10.5.0,", "CET-1 CEST,M3.5.0,M10.5.0"}) {
    StatusOr<TimeZone::PosixRule> rule = ParsePosixTz(bad);
    ASSERT_FALSE(rule.ok()) << "'" << bad << "' parsed";
    EXPECT_NE(rule.status().message().find("expected a POSIX TZ string"), std::string::npos)
        << rule.status().message();
  }
}

// A TZif file: the header's counts, then the data block (`time_bytes` per transition), no leap
// seconds or indicators, and the footer for versions 2 and up.
std::string Block(char version, const std::vector<int64_t>& times, const std::vector<uint8_t>& types,
                  const std::vector<int32_t>& offsets, int time_bytes, int leap_count = 0) {
  std::string s = "TZif";
  s += version;
  s += std::string(15, '\0');
  auto put = [&s](int64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) s += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
  };
  for (int64_t count :
       {int64_t{0}, int64_t{0}, int64_t(leap_count), int64_t(times.size()), int64_t(offsets.size()), int64_t{4}}) {
    put(count, 4);
  }
  for (int64_t t : times) put(t, time_bytes);
  for (uint8_t type : types) s += static_cast<char>(type);
  for (int32_t offset : offsets) {
    put(offset, 4);
    s += '\0';  // isdst
    s += '\0';  // abbreviation index
  }
  s += std::string("ABC\0", 4);
  for (int i = 0; i < leap_count; ++i) put(0, time_bytes + 4);
  return s;
}

std::string Tzif2(const std::vector<int64_t>& times, const std::vector<uint8_t>& types,
                  const std::vector<int32_t>& offsets, const std::string& footer, int leap_count = 0) {
  return Block('2', {}, {}, {0}, 4) + Block('2', times, types, offsets, 8, leap_count) + "\n" + footer + "\n";
}

TEST(TimeZone, ASlimFileWithOnlyAFooterGivesEveryDate) {
  // What zic's slim output looks like at its barest: no transitions, the rules in the footer.
  StatusOr<TimeZone> slim = ParseTimeZone("Slim/Berlin", Tzif2({}, {}, {3600}, "CET-1CEST,M3.5.0,M10.5.0/3"));
  ASSERT_TRUE(slim.ok()) << slim.status().message();
  const TimeZone berlin = Load("Europe/Berlin");
  for (int64_t t = Local(1996, 1, 1, 0, 0); t < Local(2100, 1, 1, 0, 0);
       t += 86400 + 3600) {  // EU rules since 1996
    ASSERT_EQ(slim->UtcOffsetAt(t), berlin.UtcOffsetAt(t)) << t;
  }
  EXPECT_EQ(slim->FirstInstantAtOrAfter(Local(2026, 3, 29, 2, 30)), 1774746000);
}

TEST(TimeZone, AGapFollowedSoonByAnotherTransition) {
  // UTC+0, at T clocks jump an hour ahead, and half an hour later back again.
  const int64_t t = 1'000'000'800;
  StatusOr<TimeZone> zone = ParseTimeZone("Short", Tzif2({t, t + 1800}, {1, 0}, {0, 3600}, ""));
  ASSERT_TRUE(zone.ok()) << zone.status().message();
  EXPECT_EQ(zone->FirstInstantAtOrAfter(t - 60), t - 60);
  EXPECT_EQ(zone->FirstInstantAtOrAfter(t + 1200), t);  // skipped at T
  EXPECT_EQ(zone->FirstInstantAtOrAfter(t + 3600), t);  // the clock read it at T
  EXPECT_EQ(zone->FirstInstantAtOrAfter(t + 3600 + 1200), t + 1200);
  EXPECT_EQ(zone->FirstInstantAtOrAfter(t + 5400), t + 5400);  // after going back
}

TEST(TimeZone, ReadsVersion1FilesAndTheFirstTimeType) {
  // Type 0 (+01:00) before the first transition; +02:00 from 1000000000 on; no footer in version 1.
  StatusOr<TimeZone> v1 = ParseTimeZone("V1", Block('\0', {1000000000}, {1}, {3600, 7200}, 4));
  ASSERT_TRUE(v1.ok()) << v1.status().message();
  EXPECT_EQ(v1->UtcOffsetAt(999999999), 3600);
  EXPECT_EQ(v1->UtcOffsetAt(1000000000), 7200);
  EXPECT_EQ(v1->UtcOffsetAt(4000000000), 7200);
  // Version 2 with an empty footer keeps the last type too.
  StatusOr<TimeZone> v2 = ParseTimeZone("V2", Tzif2({-5000000000, 1000000000}, {1, 0}, {3600, -7200}, ""));
  ASSERT_TRUE(v2.ok()) << v2.status().message();
  EXPECT_EQ(v2->UtcOffsetAt(-6000000000), 3600);
  EXPECT_EQ(v2->UtcOffsetAt(0), -7200);
  EXPECT_EQ(v2->UtcOffsetAt(5000000000), 3600);
}

TEST(TimeZone, RefusesDamagedFilesWithAReason) {
  struct Case {
    std::string bytes;
    const char* reason;
  };
  const std::string good = Tzif2({1000000000}, {1}, {3600, 7200}, "CET-1CEST,M3.5.0,M10.5.0/3");
  std::string bad_index = good;
  bad_index[bad_index.size() - 28 - 4 - 12 - 1] = 9;  // the transition's type index (before types, names, footer)
  const Case cases[] = {
      {"", "not a TZif file"},
      {"TZjf" + good.substr(4), "not a TZif file"},
      {"TZif5" + good.substr(5), "unsupported TZif version '5'"},
      {good.substr(0, good.size() - 1), "missing the footer"},
      {good.substr(0, 50), "truncated version 1 data block"},
      {good.substr(0, 60), "missing the version 2+ header"},
      {Tzif2({2, 1}, {0, 0}, {0}, ""), "transitions out of order"},
      {Tzif2({}, {}, {100000}, ""), "UTC offset 100000 s is out of range"},
      {Tzif2({}, {}, {0}, "", /*leap_count=*/1), "leap seconds"},
      {Tzif2({}, {}, {}, ""), "inconsistent counts"},
      {Tzif2({}, {}, {0}, "CET-1CEST"), "bad or missing rule"},
      {bad_index, "unknown time type"},
  };
  for (const Case& c : cases) {
    StatusOr<TimeZone> zone = ParseTimeZone("Bad/Zone", c.bytes);
    ASSERT_FALSE(zone.ok()) << c.reason;
    EXPECT_NE(zone.status().message().find(c.reason), std::string::npos) << zone.status().message();
    EXPECT_EQ(zone.status().message().rfind("time zone 'Bad/Zone': ", 0), 0u) << zone.status().message();
  }
}

TEST(TimeZone, NeverCrashesOnTruncatedOrScrambledFiles) {
  const std::string berlin = testing::ReadFile(std::string(kSystemZoneinfoDir) + "/Europe/Berlin");
  ASSERT_GT(berlin.size(), 1000u);
  ASSERT_TRUE(ParseTimeZone("Europe/Berlin", berlin).ok());
  for (size_t n = 0; n < berlin.size(); ++n) {
    ASSERT_FALSE(ParseTimeZone("Europe/Berlin", berlin.substr(0, n)).ok()) << n;
  }
  std::mt19937 rng(8);
  for (int i = 0; i < 3000; ++i) {
    std::string scrambled = berlin;
    for (int j = 0; j < 3; ++j) scrambled[rng() % scrambled.size()] = static_cast<char>(rng());
    StatusOr<TimeZone> zone = ParseTimeZone("Scrambled", scrambled);
    if (zone.ok()) {  // whatever it says, it answers
      zone->UtcOffsetAt(static_cast<int64_t>(rng() % 5'000'000'000));
      zone->FirstInstantAtOrAfter(static_cast<int64_t>(rng() % 5'000'000'000));
    }
  }
}

TEST(TimeZone, LoadsFromAnInjectedDirectory) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() / "Test");
  testing::WriteFile(dir / "Test/Plus_One", Tzif2({}, {}, {3600}, "<+01>-1"));
  StatusOr<TimeZone> zone = LoadTimeZone("Test/Plus_One", dir.path().string());
  ASSERT_TRUE(zone.ok()) << zone.status().message();
  EXPECT_EQ(zone->name(), "Test/Plus_One");
  EXPECT_EQ(zone->UtcOffsetAt(1774746000), 3600);

  StatusOr<TimeZone> berlin = LoadTimeZone("Europe/Berlin", dir.path().string());
  ASSERT_FALSE(berlin.ok());
  EXPECT_EQ(berlin.status().message(), "unknown time zone 'Europe/Berlin': no such file under " +
                                           dir.path().string() +
                                           "; use an IANA name such as Europe/Berlin or UTC");
}

TEST(TimeZone, RefusesUnknownAndMalformedNames) {
  StatusOr<TimeZone> typo = LoadTimeZone("Europe/Berln");
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(typo.status().message(),
            "unknown time zone 'Europe/Berln': no such file under /usr/share/zoneinfo; use an IANA name such "
            "as Europe/Berlin or UTC");
  for (const char* name : {"Europe", "Mars/Olympus_Mons"}) {
    StatusOr<TimeZone> zone = LoadTimeZone(name);
    ASSERT_FALSE(zone.ok()) << name;
    EXPECT_NE(zone.status().message().find("unknown time zone"), std::string::npos) << zone.status().message();
  }
  for (const char* name : {"../../etc/passwd", "/etc/localtime", "Europe//Berlin", "Europe/", "zone.tab",
                           "Europe/Berlin\n", "-Europe", "Europe/Ber lin"}) {
    StatusOr<TimeZone> zone = LoadTimeZone(name);
    ASSERT_FALSE(zone.ok()) << name;
    EXPECT_NE(zone.status().message().find("is not an IANA name"), std::string::npos) << zone.status().message();
  }
  StatusOr<TimeZone> leap = LoadTimeZone("right/Europe/Berlin");
  ASSERT_FALSE(leap.ok());
  EXPECT_NE(leap.status().message().find("leap seconds"), std::string::npos) << leap.status().message();
  StatusOr<TimeZone> not_tzif = LoadTimeZone("leapseconds");
  ASSERT_FALSE(not_tzif.ok());
  EXPECT_NE(not_tzif.status().message().find("not a TZif file"), std::string::npos) << not_tzif.status().message();
}

}  // namespace
}  // namespace orchard::coordinator
