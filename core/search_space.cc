#include "core/search_space.h"

#include <charconv>
#include <limits>

namespace orchard {

int64_t GridSize(const std::vector<ParameterSpace>& parameters) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t size = 1;
  for (const ParameterSpace& p : parameters) {
    switch (p.kind) {
      case ParameterSpace::Kind::kConstant: break;
      case ParameterSpace::Kind::kValues: {
        const auto count = static_cast<int64_t>(p.values.size());
        if (count == 0) return 0;
        // A few dozen parameters overflow a product; a validator must still see "too many".
        size = size > kMax / count ? kMax : size * count;
        break;
      }
      default: return 0;
    }
  }
  return size;
}

std::string FormatDouble(double value) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text(buffer, end);
  // Keep it a YAML float (not an int) so "1" stays 1.0 for float fields.
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

}  // namespace orchard
