// The training step's verdict (kernels::StepVerdict) in the memory of the run's device, and what the
// host reads from it when it looks (includes torch: used by trainer.cc).
//
//   StepTally tally(StepTally::VerdictMemory(device, 1), gathering);
//   // every step, queued without waiting:
//   RETURN_IF_ERROR(kernels::JudgeGradients({{grads, clip}}, loss, kernel_device, tally.verdict(), stream));
//   RETURN_IF_ERROR(optimizer->Step(lr, tally.verdict()));
//   // at a log interval, on every rank:
//   ASSIGN_OR_RETURN(StepTally::Reading reading, tally.Read(step, stop_requested));
//
// Read is a collective (RankGathering): every rank calls it at the same steps. Not thread-safe.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "core/status.h"
#include "kernels/kernels.h"
#include "worker/train/rank_gathering.h"

namespace orchard::train {

// Where a run whose reading says it diverged ends: at the first step that was not finite (the
// optimizer skipped it and every later one, so the model is the one of the step before), or, when only
// the mean loss overflowed with every step finite, at `step`, the latest.
struct Divergence {
  int64_t step = 0;        // the step named in the message
  double loss = 0, norm = 0;
  int64_t steps_kept = 0;  // the optimizer steps the model holds
};

class StepTally {
 public:
  // The steps since the host last looked, as every rank agrees on them.
  struct Reading {
    int64_t steps = 0;
    double loss_sum = 0;          // the steps' losses, each the mean over the ranks
    double last_norm = 0;
    bool stop = false;            // some rank was asked to stop
    bool diverged = false;        // some rank saw a loss or gradient that was not finite
    int64_t diverged_at = 0;      // the first such step of any rank (0 when only the mean loss was)
    double diverged_loss = 0;     // that step's loss and gradient norm, on the rank that saw it
    double diverged_norm = 0;
  };

  // Zeroed memory for `count` verdicts on `device`, one after another: the kernels take the verdicts
  // of a fused group's members as one array.
  static torch::Tensor VerdictMemory(const torch::Device& device, int64_t count);
  // Verdict `index` of such memory.
  static torch::Tensor VerdictAt(const torch::Tensor& memory, int64_t index);

  // Tallies the verdict in `verdict` (VerdictMemory for one, or VerdictAt); `gathering` must outlive this.
  StepTally(torch::Tensor verdict, RankGathering& gathering);

  // Where the kernels write and read this step's verdict (the device's memory).
  kernels::StepVerdict* verdict();

  // Waits for the queued steps, reads the verdict's tallies, zeroes them, and agrees with the other
  // ranks on the losses, on stopping and on divergence: one small collective, and after a divergence
  // one more to agree on its step. `step` counts the steps taken, the latest judged one included.
  StatusOr<Reading> Read(int64_t step, bool stop_requested);

  static Divergence DivergenceOf(const Reading& reading, int64_t step);

 private:
  torch::Tensor verdict_;
  RankGathering& gathering_;
};

}  // namespace orchard::train
