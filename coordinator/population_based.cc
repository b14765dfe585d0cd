#include "coordinator/population_based.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "coordinator/trial_sampler.h"

namespace orchard::coordinator {
namespace {

// Explorations draw from streams of their own, apart from the initial population's.
constexpr int64_t kExploreStream = 0x7062742d;

const std::string* ValueOf(const std::vector<Hyperparameter>& point, const std::string& path) {
  for (const Hyperparameter& h : point)
    if (h.path == path) return &h.value;
  return nullptr;
}

std::string Perturb(const ParameterSpace& p, const std::string& current, bool up) {
  switch (p.kind) {
    case ParameterSpace::Kind::kConstant:
      return current;
    case ParameterSpace::Kind::kValues: {
      const auto at = std::find(p.values.begin(), p.values.end(), current);
      const int64_t index = at == p.values.end() ? 0 : at - p.values.begin();
      const int64_t moved = std::clamp<int64_t>(index + (up ? 1 : -1), 0, static_cast<int64_t>(p.values.size()) - 1);
      return p.values[static_cast<size_t>(moved)];
    }
    case ParameterSpace::Kind::kUniform:
    case ParameterSpace::Kind::kLogUniform:
      return FormatDouble(std::clamp(std::strtod(current.c_str(), nullptr) * (up ? 1.2 : 0.8), p.min, p.max));
    case ParameterSpace::Kind::kIntUniform: {
      const int64_t value = std::strtoll(current.c_str(), nullptr, 10);
      int64_t moved = std::llround(static_cast<double>(value) * (up ? 1.2 : 0.8));
      if (moved == value) moved += up ? 1 : -1;  // small integers would never move by a factor
      return std::to_string(std::clamp(moved, static_cast<int64_t>(std::ceil(p.min)), static_cast<int64_t>(std::floor(p.max))));
    }
  }
  return current;
}

}  // namespace

std::vector<Hyperparameter> PerturbHyperparameters(const std::vector<ParameterSpace>& parameters,
                                                   const std::vector<Hyperparameter>& from, double resample_probability,
                                                   std::mt19937_64& rng) {
  std::vector<Hyperparameter> next;
  for (const ParameterSpace& p : parameters) {
    const std::string* current = ValueOf(from, p.path);
    const bool resample = UnitDraw(rng) < resample_probability || current == nullptr;
    const bool up = UnitDraw(rng) < 0.5;
    next.push_back({p.path, resample ? DrawValue(p, rng) : Perturb(p, *current, up)});
  }
  return next;
}

PopulationBasedSearch::PopulationBasedSearch(const SweepSpec& sweep)
    : parameters_(sweep.parameters),
      seed_(sweep.seed),
      interval_(sweep.pbt_interval),
      max_steps_(sweep.max_steps),
      quantile_(sweep.pbt_quantile),
      resample_probability_(sweep.pbt_resample_probability),
      maximize_(sweep.mode == "max"),
      members_(static_cast<size_t>(sweep.max_trials)) {}

std::vector<SearchAction> PopulationBasedSearch::Handle(const SearchEvent& event) {
  const auto over = [this] {
    return started_ && std::all_of(members_.begin(), members_.end(), [](const Member& m) {
             return m.phase == Phase::kDone || m.phase == Phase::kFailed;
           });
  };
  const bool was_over = over();
  std::vector<SearchAction> actions;
  if (std::holds_alternative<SweepStarted>(event)) {
    if (started_) return actions;
    started_ = true;
    for (int64_t i = 0; i < PlannedTrials(); ++i) {
      Member& member = members_[i];
      member.hyperparameters = RandomPoint(parameters_, seed_, i);
      member.judged_at = interval_;
      actions.push_back(CreateTrial{i, member.hyperparameters});
    }
  } else if (const auto* report = std::get_if<ValidationReported>(&event)) {
    if (report->trial < 0 || report->trial >= PlannedTrials()) return actions;
    Member& member = members_[report->trial];
    if (member.phase != Phase::kRunning) return actions;
    member.has_value = true;
    member.value = maximize_ ? -report->value : report->value;
    member.step = report->step;
    // A report at the last step ends the member anyway: nothing left to exploit for.
    const bool last = max_steps_ > 0 && report->step >= max_steps_;
    if (report->step >= member.judged_at && !last) {
      member.judged_at = report->step + interval_;
      actions = Judge(report->trial);
    }
  } else if (const auto* exited = std::get_if<TrialExited>(&event)) {
    if (exited->trial < 0 || exited->trial >= PlannedTrials()) return actions;
    Member& member = members_[exited->trial];
    if (exited->kind == TrialExited::Kind::kPaused) {
      if (member.phase == Phase::kPausing) {
        // It now carries the parent's state: judge it again an interval after the parent's step.
        const Member& parent = members_[member.parent];
        member.hyperparameters = member.next;
        member.value = parent.value;
        member.step = parent.step;
        member.judged_at = parent.step + interval_;
        actions.push_back(ResumeTrial{exited->trial, member.parent, member.next});
        member.parent = -1;
        member.next.clear();
      } else {
        actions.push_back(ResumeTrial{exited->trial, -1, {}});
      }
      member.phase = Phase::kRunning;
    } else {
      const bool succeeded = exited->kind == TrialExited::Kind::kCompleted || exited->kind == TrialExited::Kind::kStopped;
      member.phase = succeeded ? Phase::kDone : Phase::kFailed;  // a finished member stays a possible parent
    }
  }
  if (!was_over && over()) actions.push_back(FinishSweep{});
  return actions;
}

std::vector<SearchAction> PopulationBasedSearch::Judge(int64_t trial) {
  std::vector<std::pair<double, int64_t>> ranked;
  for (int64_t i = 0; i < PlannedTrials(); ++i)
    if (members_[i].has_value && members_[i].phase != Phase::kFailed) ranked.emplace_back(members_[i].value, i);
  std::sort(ranked.begin(), ranked.end());
  const auto n = static_cast<int64_t>(ranked.size());
  const auto quantile = static_cast<int64_t>(std::floor(static_cast<double>(n) * quantile_));
  const auto position = std::find_if(ranked.begin(), ranked.end(), [&](const auto& r) { return r.second == trial; }) - ranked.begin();
  if (quantile < 1 || position < n - quantile) return {ContinueTrial{trial}};
  // Only members still training are parents: a pausing one is about to be overwritten itself, and
  // copying a finished one would only end the copy at once with the same model.
  std::vector<int64_t> parents;
  for (int64_t i = 0; i < quantile; ++i)
    if (members_[ranked[i].second].phase == Phase::kRunning) parents.push_back(ranked[i].second);
  if (parents.empty()) return {ContinueTrial{trial}};
  std::mt19937_64 rng = DrawStream(seed_ ^ kExploreStream, explorations_++);
  Member& member = members_[trial];
  member.parent = parents[static_cast<size_t>(UnitDraw(rng) * static_cast<double>(parents.size()))];
  member.next = PerturbHyperparameters(parameters_, members_[member.parent].hyperparameters, resample_probability_, rng);
  member.phase = Phase::kPausing;
  return {PauseTrial{trial}};
}

nlohmann::json PopulationBasedSearch::Snapshot() const {
  nlohmann::json members = nlohmann::json::array();
  const auto pairs = [](const std::vector<Hyperparameter>& point) {
    nlohmann::json json = nlohmann::json::array();
    for (const Hyperparameter& h : point) json.push_back({h.path, h.value});
    return json;
  };
  for (const Member& m : members_)
    members.push_back({{"hyperparameters", pairs(m.hyperparameters)}, {"phase", static_cast<int>(m.phase)},
                       {"has_value", m.has_value}, {"value", m.value}, {"step", m.step}, {"judged_at", m.judged_at},
                       {"parent", m.parent}, {"next", pairs(m.next)}});
  return {{"strategy", "pbt"}, {"started", started_}, {"explorations", explorations_}, {"members", members}};
}

Status PopulationBasedSearch::Restore(const nlohmann::json& snapshot) {
  const auto point = [](const nlohmann::json& json) {
    std::vector<Hyperparameter> result;
    for (const auto& pair : json) result.push_back({pair.at(0).get<std::string>(), pair.at(1).get<std::string>()});
    return result;
  };
  try {
    if (snapshot.at("strategy") != "pbt" || snapshot.at("members").size() != members_.size())
      return InvalidArgument("pbt search: the saved state does not belong to this sweep");
    started_ = snapshot.at("started").get<bool>();
    explorations_ = snapshot.at("explorations").get<int64_t>();
    for (size_t i = 0; i < members_.size(); ++i) {
      const nlohmann::json& saved = snapshot["members"][i];
      Member& m = members_[i];
      const int phase = saved.at("phase").get<int>();
      if (phase < 0 || phase > static_cast<int>(Phase::kFailed)) return InvalidArgument("pbt search: a saved phase is damaged");
      m.phase = static_cast<Phase>(phase);
      m.hyperparameters = point(saved.at("hyperparameters"));
      m.has_value = saved.at("has_value").get<bool>();
      m.value = saved.at("value").get<double>();
      m.step = saved.at("step").get<int64_t>();
      m.judged_at = saved.at("judged_at").get<int64_t>();
      m.parent = saved.at("parent").get<int64_t>();
      m.next = point(saved.at("next"));
      if (m.parent >= static_cast<int64_t>(members_.size())) return InvalidArgument("pbt search: a saved parent is out of range");
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("pbt search: the saved state is damaged: ") + e.what());
  }
  return OkStatus();
}

}  // namespace orchard::coordinator
