#include "worker/train/step_tally.h"

#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

namespace orchard::train {

namespace {
constexpr auto kVerdictBytes = static_cast<int64_t>(sizeof(kernels::StepVerdict));
}  // namespace

torch::Tensor StepTally::VerdictMemory(const torch::Device& device, int64_t count) {
  return torch::zeros({count * kVerdictBytes}, torch::TensorOptions().dtype(torch::kUInt8).device(device));
}

torch::Tensor StepTally::VerdictAt(const torch::Tensor& memory, int64_t index) {
  return memory.narrow(0, index * kVerdictBytes, kVerdictBytes);
}

StepTally::StepTally(torch::Tensor verdict, RankGathering& gathering) : verdict_(std::move(verdict)), gathering_(gathering) {}

kernels::StepVerdict* StepTally::verdict() { return reinterpret_cast<kernels::StepVerdict*>(verdict_.data_ptr()); }

Divergence StepTally::DivergenceOf(const Reading& reading, int64_t step) {
  if (reading.diverged_at > 0) return {reading.diverged_at, reading.diverged_loss, reading.diverged_norm, reading.diverged_at - 1};
  return {step, reading.loss_sum / static_cast<double>(reading.steps), reading.last_norm, step};
}

StatusOr<StepTally::Reading> StepTally::Read(int64_t step, bool stop_requested) {
  kernels::StepVerdict v;
  const torch::Tensor on_host = verdict_.to(torch::kCPU);
  std::memcpy(&v, on_host.data_ptr(), sizeof v);
  verdict_.zero_();
  const int ranks = gathering_.ranks(), rank = gathering_.rank();
  std::vector<double> shared = {v.loss_sum, stop_requested ? 1.0 : 0.0, v.skip != 0 ? 1.0 : 0.0};
  RETURN_IF_ERROR(gathering_.SumOverRanks(&shared));
  Reading reading;
  reading.steps = v.steps;
  reading.loss_sum = shared[0] / ranks;
  reading.last_norm = v.last_norm;
  reading.stop = shared[1] > 0;
  reading.diverged = shared[2] > 0 || !std::isfinite(reading.loss_sum);
  if (shared[2] > 0) {
    // Each rank's first non-finite step (its own loss may be the only one that was), gathered as a
    // sum of one entry per rank: every rank ends at the earliest, with that rank's figures.
    const int64_t mine = v.first_nonfinite > 0 ? step - v.steps + v.first_nonfinite : 0;
    std::vector<double> firsts(3 * static_cast<size_t>(ranks), 0.0);
    firsts[3 * rank] = static_cast<double>(mine), firsts[3 * rank + 1] = v.nonfinite_loss;
    firsts[3 * rank + 2] = v.nonfinite_norm;
    RETURN_IF_ERROR(gathering_.SumOverRanks(&firsts));
    for (int r = 0; r < ranks; ++r) {
      const auto at = static_cast<int64_t>(firsts[3 * r]);
      if (at > 0 && (reading.diverged_at == 0 || at < reading.diverged_at))
        reading.diverged_at = at, reading.diverged_loss = firsts[3 * r + 1], reading.diverged_norm = firsts[3 * r + 2];
    }
  }
  return reading;
}

}  // namespace orchard::train
