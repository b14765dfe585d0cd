// The model registry's champion/challenger rule, pure: when a sweep with a model completes, does
// its best trial replace the champion?
//
//   PromotionVerdict verdict = JudgeChallenger({.metric = "val_accuracy", .mode = "max", .margin = 0.005,
//                                               .challenger = 0.981, .champion_version = 2, .champion = 0.975});
//   verdict.promote  // true: better by 0.006, more than the margin
//
// The challenger is promoted when there is no champion, or when it beats the champion's figure on
// the same validation data by strictly more than the margin in the metric's direction (a tie keeps
// the champion). Without that figure (the champion's evaluation failed, or the champion changed
// while the sweep ran) the champion stays: replacing a model in service needs evidence. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace orchard::coordinator {

struct Challenge {
  std::string metric;
  std::string mode;                 // "min" | "max"
  double margin = 0;                // >= 0
  double challenger = 0;            // the challenger's figure on the sweep's validation data
  int64_t champion_version = 0;     // 0: no champion
  std::optional<double> champion;   // the champion's figure on the same data, when it was evaluated
  std::string champion_unevaluated; // why there is no such figure, when there is a champion without one
};

struct PromotionVerdict {
  bool promote = false;
  std::string reason;  // for a person: "better by 0.006 (margin 0.005)"
};

PromotionVerdict JudgeChallenger(const Challenge& challenge);

}  // namespace orchard::coordinator
