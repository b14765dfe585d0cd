#include "coordinator/search/early_stopping.h"

#include <algorithm>
#include <cmath>

namespace orchard::coordinator {

int64_t AshaRule::Milestone(size_t rung) const {
  return static_cast<int64_t>(std::llround(static_cast<double>(min_steps_) * std::pow(eta_, static_cast<double>(rung))));
}

Verdict AshaRule::Report(int64_t trial, int64_t step, double loss) {
  Verdict verdict;
  // eta >= 2, so 62 rungs pass any step an int64 can hold.
  for (size_t k = 0; k < 62 && Milestone(k) <= step; ++k) {
    if (rungs_.size() <= k) rungs_.resize(k + 1);
    std::map<int64_t, double>& rung = rungs_[k];
    if (!rung.emplace(trial, loss).second) continue;  // recorded here by an earlier report
    const auto better = std::count_if(rung.begin(), rung.end(), [&](const auto& r) { return r.second < loss; });
    const auto kept = std::max<int64_t>(1, static_cast<int64_t>(std::floor(static_cast<double>(rung.size()) / eta_)));
    if (verdict.kind == Verdict::Kind::kStop) continue;  // judged at a lower rung already
    verdict.rung = static_cast<int64_t>(k);
    verdict.kind = better >= kept ? Verdict::Kind::kStop : Verdict::Kind::kContinue;
  }
  return verdict;
}

int64_t AshaRule::NextDecisionStep(int64_t reported_step) const {
  for (size_t k = 0; k < 62; ++k)
    if (Milestone(k) > reported_step) return Milestone(k);
  return kNoDecision;
}

nlohmann::json AshaRule::Snapshot() const {
  nlohmann::json rungs = nlohmann::json::array();
  for (const auto& rung : rungs_) {
    nlohmann::json values = nlohmann::json::array();
    for (const auto& [trial, loss] : rung) values.push_back({trial, loss});
    rungs.push_back(values);
  }
  return {{"rungs", rungs}};
}

Status AshaRule::Restore(const nlohmann::json& snapshot) {
  rungs_.clear();
  try {
    for (const auto& rung : snapshot.at("rungs")) {
      rungs_.emplace_back();
      for (const auto& entry : rung) rungs_.back()[entry.at(0).get<int64_t>()] = entry.at(1).get<double>();
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("asha: the saved rungs are damaged: ") + e.what());
  }
  return OkStatus();
}

Verdict MedianRule::Report(int64_t trial, int64_t step, double loss) {
  std::map<int64_t, double>& mine = best_[trial];
  const auto before = mine.lower_bound(step);
  double best = loss;
  if (before != mine.begin()) best = std::min(best, std::prev(before)->second);
  mine[step] = best;
  if (step < min_steps_) return {};
  std::vector<double> others;
  for (const auto& [other, history] : best_)
    if (other != trial)
      if (auto at = history.find(step); at != history.end()) others.push_back(at->second);
  if (static_cast<int64_t>(others.size()) < min_trials_) return {};
  std::sort(others.begin(), others.end());
  const size_t n = others.size();
  const double median = n % 2 ? others[n / 2] : (others[n / 2 - 1] + others[n / 2]) / 2;
  if (best > median) return {Verdict::Kind::kStop, -1};
  return {};
}

int64_t MedianRule::NextDecisionStep(int64_t reported_step) const {
  return reported_step == INT64_MAX ? kNoDecision : std::max(min_steps_, reported_step + 1);
}

nlohmann::json MedianRule::Snapshot() const {
  nlohmann::json best = nlohmann::json::array();
  for (const auto& [trial, history] : best_) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& [step, value] : history) steps.push_back({step, value});
    best.push_back({trial, steps});
  }
  return {{"best", best}};
}

Status MedianRule::Restore(const nlohmann::json& snapshot) {
  best_.clear();
  try {
    for (const auto& entry : snapshot.at("best"))
      for (const auto& point : entry.at(1))
        best_[entry.at(0).get<int64_t>()][point.at(0).get<int64_t>()] = point.at(1).get<double>();
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("median: the saved values are damaged: ") + e.what());
  }
  return OkStatus();
}

EarlyStoppingSearch::EarlyStoppingSearch(std::string name, std::unique_ptr<SearchStrategy> sampler,
                                         std::unique_ptr<StoppingRule> rule, std::string mode)
    : name_(std::move(name)), sampler_(std::move(sampler)), rule_(std::move(rule)), maximize_(mode == "max") {}

std::vector<SearchAction> EarlyStoppingSearch::Handle(const SearchEvent& event) {
  std::vector<SearchAction> actions = sampler_->Handle(event);
  const auto* report = std::get_if<ValidationReported>(&event);
  if (!report || stopped_.count(report->trial)) return actions;
  const Verdict verdict = rule_->Report(report->trial, report->step, maximize_ ? -report->value : report->value);
  if (verdict.kind == Verdict::Kind::kStop) {
    stopped_.insert(report->trial);
    actions.push_back(StopTrial{report->trial, verdict.rung});
  } else if (verdict.kind == Verdict::Kind::kContinue) {
    actions.push_back(ContinueTrial{report->trial, verdict.rung});
  }
  return actions;
}

int64_t EarlyStoppingSearch::NextDecisionStep(int64_t trial, int64_t reported_step) const {
  return stopped_.count(trial) ? kNoDecision : rule_->NextDecisionStep(reported_step);
}

nlohmann::json EarlyStoppingSearch::Snapshot() const {
  return {{"strategy", name_}, {"sampler", sampler_->Snapshot()}, {"rule", rule_->Snapshot()}, {"stopped", stopped_}};
}

Status EarlyStoppingSearch::Restore(const nlohmann::json& snapshot) {
  if (!snapshot.is_object() || snapshot.value("strategy", "") != name_ || !snapshot.contains("sampler") ||
      !snapshot.contains("rule"))
    return InvalidArgument(name_ + " search: the saved state does not belong to this sweep");
  RETURN_IF_ERROR(sampler_->Restore(snapshot["sampler"]));
  RETURN_IF_ERROR(rule_->Restore(snapshot["rule"]));
  stopped_ = snapshot.value("stopped", std::set<int64_t>{});
  return OkStatus();
}

}  // namespace orchard::coordinator
