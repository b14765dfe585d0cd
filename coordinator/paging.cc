#include "coordinator/paging.h"

#include <algorithm>
#include <charconv>

namespace orchard::coordinator {
namespace {

// Tokens are opaque to callers; their first letter (NumberedList's, or this) keeps a token of one list
// from being taken for another's.
constexpr char kMetricToken = 'm';

Status BadToken(const std::string& token) {
  return InvalidArgument("page_token \"" + token.substr(0, 64) +
                         "\" is not one this list gave: pass the previous answer's next_page_token unchanged, "
                         "or leave it empty for the first page");
}

std::optional<int64_t> ParseInteger(const char* begin, const char* end) {
  int64_t value = 0;
  const auto [stop, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || stop != end || begin == end) return std::nullopt;
  return value;
}

}  // namespace

StatusOr<int64_t> PageSize(const char* field, int64_t requested, const PageLimits& limits) {
  if (requested < 0)
    return InvalidArgument(std::string(field) + " must be 0 (for " + std::to_string(limits.fallback) +
                           ") or a positive number of rows (at most " + std::to_string(limits.most) + " are sent), not " +
                           std::to_string(requested));
  if (requested == 0) return limits.fallback;
  return std::min(requested, limits.most);
}

std::string NumberPageToken(NumberedList list, int64_t last) { return static_cast<char>(list) + std::to_string(last); }

StatusOr<std::optional<int64_t>> ParseNumberPageToken(NumberedList list, const std::string& token) {
  if (token.empty()) return std::optional<int64_t>();
  if (token[0] != static_cast<char>(list)) return BadToken(token);
  const std::optional<int64_t> last = ParseInteger(token.data() + 1, token.data() + token.size());
  if (!last) return BadToken(token);
  return last;
}

std::string MetricPageToken(const std::string& name, int64_t step) {
  // The name in hex: a token goes into URLs unescaped.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token = kMetricToken + std::to_string(step) + ".";
  for (unsigned char c : name) {
    token += kHex[c >> 4];
    token += kHex[c & 15];
  }
  return token;
}

StatusOr<std::optional<std::pair<std::string, int64_t>>> ParseMetricPageToken(const std::string& token) {
  using Position = std::optional<std::pair<std::string, int64_t>>;
  if (token.empty()) return Position();
  const size_t dot = token.find('.');
  if (token[0] != kMetricToken || dot == std::string::npos || (token.size() - dot - 1) % 2 != 0) return BadToken(token);
  const std::optional<int64_t> step = ParseInteger(token.data() + 1, token.data() + dot);
  if (!step) return BadToken(token);
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string name;
  for (size_t i = dot + 1; i < token.size(); i += 2) {
    const int high = digit(token[i]), low = digit(token[i + 1]);
    if (high < 0 || low < 0) return BadToken(token);
    name += static_cast<char>(high * 16 + low);
  }
  return Position(std::pair<std::string, int64_t>(std::move(name), *step));
}

}  // namespace orchard::coordinator
