// Learning-rate schedules: linear warmup, then constant, linear or cosine decay, or step decay.
// Pure functions of the step, so a resumed run continues the exact schedule.
#pragma once

#include <cstdint>

#include "core/recipe.h"

namespace orchard::train {

// The learning rate of optimizer step `step` (0-based) of a run of `total_steps`.
double LearningRate(const ScheduleSpec& schedule, double base_lr, int64_t step, int64_t total_steps);

}  // namespace orchard::train
