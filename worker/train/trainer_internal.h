// What trainer.cc and fused_trainer.cc share (includes torch): the data as tensors, the loss, bf16
// autocast, the device, and the run's provenance record.
#pragma once

#include <torch/torch.h>

#include <string>

#include "core/provenance.h"
#include "core/recipe.h"
#include "core/status.h"
#include "worker/train/datasets.h"
#include "worker/train/models.h"

namespace orchard::train {

// bf16 autocast for the forward pass on CUDA; a no-op otherwise.
class AutocastScope {
 public:
  explicit AutocastScope(bool enabled);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_;
};

struct TensorDataset {
  torch::Tensor inputs, targets;
};

TensorDataset ToTensors(const Samples& s, const SplitDataset& data);

// Cross-entropy of G models' logits [G, B, classes] against the same B class targets: [G], each
// model's mean over the batch, or its sum (for evaluation in chunks). A run alone is G = 1; a fused
// group's members each get what their run alone would, bit for bit. On the CPU a row with a logit
// that is not finite (even -inf) makes its model's loss NaN, which the step's divergence guard
// catches; a GPU takes LibTorch's cross-entropy, where a -inf logit alone is no harm.
torch::Tensor ClassificationLosses(const torch::Tensor& logits, const torch::Tensor& targets, bool sum);

// Mean loss over the batch, or the sum over it (for evaluation over several chunks).
torch::Tensor Loss(const std::string& task, const torch::Tensor& out, const torch::Tensor& targets, bool sum = false);

// The device train.device names (`cuda_device` for auto and cuda); Unavailable when this machine
// or this build lacks it. Notes on `progress` that bf16 applies to GPUs only. Loads LibTorch's CUDA
// library first where the run may use a GPU (LoadLibTorchCuda), so a run calls it before anything
// else of LibTorch's that asks about CUDA (torch::manual_seed does).
StatusOr<torch::Device> ResolveDevice(const TrainSpec& train, int cuda_device, std::ostream* progress);

// SHA-256 of the model's parameters and buffers with their names (TrainResult::parameter_digest).
std::string ParameterDigest(Model& model);

// Adds the libraries, `device`, the world size and the start step to `p` and writes it to
// <output_dir>/provenance.json.
Status WriteProvenance(Provenance& p, const torch::Device& device, int ranks, int64_t start_step,
                       const std::string& output_dir);

}  // namespace orchard::train
