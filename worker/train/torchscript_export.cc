#include "worker/train/torchscript_export.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "worker/train/checkpoint_store.h"
#include "worker/train/models.h"

namespace orchard::train {
namespace {

// "param/blocks.0.conv1.weight" -> "blocks_0_conv1_weight": TorchScript attribute names have no dots.
std::string AttributeName(const std::string& state_name) {
  std::string name = state_name.substr(state_name.find('/') + 1);
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

std::string Activation(const std::string& name) {
  if (name == "gelu") return "torch.gelu";
  if (name == "tanh") return "torch.tanh";
  return "torch.relu";
}

constexpr char kStandardise[] = "    x = (x - self.input_mean) * self.input_inv_std\n";

// MlpImpl::forward in evaluation mode.
std::string MlpForward(const MlpSpec& spec, bool standardise) {
  std::ostringstream code;
  code << "def forward(self, x):\n"
       << "    x = x.float().flatten(1)\n"
       << (standardise ? kStandardise : "");
  for (size_t i = 0; i < spec.hidden.size(); ++i) {
    const std::string layer = "self.fc" + std::to_string(i);
    code << "    x = " << Activation(spec.activation) << "(torch.linear(x, " << layer << "_weight, " << layer << "_bias))\n";
  }
  code << "    return torch.linear(x, self.head_weight, self.head_bias)\n";
  return code.str();
}

// A bias-free convolution (`conv`) and its batch norm (`bn`) with running statistics, as the
// expression of `input`.
std::string ConvBatchNorm(const std::string& input, const std::string& conv, const std::string& bn, int64_t stride,
                          int64_t padding) {
  const std::string s = std::to_string(stride), p = std::to_string(padding), b = "self." + bn;
  return "torch.batch_norm(torch.conv2d(" + input + ", self." + conv + "_weight, None, [" + s + ", " + s + "], [" + p +
         ", " + p + "]), " + b + "_weight, " + b + "_bias, " + b + "_running_mean, " + b + "_running_var, False, 0.1, " +
         "1e-05, True)";
}

// CnnImpl::forward in evaluation mode: the stages and blocks laid out as CnnImpl's constructor does.
std::string CnnForward(const CnnSpec& spec, bool standardise) {
  std::ostringstream code;
  code << "def forward(self, x):\n"
       << "    x = x.float()\n"
       << (standardise ? kStandardise : "")
       << "    x = torch.relu(" << ConvBatchNorm("x", "stem", "stem_bn", 1, 1) << ")\n";
  int64_t width = spec.channels, block = 0;
  for (int64_t stage = 0; stage <= spec.stages; ++stage) {
    const int64_t out = stage == 0 ? width : width * 2;
    for (int64_t b = 0; b < spec.blocks; ++b, ++block) {
      const int64_t in = b == 0 ? width : out, stride = (stage > 0 && b == 0) ? 2 : 1;
      const std::string name = "blocks_" + std::to_string(block) + "_";
      code << "    y = torch.relu(" << ConvBatchNorm("x", name + "conv1", name + "bn1", stride, 1) << ")\n"
           << "    y = " << ConvBatchNorm("y", name + "conv2", name + "bn2", 1, 1) << "\n";
      if (stride != 1 || in != out) {
        code << "    x = torch.relu(y + torch.conv2d(x, self." << name << "shortcut_weight, None, [" << stride << ", "
             << stride << "]))\n";
      } else {
        code << "    x = torch.relu(y + x)\n";
      }
    }
    width = out;
  }
  code << "    x = torch.adaptive_avg_pool2d(x, [1, 1]).flatten(1)\n"
       << "    return torch.linear(x, self.head_weight, self.head_bias)\n";
  return code.str();
}

// The checkpoint tensor `key`; FailedPrecondition when the checkpoint lacks it.
StatusOr<torch::Tensor> Read(torch::serialize::InputArchive& archive, const std::string& key, const std::string& where) {
  torch::Tensor tensor;
  if (!archive.try_read(key, tensor))
    return FailedPrecondition(where + " has no " + key + ": it is not a checkpoint of this recipe's model");
  return tensor;
}

Status Export(const Recipe& recipe, const Checkpoint& checkpoint, const std::string& out_file) {
  const std::string where = checkpoint.dir.string();
  ASSIGN_OR_RETURN(std::string bytes, CheckpointStore::ReadFile(checkpoint, "rank-0.pt"));
  torch::serialize::InputArchive archive;
  std::istringstream in(bytes);
  archive.load_from(in, torch::kCPU);

  // The layer sizes the data decided at training time, read back from the weights.
  ASSIGN_OR_RETURN(torch::Tensor head, Read(archive, "model/param/head.weight", where));
  const ModelSpec& spec = recipe.model;
  std::vector<int64_t> sample_shape;
  if (spec.type == "mlp") {
    ASSIGN_OR_RETURN(torch::Tensor first, spec.mlp.hidden.empty() ? head : Read(archive, "model/param/fc0.weight", where));
    sample_shape = {first.size(1)};
  } else {
    ASSIGN_OR_RETURN(torch::Tensor stem, Read(archive, "model/param/stem.weight", where));
    sample_shape = {stem.size(1), 1, 1};  // the CNN's layers depend on the channels only
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, BuildModel(spec, sample_shape, head.size(0)));
  RETURN_IF_ERROR(RestoreModelState(*model, archive, where));

  torch::Tensor mean, inv_std;
  const bool standardise = archive.try_read("data/mean", mean) && archive.try_read("data/inv_std", inv_std);
  if (!standardise && recipe.data.normalize)
    return FailedPrecondition(where + " does not record how the model's training data was standardised (it was "
                              "written by an older orchard-train), so an exported model could not prepare its "
                              "inputs the same way; train it again to export it");

  torch::jit::Module module(spec.type == "mlp" ? "OrchardMlp" : "OrchardCnn");
  for (const auto& [name, tensor] : model->State()) {
    const bool buffer = name.rfind("buffer/", 0) == 0;
    if (buffer) module.register_buffer(AttributeName(name), tensor.detach().clone());
    else module.register_parameter(AttributeName(name), tensor.detach().clone(), /*is_buffer=*/false);
  }
  if (standardise) {
    // The MLP flattens first, so its standardisation is flat too.
    module.register_buffer("input_mean", spec.type == "mlp" ? mean.reshape(-1) : mean);
    module.register_buffer("input_inv_std", spec.type == "mlp" ? inv_std.reshape(-1) : inv_std);
  }
  module.define(spec.type == "mlp" ? MlpForward(spec.mlp, standardise) : CnnForward(spec.cnn, standardise));
  module.eval();

  const std::string staging = out_file + ".tmp";
  module.save(staging);
  std::error_code error;
  std::filesystem::rename(staging, out_file, error);
  if (error) return Internal("cannot rename " + staging + " to " + out_file + ": " + error.message());
  return OkStatus();
}

}  // namespace

Status ExportTorchScript(const Recipe& recipe, const std::string& checkpoint_dir, const std::string& out_file) {
  if (recipe.model.type != "mlp" && recipe.model.type != "cnn")
    return InvalidArgument("model.type " + recipe.model.type + " cannot be exported to TorchScript yet (exportable: " +
                           kExportableModelTypes + ")");
  ASSIGN_OR_RETURN(Checkpoint checkpoint, CheckpointStore::Open(checkpoint_dir));
  try {
    return Export(recipe, checkpoint, out_file);
  } catch (const c10::Error& e) {
    return DataLoss(checkpoint_dir + ": cannot export the model: " + e.what_without_backtrace());
  }
}

}  // namespace orchard::train
