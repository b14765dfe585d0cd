#include "coordinator/event_text.h"

#include "coordinator/store/store.h"
#include "core/format.h"

namespace orchard::coordinator {

std::string TrialName(int64_t number) {
  return number == kChampionEvaluationTrial ? "the champion's evaluation" : "trial " + std::to_string(number);
}

std::string Describe(const v1::Trial& trial, const std::string& metric) {
  std::string text = TrialName(trial.number());
  if (trial.has_objective()) text += " (" + metric + " " + FormatNumber(trial.objective()) + ")";
  return text;
}

}  // namespace orchard::coordinator
