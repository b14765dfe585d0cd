#include "coordinator/search/hyperband.h"

#include <algorithm>
#include <cmath>

#include "coordinator/search/trial_sampler.h"

namespace orchard::coordinator {

HyperbandSearch::HyperbandSearch(const SweepSpec& sweep)
    : parameters_(sweep.parameters),
      seed_(sweep.seed),
      eta_(sweep.reduction_factor),
      maximize_(sweep.mode == "max"),
      brackets_(Layout(sweep)) {
  for (size_t b = 0; b < brackets_.size(); ++b)
    for (int64_t i = 0; i < brackets_[b].trials; ++i) members_.push_back({b});
  progress_.resize(brackets_.size());
}

std::vector<HyperbandBracket> HyperbandSearch::Layout(const SweepSpec& sweep) {
  const std::vector<Bracket> pass =
      HyperbandBrackets(sweep.min_steps, sweep.max_steps, sweep.reduction_factor, kMaxHyperbandTrials);
  if (sweep.max_trials <= 0 && sweep.step_budget <= 0) return pass;
  const int64_t max_trials = sweep.max_trials > 0 ? sweep.max_trials : kMaxHyperbandTrials;
  std::vector<Bracket> brackets;
  int64_t next_trial = 0, planned_steps = 0;
  for (size_t i = 0; !pass.empty(); i = (i + 1) % pass.size()) {
    const int64_t steps = PlannedSteps(pass[i], sweep.reduction_factor);
    if (pass[i].trials > max_trials - next_trial) break;
    if (sweep.step_budget > 0 && steps > sweep.step_budget - planned_steps) break;
    brackets.push_back(pass[i]);
    brackets.back().first_trial = next_trial;
    next_trial += pass[i].trials;
    planned_steps += steps;
  }
  return brackets;
}

int64_t HyperbandSearch::PlannedTrials() const { return static_cast<int64_t>(members_.size()); }

int64_t HyperbandSearch::NextDecisionStep(int64_t trial, int64_t) const {
  if (trial < 0 || trial >= PlannedTrials() || members_[trial].phase != Phase::kRunning) return kNoDecision;
  const size_t rung = progress_[members_[trial].bracket].rung;
  const std::vector<int64_t>& milestones = brackets_[members_[trial].bracket].milestones;
  return rung + 1 < milestones.size() ? milestones[rung] : kNoDecision;  // the last rung runs to the end
}

bool HyperbandSearch::AllDone() const {
  return started_ && std::all_of(members_.begin(), members_.end(), [](const Member& m) { return m.phase == Phase::kDone; });
}

std::vector<SearchAction> HyperbandSearch::Handle(const SearchEvent& event) {
  const bool was_done = AllDone();
  std::vector<SearchAction> actions;
  if (std::holds_alternative<SweepStarted>(event)) {
    if (started_) return actions;
    started_ = true;
    for (int64_t i = 0; i < PlannedTrials(); ++i) actions.push_back(CreateTrial{i, RandomPoint(parameters_, seed_, i)});
  } else if (const auto* report = std::get_if<ValidationReported>(&event)) {
    if (report->trial < 0 || report->trial >= PlannedTrials()) return actions;
    Member& member = members_[report->trial];
    Progress& progress = progress_[member.bracket];
    const Bracket& bracket = brackets_[member.bracket];
    if (member.phase != Phase::kRunning || progress.rung + 1 >= bracket.milestones.size() ||
        report->step < bracket.milestones[progress.rung])
      return actions;  // between rungs, or on the last one, which runs to the end
    progress.values[report->trial] = maximize_ ? -report->value : report->value;
    const auto rung = static_cast<int64_t>(progress.rung);
    actions = MaybeHalve(member.bracket);
    if (actions.empty()) {  // others have yet to get here: wait without holding a slot
      member.phase = Phase::kPausing;
      actions.push_back(PauseTrial{report->trial, rung});
    }
  } else if (const auto* exited = std::get_if<TrialExited>(&event)) {
    if (exited->trial < 0 || exited->trial >= PlannedTrials()) return actions;
    actions = Exited(exited->trial, exited->kind);
  }
  if (!was_done && AllDone()) actions.push_back(FinishSweep{});
  return actions;
}

std::vector<SearchAction> HyperbandSearch::Exited(int64_t trial, TrialExited::Kind kind) {
  Member& member = members_[trial];
  if (kind == TrialExited::Kind::kPaused && member.phase == Phase::kStopping) {
    // Stopped while its pause was on the way (the coordinator turns that into a stop; a caller that
    // does not is told again): it ends here.
    member.phase = Phase::kDone;
    return {StopTrial{trial, static_cast<int64_t>(progress_[member.bracket].rung) - 1}};
  }
  if (kind == TrialExited::Kind::kPaused && member.phase != Phase::kDone) {
    if (member.phase == Phase::kPausing && !member.resume_when_paused) {
      member.phase = Phase::kPaused;
      return {};
    }
    // Promoted while pausing (or paused by no decision of ours): back to work.
    member.phase = Phase::kRunning;
    member.resume_when_paused = false;
    return {ResumeTrial{trial, -1, {}}};
  }
  if (member.phase == Phase::kDone) return {};
  member.phase = Phase::kDone;
  progress_[member.bracket].values.erase(trial);
  return MaybeHalve(member.bracket);  // it may have been the last one the rung waited for
}

std::vector<SearchAction> HyperbandSearch::MaybeHalve(size_t b) {
  Progress& progress = progress_[b];
  const Bracket& bracket = brackets_[b];
  std::vector<std::pair<double, int64_t>> ranked;
  for (int64_t t = bracket.first_trial; t < bracket.first_trial + bracket.trials; ++t) {
    const Phase phase = members_[t].phase;
    if (phase == Phase::kDone || phase == Phase::kStopping) continue;
    const auto value = progress.values.find(t);
    if (value == progress.values.end()) return {};  // still on its way to the rung
    ranked.emplace_back(value->second, t);
  }
  if (ranked.empty()) return {};
  std::sort(ranked.begin(), ranked.end());
  const auto kept = std::max<size_t>(1, static_cast<size_t>(std::floor(static_cast<double>(ranked.size()) / eta_)));
  const auto rung = static_cast<int64_t>(progress.rung);
  std::vector<SearchAction> actions;
  for (size_t i = 0; i < ranked.size(); ++i) {
    const int64_t trial = ranked[i].second;
    Member& member = members_[trial];
    if (i < kept) {
      actions.push_back(ContinueTrial{trial, rung});
      if (member.phase == Phase::kPaused) actions.push_back(ResumeTrial{trial, -1, {}});
      if (member.phase == Phase::kPausing) member.resume_when_paused = true;
      else member.phase = Phase::kRunning;
    } else {
      actions.push_back(StopTrial{trial, rung});
      // Done once it has exited as stopped: a running or pausing one when its trainer has gone, a
      // paused one at once (the coordinator ends it and says so).
      member.phase = Phase::kStopping;
    }
  }
  ++progress.rung;
  progress.values.clear();
  return actions;
}

nlohmann::json HyperbandSearch::Snapshot() const {
  nlohmann::json members = nlohmann::json::array();
  for (const Member& m : members_) members.push_back({static_cast<int>(m.phase), m.resume_when_paused});
  nlohmann::json progress = nlohmann::json::array();
  for (const Progress& p : progress_) {
    nlohmann::json values = nlohmann::json::array();
    for (const auto& [trial, value] : p.values) values.push_back({trial, value});
    progress.push_back({p.rung, values});
  }
  return {{"strategy", "hyperband"}, {"started", started_}, {"members", members}, {"progress", progress}};
}

Status HyperbandSearch::Restore(const nlohmann::json& snapshot) {
  try {
    if (snapshot.at("strategy") != "hyperband" || snapshot.at("members").size() != members_.size() ||
        snapshot.at("progress").size() != progress_.size())
      return InvalidArgument("hyperband search: the saved state does not belong to this sweep");
    started_ = snapshot.at("started").get<bool>();
    for (size_t i = 0; i < members_.size(); ++i) {
      const int phase = snapshot["members"][i].at(0).get<int>();
      if (phase < 0 || phase > static_cast<int>(Phase::kDone)) return InvalidArgument("hyperband search: a saved phase is damaged");
      members_[i].phase = static_cast<Phase>(phase);
      members_[i].resume_when_paused = snapshot["members"][i].at(1).get<bool>();
    }
    for (size_t b = 0; b < progress_.size(); ++b) {
      progress_[b].rung = snapshot["progress"][b].at(0).get<size_t>();
      progress_[b].values.clear();
      for (const auto& entry : snapshot["progress"][b].at(1))
        progress_[b].values[entry.at(0).get<int64_t>()] = entry.at(1).get<double>();
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("hyperband search: the saved state is damaged: ") + e.what());
  }
  return OkStatus();
}

}  // namespace orchard::coordinator
