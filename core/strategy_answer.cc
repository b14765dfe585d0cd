#include "core/strategy_answer.h"

#include <nlohmann/json.hpp>

namespace orchard {

std::string DecisionName(StrategyAnswer::Decision decision) {
  switch (decision) {
    case StrategyAnswer::Decision::kContinue: return "continue";
    case StrategyAnswer::Decision::kStop: return "stop";
    case StrategyAnswer::Decision::kPause: return "pause";
  }
  return "continue";
}

std::string StrategyAnswerJson(const StrategyAnswer& answer) {
  return nlohmann::json{{"attempt", answer.attempt},
                        {"step", answer.step},
                        {"decision", DecisionName(answer.decision)},
                        {"next_step", answer.next_step}}
      .dump();
}

StatusOr<StrategyAnswer> ParseStrategyAnswer(const std::string& text) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const auto is_integer = [&](const char* key) { return json.is_object() && json.contains(key) && json[key].is_number_integer(); };
  if (!is_integer("attempt") || !is_integer("step") || !is_integer("next_step") || !json.contains("decision") ||
      !json["decision"].is_string())
    return InvalidArgument("not a strategy answer (expected attempt, step, decision and next_step): " + text.substr(0, 200));
  StrategyAnswer answer;
  answer.attempt = json["attempt"].get<int64_t>();
  answer.step = json["step"].get<int64_t>();
  answer.next_step = json["next_step"].get<int64_t>();
  const std::string decision = json["decision"].get<std::string>();
  if (decision == "stop") {
    answer.decision = StrategyAnswer::Decision::kStop;
  } else if (decision == "pause") {
    answer.decision = StrategyAnswer::Decision::kPause;
  } else if (decision != "continue") {
    return InvalidArgument("a strategy answer's decision is continue, stop or pause, not '" + decision + "'");
  }
  return answer;
}

}  // namespace orchard
