// The wording of a sweep's events about its trials (what `orchard watch` shows).
#pragma once

#include <cstdint>
#include <string>

#include "orchard/v1/types.pb.h"

namespace orchard::coordinator {

// "trial 3", or what the registry's extra trial is.
std::string TrialName(int64_t number);
// "trial 3 (val_loss 0.25)": its name with its objective, when it has one.
std::string Describe(const v1::Trial& trial, const std::string& metric);

}  // namespace orchard::coordinator
