// The API's state enums as the lowercase words the store keeps and people read ("running").
#pragma once

#include <string>

#include "orchard/v1/types.pb.h"

namespace orchard::v1 {

std::string TrialStateName(TrialState state);  // "unknown" for an unset value
std::string SweepStateName(SweepState state);
// The inverse; *_STATE_UNSPECIFIED for a word that names no state.
TrialState TrialStateFromName(const std::string& name);
SweepState SweepStateFromName(const std::string& name);

}  // namespace orchard::v1
