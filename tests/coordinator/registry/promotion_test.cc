// The champion/challenger rule, table-driven.
#include "coordinator/registry/promotion.h"

#include <gtest/gtest.h>

#include <cmath>

namespace orchard::coordinator {
namespace {

struct Case {
  const char* name;
  Challenge challenge;
  bool promote;
  const char* reason_has;
};

TEST(JudgeChallenger, PromotesOnlyWhatBeatsTheChampionByMoreThanTheMarginInTheMetricsDirection) {
  const Case cases[] = {
      {"no champion", {"val_accuracy", "max", 0.01, 0.5, 0, std::nullopt, ""}, true, "no champion"},
      {"max: better by more than the margin", {"val_accuracy", "max", 0.005, 0.981, 2, 0.975, ""}, true, "more than the margin"},
      {"max: better by less than the margin", {"val_accuracy", "max", 0.01, 0.981, 2, 0.975, ""}, false, "only"},
      {"max: better by exactly the margin", {"val_accuracy", "max", 0.25, 1.0, 2, 0.75, ""}, false, "not more than"},
      {"max: a tie", {"val_accuracy", "max", 0, 0.9, 2, 0.9, ""}, false, "not higher"},
      {"max: worse", {"val_accuracy", "max", 0, 0.8, 2, 0.9, ""}, false, "not higher"},
      {"max: better, no margin", {"val_accuracy", "max", 0, 0.91, 2, 0.9, ""}, true, "higher than v2"},
      {"min: lower by more than the margin", {"val_loss", "min", 0.05, 0.30, 4, 0.40, ""}, true, "lower than v4"},
      {"min: lower by less than the margin", {"val_loss", "min", 0.2, 0.30, 4, 0.40, ""}, false, "only"},
      {"min: higher", {"val_loss", "min", 0, 0.50, 4, 0.40, ""}, false, "not lower"},
      {"champion not evaluated", {"val_loss", "min", 0, 0.01, 4, std::nullopt, "its evaluation failed"}, false,
       "its evaluation failed"},
      {"challenger not a number", {"val_loss", "min", 0, std::nan(""), 0, std::nullopt, ""}, false, "not a number"},
  };
  for (const Case& c : cases) {
    const PromotionVerdict verdict = JudgeChallenger(c.challenge);
    EXPECT_EQ(verdict.promote, c.promote) << c.name << ": " << verdict.reason;
    EXPECT_NE(verdict.reason.find(c.reason_has), std::string::npos) << c.name << ": " << verdict.reason;
  }
}

}  // namespace
}  // namespace orchard::coordinator
