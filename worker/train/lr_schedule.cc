#include "worker/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace orchard::train {

double LearningRate(const ScheduleSpec& s, double base_lr, int64_t step, int64_t total_steps) {
  if (step < s.warmup_steps) {
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  }
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - s.warmup_steps);
  const double progress =
      std::clamp(static_cast<double>(step - s.warmup_steps) / static_cast<double>(decay_steps), 0.0, 1.0);
  const double floor = base_lr * s.min_lr_ratio;
  if (s.type == "linear") return floor + (base_lr - floor) * (1.0 - progress);
  if (s.type == "cosine") {
    return floor + (base_lr - floor) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  }
  if (s.type == "step") {
    return base_lr * std::pow(s.gamma, static_cast<double>((step - s.warmup_steps) / s.step_size));
  }
  return base_lr;
}

}  // namespace orchard::train
