// Paged list calls (ListSweeps, ListTrials, GetTrialMetrics): the page size a request may ask for and
// the page tokens. A token names the last row of the previous page, so the next page is one index
// range scan from there (keyset paging): its cost does not grow with how far into the list it is, and
// rows added or removed meanwhile neither repeat nor shift the pages after them. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <optional>
#include <utility>
#include <vector>

#include "core/status.h"

namespace orchard::coordinator {

struct PageLimits {
  int64_t fallback;  // what page_size 0 means
  int64_t most;      // larger requests get this many
};
inline constexpr PageLimits kSweepPages{100, 10000};
inline constexpr PageLimits kTrialPages{1000, 10000};
inline constexpr PageLimits kMetricPages{10000, 100000};

// The rows one page holds; InvalidArgument naming `field` for a negative size.
StatusOr<int64_t> PageSize(const char* field, int64_t requested, const PageLimits& limits);

// A row's number (a sweep's id, a trial's number) as the token of the page after it, and back: a
// token of one list is refused by the other. Parsing an empty token gives nullopt: the first page.
enum class NumberedList : char { kSweeps = 's', kTrials = 't' };
std::string NumberPageToken(NumberedList list, int64_t last);
StatusOr<std::optional<int64_t>> ParseNumberPageToken(NumberedList list, const std::string& token);

// A metric point's (name, step) as the token of the page after it, and back.
std::string MetricPageToken(const std::string& name, int64_t step);
StatusOr<std::optional<std::pair<std::string, int64_t>>> ParseMetricPageToken(const std::string& token);

// One page of a list and the token of the next ("" after the last).
template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_page_token;
};

}  // namespace orchard::coordinator
