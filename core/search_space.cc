#include "core/search_space.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace orchard {

bool Applies(const ParameterSpace& p, const std::function<const std::string*(const std::string&)>& value_of) {
  for (const ParameterCondition& condition : p.when) {
    const std::string* value = value_of(condition.path);
    if (value == nullptr || std::find(condition.values.begin(), condition.values.end(), *value) == condition.values.end())
      return false;
  }
  return true;
}

namespace {

// First-value overrides that make `path`'s own conditions hold, ancestors first.
void AddAncestors(const std::string& path, const std::vector<ParameterSpace>& parameters,
                  std::vector<std::pair<std::string, std::string>>& out) {
  for (const ParameterSpace& parent : parameters) {
    if (parent.path != path) continue;
    for (const ParameterCondition& condition : parent.when) {
      AddAncestors(condition.path, parameters, out);
      out.push_back({condition.path, condition.values.front()});
    }
  }
}

}  // namespace

std::vector<std::string> RemovedConditionalFields(const std::vector<ParameterSpace>& parameters,
                                                  const std::function<const std::string*(const std::string&)>& value_of) {
  std::vector<std::string> removed;
  for (const ParameterSpace& p : parameters)
    if (!p.when.empty() && value_of(p.path) == nullptr && !Applies(p, value_of)) removed.push_back(p.path + "=");
  return removed;
}

std::vector<std::vector<std::pair<std::string, std::string>>> EnablingAssignments(
    const ParameterSpace& p, const std::vector<ParameterSpace>& parameters) {
  if (p.when.empty()) return {{}};
  std::vector<std::vector<std::pair<std::string, std::string>>> ways;
  for (size_t varied = 0; varied < p.when.size(); ++varied) {
    for (size_t v = 0; v < p.when[varied].values.size(); ++v) {
      if (varied > 0 && v == 0) continue;  // every condition at its first value is already a way
      std::vector<std::pair<std::string, std::string>> way;
      for (size_t c = 0; c < p.when.size(); ++c) {
        AddAncestors(p.when[c].path, parameters, way);
        way.push_back({p.when[c].path, p.when[c].values[c == varied ? v : 0]});
      }
      ways.push_back(std::move(way));
    }
  }
  return ways;
}

std::vector<std::pair<std::string, std::string>> CandidateTrialFields(
    const std::vector<ParameterSpace>& parameters, size_t index, const std::string& value,
    const std::vector<std::pair<std::string, std::string>>& enabling) {
  std::vector<std::pair<std::string, std::string>> fields = enabling;
  fields.push_back({parameters[index].path, value});
  const auto value_of = [&](const std::string& path) -> const std::string* {
    for (auto it = fields.rbegin(); it != fields.rend(); ++it)
      if (it->first == path) return it->second.empty() ? nullptr : &it->second;
    return nullptr;
  };
  for (size_t i = 0; i < parameters.size(); ++i) {
    const ParameterSpace& q = parameters[i];
    const bool set = std::any_of(fields.begin(), fields.end(), [&](const auto& f) { return f.first == q.path; });
    if (i == index || q.when.empty() || set) continue;
    if (!Applies(q, value_of)) {
      fields.push_back({q.path, ""});
    } else if (q.kind == ParameterSpace::Kind::kValues || q.kind == ParameterSpace::Kind::kConstant) {
      fields.push_back({q.path, q.values.front()});
    } else if (q.kind == ParameterSpace::Kind::kIntUniform) {
      fields.push_back({q.path, std::to_string(static_cast<int64_t>(std::ceil(q.min)))});
    } else {
      fields.push_back({q.path, FormatDouble(q.min)});
    }
  }
  // The parameter itself last, so a field the loop set on its way cannot hide it.
  fields.push_back({parameters[index].path, value});
  return fields;
}

namespace {

// Depth first over the parameters from `next` on; false once `visit` asked to stop.
bool VisitGrid(const std::vector<ParameterSpace>& parameters, size_t next, std::vector<const std::string*>& chosen,
               const std::function<bool(const std::vector<const std::string*>&)>& visit) {
  if (next == parameters.size()) return visit(chosen);
  const ParameterSpace& p = parameters[next];
  const auto value_of = [&](const std::string& path) -> const std::string* {
    for (size_t i = 0; i < next; ++i)
      if (parameters[i].path == path) return chosen[i];
    return nullptr;
  };
  if (!Applies(p, value_of)) {
    chosen[next] = nullptr;
    return VisitGrid(parameters, next + 1, chosen, visit);
  }
  for (const std::string& value : p.values) {
    chosen[next] = &value;
    if (!VisitGrid(parameters, next + 1, chosen, visit)) return false;
  }
  return true;
}

}  // namespace

void ForEachGridPoint(const std::vector<ParameterSpace>& parameters,
                      const std::function<bool(const std::vector<const std::string*>&)>& visit) {
  std::vector<const std::string*> chosen(parameters.size(), nullptr);
  VisitGrid(parameters, 0, chosen, visit);
}

int64_t GridSize(const std::vector<ParameterSpace>& parameters) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t size = 1;
  bool conditional = false;
  for (const ParameterSpace& p : parameters) {
    conditional = conditional || !p.when.empty();
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
  if (!conditional) return size;
  // Conditions leave combinations out: count the rest by visiting them, up to a limit.
  int64_t count = 0;
  ForEachGridPoint(parameters, [&](const std::vector<const std::string*>&) { return ++count <= kMaxCountedGrid; });
  return count > kMaxCountedGrid ? kMax : count;
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
