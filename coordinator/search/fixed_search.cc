#include "coordinator/search/fixed_search.h"

namespace orchard::coordinator {

FixedSearch::FixedSearch(std::string name, int64_t trials,
                         std::function<std::vector<Hyperparameter>(int64_t)> point)
    : name_(std::move(name)), trials_(trials), point_(std::move(point)), exited_(trials, false) {}

std::vector<SearchAction> FixedSearch::Handle(const SearchEvent& event) {
  std::vector<SearchAction> actions;
  if (std::holds_alternative<SweepStarted>(event)) {
    if (started_) return actions;
    started_ = true;
    for (int64_t i = 0; i < trials_; ++i) actions.push_back(CreateTrial{i, point_(i)});
    if (trials_ == 0) actions.push_back(FinishSweep{});
  } else if (const auto* exited = std::get_if<TrialExited>(&event)) {
    if (exited->kind == TrialExited::Kind::kPaused || exited->trial < 0 || exited->trial >= trials_ ||
        exited_[exited->trial])
      return actions;
    exited_[exited->trial] = true;
    if (++exited_count_ == trials_) actions.push_back(FinishSweep{});
  }
  return actions;  // validation reports never stop a trial here
}

nlohmann::json FixedSearch::Snapshot() const {
  std::vector<int64_t> exited;
  for (int64_t i = 0; i < trials_; ++i)
    if (exited_[i]) exited.push_back(i);
  return {{"strategy", name_}, {"trials", trials_}, {"started", started_}, {"exited", exited}};
}

Status FixedSearch::Restore(const nlohmann::json& snapshot) {
  if (!snapshot.is_object() || snapshot.value("strategy", "") != name_ ||
      snapshot.value("trials", int64_t{-1}) != trials_ || !snapshot.contains("exited") ||
      !snapshot["exited"].is_array())
    return InvalidArgument(name_ + " search: the saved state " + snapshot.dump() +
                                " does not belong to this sweep");
  started_ = snapshot.value("started", false);
  for (const auto& index : snapshot["exited"]) {
    const int64_t i = index.is_number_integer() ? index.get<int64_t>() : -1;
    if (i < 0 || i >= trials_) return InvalidArgument(name_ + " search: saved trial " + index.dump() + " is out of range");
    if (!exited_[i]) ++exited_count_;
    exited_[i] = true;
  }
  return OkStatus();
}

}  // namespace orchard::coordinator
