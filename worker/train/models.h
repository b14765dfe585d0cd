// Models of the training runtime (includes torch: only the runtime's torch sources use this header);
// fused trials' models are in fused_models.h.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Model> model, BuildModel(recipe.model, shape, outputs));
//   torch::Tensor logits = model->Forward(batch);
//
// Not thread-safe.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"

namespace orchard::train {

class Model {
 public:
  virtual ~Model() = default;
  // Classification: [B, classes] logits; regression: [B, 1]; language model: [B, T, 256] logits.
  virtual torch::Tensor Forward(const torch::Tensor& inputs) = 0;
  virtual void SetTraining(bool training) = 0;
  virtual std::vector<torch::Tensor> Parameters() = 0;
  // Parameters then buffers, by stable name: what a checkpoint holds.
  virtual std::vector<std::pair<std::string, torch::Tensor>> State() = 0;
  virtual void To(const torch::Device& device) = 0;
};

// `sample_shape` is one sample's input shape; `outputs` the classes (1 for regression, 256 bytes for
// a language model). Errors from loading a TorchScript file are returned, not thrown.
StatusOr<std::unique_ptr<Model>> BuildModel(const ModelSpec& spec, const std::vector<int64_t>& sample_shape,
                                            int64_t outputs);

// A batch norm's affine parameters, running statistics and batch count: a torch::nn::BatchNorm2d's
// ([C] each), or a fused group's stacked ones ([K, C] each, member k's channels the k-th block).
struct BatchNormTensors {
  torch::Tensor weight, bias, running_mean, running_var, batches;
};

// Batch norm of [N, C, ...] activations over their channels, as torch::nn::BatchNorm2d's (momentum
// 0.1, eps 1e-5; batch statistics when `training`, which also updates the running ones and counts the
// batch), then `residual` added where defined and ReLU where `relu`. On the CPU one pass per channel
// (kernels::BatchNormForwardCpu); elsewhere, and for lower precisions, LibTorch's operations.
torch::Tensor BatchNorm(const torch::Tensor& x, const BatchNormTensors& bn, bool training,
                        const torch::Tensor& residual = {}, bool relu = false);

// Copies a checkpoint archive's model tensors ("model/<State() name>") into `model`.
// FailedPrecondition naming `checkpoint` when one is missing or has another shape (a checkpoint of
// another recipe's model). LibTorch errors are thrown (c10::Error), as the archive's are.
Status RestoreModelState(Model& model, torch::serialize::InputArchive& archive, const std::string& checkpoint);

}  // namespace orchard::train
