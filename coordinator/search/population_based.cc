#include "coordinator/search/population_based.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "coordinator/search/trial_sampler.h"

namespace orchard::coordinator {
namespace {

// Explorations draw from streams of their own, apart from the initial population's.
constexpr uint64_t kExploreStream = 0x7062742d;

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
    const bool resample = Unit(rng) < resample_probability || current == nullptr;
    const bool up = Unit(rng) < 0.5;
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
    if (member.phase != Phase::kRunning || report->step <= member.resumed_at) return actions;
    member.has_value = true;
    member.value = maximize_ ? -report->value : report->value;
    member.step = report->step;
    // A report at the last step ends the member anyway: nothing left to exploit for.
    const bool last = max_steps_ > 0 && report->step >= max_steps_;
    if (report->step >= member.judged_at && !last) {
      member.judged_at = report->step > INT64_MAX - interval_ ? INT64_MAX : report->step + interval_;
      actions = Judge(report->trial);
    }
  } else if (const auto* exited = std::get_if<TrialExited>(&event)) {
    if (exited->trial < 0 || exited->trial >= PlannedTrials()) return actions;
    Member& member = members_[exited->trial];
    if (exited->kind == TrialExited::Kind::kPaused) {
      actions = member.phase == Phase::kPausing ? Exploit(exited->trial)
                                                : std::vector<SearchAction>{ResumeTrial{exited->trial, -1, {}}};
      member.phase = Phase::kRunning;
    } else {
      const bool succeeded = exited->kind == TrialExited::Kind::kCompleted || exited->kind == TrialExited::Kind::kStopped;
      member.phase = succeeded ? Phase::kDone : Phase::kFailed;  // a finished member stays in the ranking
    }
  }
  if (!was_over && over()) actions.push_back(FinishSweep{});
  return actions;
}

int64_t PopulationBasedSearch::NextDecisionStep(int64_t trial, int64_t) const {
  if (trial < 0 || trial >= PlannedTrials() || members_[trial].phase != Phase::kRunning) return kNoDecision;
  const int64_t next = members_[trial].judged_at;
  return max_steps_ > 0 && next >= max_steps_ ? kNoDecision : next;
}

std::vector<int64_t> PopulationBasedSearch::Ranked() const {
  std::vector<std::pair<double, int64_t>> ranked;
  for (int64_t i = 0; i < PlannedTrials(); ++i)
    if (members_[i].has_value && members_[i].phase != Phase::kFailed) ranked.emplace_back(members_[i].value, i);
  std::sort(ranked.begin(), ranked.end());
  std::vector<int64_t> trials;
  for (const auto& [value, trial] : ranked) trials.push_back(trial);
  return trials;
}

int64_t PopulationBasedSearch::QuantileSize(size_t ranked) const {
  return static_cast<int64_t>(std::floor(static_cast<double>(ranked) * quantile_));
}

std::vector<SearchAction> PopulationBasedSearch::Judge(int64_t trial) {
  const std::vector<int64_t> ranked = Ranked();
  const int64_t quantile = QuantileSize(ranked.size());
  const auto position = std::find(ranked.begin(), ranked.end(), trial) - ranked.begin();
  if (quantile < 1 || position < static_cast<int64_t>(ranked.size()) - quantile) return {ContinueTrial{trial}};
  members_[trial].phase = Phase::kPausing;
  return {PauseTrial{trial}};
}

std::vector<SearchAction> PopulationBasedSearch::Exploit(int64_t trial) {
  // The parent is chosen now, not when the member was judged: by the time its trainer is gone the
  // one judged best then may have failed, finished or taken over another's checkpoint itself.
  // Only members still training qualify: copying a finished one would end the copy at once.
  const std::vector<int64_t> ranked = Ranked();
  std::vector<int64_t> parents;
  for (int64_t i = 0; i < QuantileSize(ranked.size()); ++i)
    if (ranked[i] != trial && members_[ranked[i]].phase == Phase::kRunning) parents.push_back(ranked[i]);
  if (parents.empty()) return {ResumeTrial{trial, -1, {}}};
  std::mt19937_64 rng = DrawGenerator(seed_, explorations_++, kExploreStream);
  const int64_t parent = parents[static_cast<size_t>(Unit(rng) * static_cast<double>(parents.size()))];
  Member& member = members_[trial];
  const Member& from = members_[parent];
  member.hyperparameters = PerturbHyperparameters(parameters_, from.hyperparameters, resample_probability_, rng);
  // It carries the parent's state now: its value, and its next judgement an interval after that step.
  member.value = from.value;
  member.step = from.step;
  member.resumed_at = from.step;
  member.judged_at = from.step > INT64_MAX - interval_ ? INT64_MAX : from.step + interval_;
  return {ResumeTrial{trial, parent, member.hyperparameters}};
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
                       {"resumed_at", m.resumed_at}});
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
      m.resumed_at = saved.at("resumed_at").get<int64_t>();
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("pbt search: the saved state is damaged: ") + e.what());
  }
  return OkStatus();
}

}  // namespace orchard::coordinator
