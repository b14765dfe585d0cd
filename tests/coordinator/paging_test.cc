#include "coordinator/paging.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace orchard::coordinator {
namespace {

TEST(PageSize, ZeroMeansTheDefaultLargeOnesAreCutAndNegativeOnesRefused) {
  constexpr PageLimits limits{100, 1000};
  EXPECT_EQ(PageSize("page_size", 0, limits).value(), 100);
  EXPECT_EQ(PageSize("page_size", 7, limits).value(), 7);
  EXPECT_EQ(PageSize("page_size", 5000, limits).value(), 1000);
  const auto negative = PageSize("page_size", -2, limits);
  ASSERT_EQ(negative.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(negative.status().message().find("page_size"), std::string::npos);
  EXPECT_NE(negative.status().message().find("-2"), std::string::npos);
}

TEST(PageTokens, NumbersGoThereAndBack) {
  for (int64_t last : {int64_t{0}, int64_t{-1}, int64_t{41}, std::numeric_limits<int64_t>::max()})
    EXPECT_EQ(ParseNumberPageToken(NumberedList::kTrials, NumberPageToken(NumberedList::kTrials, last)).value(), last);
  EXPECT_EQ(ParseNumberPageToken(NumberedList::kSweeps, "").value(), std::nullopt) << "no token: the first page";
  EXPECT_EQ(ParseNumberPageToken(NumberedList::kSweeps, NumberPageToken(NumberedList::kTrials, 3)).status().code(),
            StatusCode::kInvalidArgument)
      << "a trials token is not a sweeps token";
}

TEST(PageTokens, MetricPositionsGoThereAndBackWhateverTheName) {
  for (const std::string& name : std::vector<std::string>{"val_loss", "a.b/c d", std::string("\xc3\xa9\x00z", 4)}) {
    const std::string token = MetricPageToken(name, 12);
    EXPECT_EQ(token.find_first_not_of("m0123456789.abcdef"), std::string::npos) << "safe in a URL: " << token;
    const auto position = ParseMetricPageToken(token).value();
    ASSERT_TRUE(position.has_value());
    EXPECT_EQ(position->first, name);
    EXPECT_EQ(position->second, 12);
  }
  EXPECT_EQ(ParseMetricPageToken("").value(), std::nullopt);
}

TEST(PageTokens, ATokenThisListDidNotGiveIsRefused) {
  for (const char* token : {"t", "tx", "t1.5", "12", "m3.61"})
    EXPECT_EQ(ParseNumberPageToken(NumberedList::kTrials, token).status().code(), StatusCode::kInvalidArgument) << token;
  for (const char* token : {"t3", "m.61", "m3.6", "m3.6g", "mx.61", "m3"})
    EXPECT_EQ(ParseMetricPageToken(token).status().code(), StatusCode::kInvalidArgument) << token;
}

}  // namespace
}  // namespace orchard::coordinator
