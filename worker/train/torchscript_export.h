// A checkpoint's model as a TorchScript file for serving: torch.jit.load("model.pt") in Python,
// torch::jit::load in C++, no Orchard needed.
//
//   RETURN_IF_ERROR(ExportTorchScript(recipe, "storage/registry/digits/v3/step-675", "model.pt"));
//
// LibTorch's C++ modules (models.h) cannot be scripted, so the file holds a torch::jit::Module built
// here: the checkpoint's parameters and buffers as attributes (dots in their names become
// underscores: blocks.0.conv1.weight is blocks_0_conv1_weight) and a forward written in TorchScript
// for the model type, the same layers as models.cc in evaluation mode (no dropout, batch norm with
// its running statistics). forward(x) takes raw float inputs [batch, *one sample's shape], applies
// the standardisation the model was trained with (recorded in the checkpoint) and returns what the
// trainer's model does: logits for classification, [batch, 1] for regression.
// No torch types here, so callers need not include torch. Thread-compatible.
#pragma once

#include <string>

#include "core/recipe.h"
#include "core/status.h"

namespace orchard::train {

// The model types ExportTorchScript writes; any other is InvalidArgument.
inline constexpr char kExportableModelTypes[] = "mlp, cnn";

// `recipe`: the one the checkpoint's run trained (hyperparameters applied); `checkpoint_dir`: a
// step-<n> directory. Writes `out_file` (through a temporary file renamed into place).
// InvalidArgument for a model type that cannot be exported, FailedPrecondition for a checkpoint of
// another model or one that does not record its standardisation, DataLoss for a corrupt one.
Status ExportTorchScript(const Recipe& recipe, const std::string& checkpoint_dir, const std::string& out_file);

}  // namespace orchard::train
