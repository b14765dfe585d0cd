// Fused trials' models (includes torch: only the fused trainer and fused_models.cc use this header):
// K models of one architecture, one trial each, trained as one model (docs/fusion.md).
//
//   ASSIGN_OR_RETURN(std::unique_ptr<FusedModel> fused, FuseModels(specs, members));
//   torch::Tensor outputs = fused->TrainingForward(batch);
//   fused->Backward(outputs, losses_of(outputs));
//
// Not thread-safe.
#pragma once

#include "worker/train/models.h"  // Model, ModelSpec, StatusOr and torch

namespace orchard::train {

// K models of one architecture trained as one: each parameter stacked over the members along a new
// first dimension, so a layer of all K is one batched operation. The members' own models stay: their
// parameters become views of the stacked ones, so each member still names, checkpoints and restores
// its part as an ordinary model of its recipe does.
class FusedModel {
 public:
  virtual ~FusedModel() = default;
  // [K, B, outputs]: every member's output for the same inputs.
  virtual torch::Tensor Forward(const torch::Tensor& inputs) = 0;
  // A training pass in two halves: the members' outputs for `inputs`, and then, once the members'
  // losses [K] are taken from those outputs, each member's gradient of its own loss added into its
  // parameters' .grad. By default Forward and autograd; a model may take its backward pass itself.
  virtual torch::Tensor TrainingForward(const torch::Tensor& inputs) { return Forward(inputs); }
  virtual void Backward(const torch::Tensor& /*outputs*/, const torch::Tensor& losses) { losses.sum().backward(); }
  virtual void SetTraining(bool training) = 0;
  // The stacked parameters, [K, ...] each, for autograd; member k's parameter is entry k.
  virtual std::vector<torch::Tensor> Parameters() = 0;
};

// Fuses `members`, built by BuildModel from `specs` (one per member; they may differ in dropout
// alone) and already on their device. InvalidArgument when the members' parameters differ in names
// or shapes, or the model type is not fused yet (mlp and cnn are).
StatusOr<std::unique_ptr<FusedModel>> FuseModels(const std::vector<ModelSpec>& specs, const std::vector<Model*>& members);

}  // namespace orchard::train
