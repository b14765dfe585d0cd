// The training runtime's optimizer: Orchard's fused multi-tensor kernels (optimizer.impl: fused, the
// default) or LibTorch's torch::optim (impl: torch), behind one interface.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> opt, MakeOptimizer(recipe.optimizer, model->Parameters()));
//   loss.backward();
//   RETURN_IF_ERROR(kernels::JudgeGradients({{grads, clip}}, loss_ptr, device, verdict, KernelStream(device)));
//   RETURN_IF_ERROR(opt->Step(lr, verdict));
//
// Both implementations save the same state layout (step, and per parameter exp_avg / exp_avg_sq or
// momentum_buffer, and master weights for bf16 parameters), so a checkpoint written with one resumes
// with the other. Thread-compatible.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"
#include "kernels/kernels.h"

namespace orchard::train {

// Where Orchard's kernels queue work on `device`: LibTorch's current stream there, so they keep order
// with the model's own work; nullptr (ignored) on the CPU.
kernels::Stream KernelStream(const torch::Device& device);

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // One step of every parameter that has a gradient, at learning rate `lr`, following `verdict` (in
  // the parameters' memory; kernels::JudgeGradients wrote it): every gradient is first multiplied by
  // its clip scale, and nothing changes when it says skip. nullptr: scale 1, no skip. The fused
  // implementation queues the step without waiting for the device; torch's reads the verdict first.
  virtual Status Step(double lr, const kernels::StepVerdict* verdict) = 0;

  // Steps taken so far.
  virtual int64_t steps() const = 0;

  virtual void Save(torch::serialize::OutputArchive& archive) = 0;
  // Errors: state written for another optimizer type or another set of parameter shapes.
  virtual Status Load(torch::serialize::InputArchive& archive) = 0;
};

// The optimizers of a fused group's members stepped together: one plan over all their parameters,
// member k's the parameter group k with its own hyperparameters, learning rate and verdict, so a step
// is one pass on the CPU and one kernel launch on CUDA. The members must be MakeOptimizer's fused
// implementation (optimizer.impl: fused) of one optimizer.type on one device. Thread-compatible.
class JointStep {
 public:
  // members[k] nullptr: member k has left the group and is not stepped. `verdicts`: one per member, in
  // the parameters' memory (kernels::JudgeGradients wrote them), or nullptr. The plan is made again
  // whenever the gradients it steps change: a member leaves, or a gradient's storage moves.
  Status Step(const std::vector<Optimizer*>& members, const std::vector<double>& lrs, const kernels::StepVerdict* verdicts);

 private:
  std::unique_ptr<kernels::MultiTensorOptimizer> plan_;
  std::vector<void*> plan_grads_;
  size_t plan_groups_ = 0;
};

// Errors: parameters the fused kernels cannot step (dtype other than float32/bfloat16, mixed devices,
// non-contiguous), with the parameter's index and a way out.
StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(const OptimizerSpec& spec, std::vector<torch::Tensor> params);

}  // namespace orchard::train
