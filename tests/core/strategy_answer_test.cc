// The strategy's answer to a waiting trainer: its JSON, and text that is not one.
#include "core/strategy_answer.h"

#include <gtest/gtest.h>

namespace orchard {
namespace {

TEST(StrategyAnswer, ReadsBackWhatItWritesForEveryDecision) {
  for (const auto decision : {StrategyAnswer::Decision::kContinue, StrategyAnswer::Decision::kStop,
                              StrategyAnswer::Decision::kPause}) {
    const StrategyAnswer answer{.attempt = 3, .step = 40, .decision = decision, .next_step = 120};
    const StatusOr<StrategyAnswer> back = ParseStrategyAnswer(StrategyAnswerJson(answer));
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, answer) << DecisionName(decision);
  }
}

TEST(StrategyAnswer, TheFirstAnswerNamesNoStepJudgedYet) {
  const StrategyAnswer first{.attempt = 1, .next_step = 100};
  EXPECT_EQ(StrategyAnswerJson(first), R"({"attempt":1,"decision":"continue","next_step":100,"step":-1})");
}

TEST(StrategyAnswer, TextThatIsNotAnAnswerIsRefusedWithWhatIsWrong) {
  for (const std::string text : {"", "{\"attempt\": 1", "[]", R"({"attempt": 1, "step": 2, "decision": "continue"})",
                                 R"({"attempt": "1", "step": 2, "decision": "continue", "next_step": 3})",
                                 R"({"attempt": 1, "step": 2.5, "decision": "continue", "next_step": 3})"}) {
    const StatusOr<StrategyAnswer> parsed = ParseStrategyAnswer(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_NE(parsed.status().message().find("not a strategy answer"), std::string::npos) << parsed.status().message();
  }
  const StatusOr<StrategyAnswer> unknown =
      ParseStrategyAnswer(R"({"attempt": 1, "step": 2, "decision": "promote", "next_step": 3})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("continue, stop or pause, not 'promote'"), std::string::npos)
      << unknown.status().message();
}

}  // namespace
}  // namespace orchard
