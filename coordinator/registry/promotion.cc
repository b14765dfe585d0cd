#include "coordinator/registry/promotion.h"

#include <cmath>

#include "core/format.h"

namespace orchard::coordinator {

PromotionVerdict JudgeChallenger(const Challenge& c) {
  if (!std::isfinite(c.challenger))
    return {false, "the challenger's " + c.metric + " is " + FormatNumber(c.challenger) + ", not a number to compare"};
  if (c.champion_version == 0) return {true, "there was no champion yet"};
  const std::string champion = "v" + std::to_string(c.champion_version);
  if (!c.champion)
    return {false, champion + " stays: it has no " + c.metric + " on this sweep's data to compare with (" +
                       c.champion_unevaluated + ")"};
  const double improvement = c.mode == "max" ? c.challenger - *c.champion : *c.champion - c.challenger;
  const std::string direction = c.mode == "max" ? "higher" : "lower";
  const std::string margin = "margin " + FormatNumber(c.margin);
  if (improvement > c.margin)
    return {true, FormatNumber(improvement) + " " + direction + " than " + champion + ", more than the " + margin};
  if (improvement > 0)
    return {false, "only " + FormatNumber(improvement) + " " + direction + " than " + champion + ", not more than the " + margin};
  return {false, "not " + direction + " than " + champion + " (" + margin + ")"};
}

}  // namespace orchard::coordinator
