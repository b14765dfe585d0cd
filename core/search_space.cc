#include "core/search_space.h"

#include <algorithm>
#include <charconv>
#include <cmath>
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

std::vector<HyperbandBracket> HyperbandBrackets(int64_t min_steps, int64_t max_steps, double eta, int64_t max_trials) {
  const double budget = static_cast<double>(max_steps) / static_cast<double>(min_steps);
  // The epsilon keeps an exact power (R = eta^k) from rounding down to k - 1.
  const auto s_max = static_cast<int64_t>(std::floor(std::log(budget) / std::log(eta) + 1e-9));
  std::vector<HyperbandBracket> brackets;
  int64_t next_trial = 0;
  for (int64_t s = s_max; s >= 0; --s) {
    const double trials =
        std::ceil(static_cast<double>(s_max + 1) / static_cast<double>(s + 1) * std::pow(eta, static_cast<double>(s)) - 1e-9);
    if (trials > static_cast<double>(max_trials - next_trial)) break;
    HyperbandBracket bracket;
    bracket.first_trial = next_trial;
    bracket.trials = static_cast<int64_t>(trials);
    for (int64_t i = 0; i <= s; ++i)
      bracket.milestones.push_back(std::max<int64_t>(
          1, std::llround(static_cast<double>(max_steps) * std::pow(eta, static_cast<double>(i - s)))));
    next_trial += bracket.trials;
    brackets.push_back(std::move(bracket));
  }
  return brackets;
}

int64_t PlannedSteps(const HyperbandBracket& bracket, double eta) {
  int64_t steps = 0, reached = 0, survivors = bracket.trials;
  for (int64_t milestone : bracket.milestones) {
    steps += survivors * (milestone - reached);
    reached = milestone;
    survivors = std::max<int64_t>(1, static_cast<int64_t>(std::floor(static_cast<double>(survivors) / eta)));
  }
  return steps;
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
