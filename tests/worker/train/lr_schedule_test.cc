#include "worker/train/lr_schedule.h"

#include <gtest/gtest.h>

namespace orchard::train {
namespace {

ScheduleSpec Schedule(const std::string& type, int64_t warmup) {
  ScheduleSpec s;
  s.type = type;
  s.warmup_steps = warmup;
  return s;
}

TEST(LrScheduleTest, TableOfSchedules) {
  struct Case { ScheduleSpec s; int64_t step; double expected; };
  ScheduleSpec step_decay = Schedule("step", 0);
  step_decay.step_size = 10;
  step_decay.gamma = 0.5;
  ScheduleSpec cosine_floor = Schedule("cosine", 0);
  cosine_floor.min_lr_ratio = 0.1;
  for (const Case& c : std::vector<Case>{
           {Schedule("constant", 0), 0, 1.0},
           {Schedule("constant", 0), 99, 1.0},
           {Schedule("constant", 4), 0, 0.25},   // warmup ramps up linearly...
           {Schedule("constant", 4), 3, 1.0},    // ...and reaches the base at its end
           {Schedule("linear", 0), 50, 0.5},
           {Schedule("linear", 0), 100, 0.0},
           {Schedule("cosine", 0), 0, 1.0},
           {Schedule("cosine", 0), 50, 0.5},
           {Schedule("cosine", 0), 100, 0.0},
           {cosine_floor, 100, 0.1},
           {Schedule("cosine", 10), 10, 1.0},    // decay starts after warmup
           {step_decay, 9, 1.0},
           {step_decay, 10, 0.5},
           {step_decay, 25, 0.25},
       }) {
    EXPECT_NEAR(LearningRate(c.s, 1.0, c.step, 100), c.expected, 1e-12) << c.s.type << " step " << c.step;
  }
}

}  // namespace
}  // namespace orchard::train
