#include "worker/train/models.h"

#include <torch/script.h>

namespace orchard::train {
namespace {

torch::Tensor Activate(const std::string& name, const torch::Tensor& x) {
  if (name == "gelu") return torch::gelu(x);
  if (name == "tanh") return torch::tanh(x);
  return torch::relu(x);
}

struct MlpImpl : torch::nn::Module {
  MlpImpl(const MlpSpec& spec, int64_t inputs, int64_t outputs) : spec_(spec) {
    int64_t width = inputs;
    for (size_t i = 0; i < spec.hidden.size(); ++i) {
      layers_.push_back(register_module("fc" + std::to_string(i), torch::nn::Linear(width, spec.hidden[i])));
      width = spec.hidden[i];
    }
    head_ = register_module("head", torch::nn::Linear(width, outputs));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = x.flatten(1);
    for (auto& layer : layers_) {
      x = Activate(spec_.activation, layer->forward(x));
      if (spec_.dropout > 0) x = torch::dropout(x, spec_.dropout, is_training());
    }
    return head_->forward(x);
  }
  MlpSpec spec_;
  std::vector<torch::nn::Linear> layers_;
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(Mlp);

// Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut.
struct ResidualBlockImpl : torch::nn::Module {
  ResidualBlockImpl(int64_t in, int64_t out, int64_t stride) {
    using torch::nn::Conv2dOptions;
    conv1_ = register_module("conv1", torch::nn::Conv2d(Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(out));
    conv2_ = register_module("conv2", torch::nn::Conv2d(Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      shortcut_ = register_module("shortcut", torch::nn::Conv2d(Conv2dOptions(in, out, 1).stride(stride).bias(false)));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor y = torch::relu(bn1_->forward(conv1_->forward(x)));
    y = bn2_->forward(conv2_->forward(y));
    return torch::relu(y + (shortcut_ ? shortcut_->forward(x) : x));
  }
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, shortcut_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
};
TORCH_MODULE(ResidualBlock);

struct CnnImpl : torch::nn::Module {
  CnnImpl(const CnnSpec& spec, int64_t in_channels, int64_t outputs) : dropout_(spec.dropout) {
    stem_ = register_module("stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, spec.channels, 3).padding(1).bias(false)));
    stem_bn_ = register_module("stem_bn", torch::nn::BatchNorm2d(spec.channels));
    blocks_ = register_module("blocks", torch::nn::Sequential());
    int64_t width = spec.channels;
    for (int64_t stage = 0; stage <= spec.stages; ++stage) {
      int64_t out = stage == 0 ? width : width * 2;
      for (int64_t b = 0; b < spec.blocks; ++b) {
        blocks_->push_back(ResidualBlock(b == 0 ? width : out, out, (stage > 0 && b == 0) ? 2 : 1));
      }
      width = out;
    }
    head_ = register_module("head", torch::nn::Linear(width, outputs));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(stem_bn_->forward(stem_->forward(x)));
    x = blocks_->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    if (dropout_ > 0) x = torch::dropout(x, dropout_, is_training());
    return head_->forward(x);
  }
  double dropout_;
  torch::nn::Conv2d stem_{nullptr};
  torch::nn::BatchNorm2d stem_bn_{nullptr};
  torch::nn::Sequential blocks_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(Cnn);

// Pre-norm decoder block: causal self-attention and a GELU MLP, each with a residual connection.
struct DecoderBlockImpl : torch::nn::Module {
  DecoderBlockImpl(int64_t width, int64_t heads, double dropout)
      : heads_(heads), dropout_(dropout),
        ln1_(register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
        ln2_(register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
        qkv_(register_module("qkv", torch::nn::Linear(width, 3 * width))),
        proj_(register_module("proj", torch::nn::Linear(width, width))),
        fc1_(register_module("fc1", torch::nn::Linear(width, 4 * width))),
        fc2_(register_module("fc2", torch::nn::Linear(4 * width, width))) {}
  torch::Tensor forward(torch::Tensor x) {
    const int64_t b = x.size(0), t = x.size(1), w = x.size(2);
    auto qkv = qkv_->forward(ln1_->forward(x)).view({b, t, 3, heads_, w / heads_}).permute({2, 0, 3, 1, 4});
    auto attended = at::scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], /*attn_mask=*/{},
                                                     is_training() ? dropout_ : 0.0, /*is_causal=*/true);
    x = x + torch::dropout(proj_->forward(attended.transpose(1, 2).reshape({b, t, w})), dropout_, is_training());
    x = x + torch::dropout(fc2_->forward(torch::gelu(fc1_->forward(ln2_->forward(x)))), dropout_, is_training());
    return x;
  }
  int64_t heads_;
  double dropout_;
  torch::nn::LayerNorm ln1_, ln2_;
  torch::nn::Linear qkv_, proj_, fc1_, fc2_;
};
TORCH_MODULE(DecoderBlock);

struct TransformerImpl : torch::nn::Module {
  explicit TransformerImpl(const TransformerSpec& spec) : context_(spec.context) {
    tokens_ = register_module("tokens", torch::nn::Embedding(256, spec.width));
    positions_ = register_module("positions", torch::nn::Embedding(spec.context, spec.width));
    blocks_ = register_module("blocks", torch::nn::Sequential());
    for (int64_t i = 0; i < spec.layers; ++i) blocks_->push_back(DecoderBlock(spec.width, spec.heads, spec.dropout));
    norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({spec.width})));
    head_ = register_module("head", torch::nn::Linear(spec.width, 256));
  }
  // `bytes`: [B, T] int64 with T <= context.
  torch::Tensor forward(torch::Tensor bytes) {
    auto positions = torch::arange(bytes.size(1), bytes.options());
    auto x = tokens_->forward(bytes) + positions_->forward(positions);
    return head_->forward(norm_->forward(blocks_->forward(x)));
  }
  int64_t context_;
  torch::nn::Embedding tokens_{nullptr}, positions_{nullptr};
  torch::nn::Sequential blocks_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(Transformer);

// Adapts a torch::nn module holder (Mlp, Cnn, Transformer) to Model.
template <typename Holder>
class NativeModel final : public Model {
 public:
  explicit NativeModel(Holder module) : module_(std::move(module)) {}
  torch::Tensor Forward(const torch::Tensor& inputs) override { return module_->forward(inputs); }
  void SetTraining(bool training) override { module_->train(training); }
  std::vector<torch::Tensor> Parameters() override { return module_->parameters(); }
  std::vector<std::pair<std::string, torch::Tensor>> State() override {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& p : module_->named_parameters()) out.emplace_back("param/" + p.key(), p.value());
    for (const auto& b : module_->named_buffers()) out.emplace_back("buffer/" + b.key(), b.value());
    return out;
  }
  void To(const torch::Device& device) override { module_->to(device); }

 private:
  Holder module_;
};

// A scripted module trained in C++: how researchers bring their own architecture.
class ScriptedModel final : public Model {
 public:
  explicit ScriptedModel(torch::jit::Module module) : module_(std::move(module)) {}
  torch::Tensor Forward(const torch::Tensor& inputs) override {
    return module_.forward({inputs}).toTensor();
  }
  void SetTraining(bool training) override { module_.train(training); }
  std::vector<torch::Tensor> Parameters() override {
    std::vector<torch::Tensor> out;
    for (const auto& p : module_.parameters()) out.push_back(p);
    return out;
  }
  std::vector<std::pair<std::string, torch::Tensor>> State() override {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& p : module_.named_parameters()) out.emplace_back("param/" + p.name, p.value);
    for (const auto& b : module_.named_buffers()) out.emplace_back("buffer/" + b.name, b.value);
    return out;
  }
  void To(const torch::Device& device) override { module_.to(device); }

 private:
  torch::jit::Module module_;
};

// The mlp of K members: each linear layer one batched matrix product over the members.
class FusedMlp final : public FusedModel {
 public:
  // `layers`: [K, out, in] weights and [K, out] biases, inputs first; `dropouts`: each member's.
  FusedMlp(std::vector<std::pair<torch::Tensor, torch::Tensor>> layers, std::string activation,
           const std::vector<double>& dropouts)
      : layers_(std::move(layers)), activation_(std::move(activation)) {
    std::vector<float> keep;
    for (double p : dropouts) keep.push_back(static_cast<float>(1 - p)), dropping_ = dropping_ || p > 0;
    keep_ = torch::tensor(keep).to(layers_.front().first.device()).view({-1, 1, 1});
  }
  torch::Tensor Forward(const torch::Tensor& inputs) override {
    torch::Tensor x = inputs.flatten(1);
    x = x.unsqueeze(0).expand({keep_.size(0), x.size(0), x.size(1)});
    for (size_t i = 0; i < layers_.size(); ++i) {
      const auto& [weight, bias] = layers_[i];
      x = torch::baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2));
      if (i + 1 == layers_.size()) break;
      x = Activate(activation_, x);
      // Each member keeps a unit with its own probability, scaled as torch::dropout does.
      if (dropping_ && training_) x = x * torch::bernoulli(keep_.expand_as(x)) / keep_;
    }
    return x;
  }
  void SetTraining(bool training) override { training_ = training; }
  std::vector<torch::Tensor> Parameters() override {
    std::vector<torch::Tensor> out;
    for (const auto& [weight, bias] : layers_) out.push_back(weight), out.push_back(bias);
    return out;
  }

 private:
  std::vector<std::pair<torch::Tensor, torch::Tensor>> layers_;
  std::string activation_;
  torch::Tensor keep_;  // [K, 1, 1]: 1 - each member's dropout
  bool dropping_ = false, training_ = true;
};

// Stacks the members' parameter `name` into one [K, ...] leaf and makes each member's a view of it.
StatusOr<torch::Tensor> StackParameter(const std::vector<Model*>& members, const std::string& name) {
  std::vector<torch::Tensor> parts;
  for (size_t k = 0; k < members.size(); ++k) {
    for (auto& [state_name, tensor] : members[k]->State()) {
      if (state_name == name) parts.push_back(tensor);
    }
    if (parts.size() != k + 1) return InvalidArgument("fused member " + std::to_string(k) + " has no parameter " + name);
    if (parts[k].sizes() != parts[0].sizes()) {
      return InvalidArgument("fused member " + std::to_string(k) + "'s " + name + " is " + c10::str(parts[k].sizes()) +
                             " but member 0's is " + c10::str(parts[0].sizes()) + "; fused members must share shapes");
    }
  }
  torch::NoGradGuard no_grad;
  torch::Tensor stacked = torch::stack(parts).contiguous();
  for (size_t k = 0; k < parts.size(); ++k) parts[k].set_data(stacked.select(0, static_cast<int64_t>(k)));
  return stacked.requires_grad_(true);
}

}  // namespace

StatusOr<std::unique_ptr<FusedModel>> FuseModels(const std::vector<ModelSpec>& specs, const std::vector<Model*>& members) {
  const ModelSpec& spec = specs.front();
  if (spec.type != "mlp") {
    return InvalidArgument("model.type " + spec.type + " cannot be fused yet (mlp can); train these trials apart");
  }
  const size_t names = members.front()->State().size();
  for (size_t k = 1; k < members.size(); ++k) {
    if (members[k]->State().size() != names)
      return InvalidArgument("fused member " + std::to_string(k) + " has another number of parameters than member 0");
  }
  std::vector<std::pair<torch::Tensor, torch::Tensor>> layers;
  std::vector<std::string> layer_names;
  for (size_t i = 0; i < spec.mlp.hidden.size(); ++i) layer_names.push_back("fc" + std::to_string(i));
  layer_names.push_back("head");
  for (const std::string& layer : layer_names) {
    ASSIGN_OR_RETURN(torch::Tensor weight, StackParameter(members, "param/" + layer + ".weight"));
    ASSIGN_OR_RETURN(torch::Tensor bias, StackParameter(members, "param/" + layer + ".bias"));
    layers.emplace_back(weight, bias);
  }
  std::vector<double> dropouts;
  for (const ModelSpec& member : specs) dropouts.push_back(member.mlp.dropout);
  return std::unique_ptr<FusedModel>(new FusedMlp(std::move(layers), spec.mlp.activation, dropouts));
}

StatusOr<std::unique_ptr<Model>> BuildModel(const ModelSpec& spec, const std::vector<int64_t>& shape,
                                            int64_t outputs) {
  int64_t flat = 1;
  for (int64_t d : shape) flat *= d;
  if (spec.type == "mlp") return std::unique_ptr<Model>(new NativeModel<Mlp>(Mlp(spec.mlp, flat, outputs)));
  if (spec.type == "cnn") {
    if (shape.size() != 3) return InvalidArgument("model.type cnn needs image samples [C, H, W]");
    return std::unique_ptr<Model>(new NativeModel<Cnn>(Cnn(spec.cnn, shape[0], outputs)));
  }
  if (spec.type == "transformer") {
    return std::unique_ptr<Model>(new NativeModel<Transformer>(Transformer(spec.transformer)));
  }
  if (spec.type == "torchscript") {
    try {
      return std::unique_ptr<Model>(new ScriptedModel(torch::jit::load(spec.torchscript.path)));
    } catch (const c10::Error& e) {
      return InvalidArgument(spec.torchscript.path + ": cannot load the TorchScript module (model.path): " +
                             e.what_without_backtrace());
    }
  }
  return InvalidArgument("model.type: unknown model \"" + spec.type + "\"");
}

Status RestoreModelState(Model& model, torch::serialize::InputArchive& archive, const std::string& checkpoint) {
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : model.State()) {
    torch::Tensor saved;
    if (!archive.try_read("model/" + name, saved))
      return FailedPrecondition(checkpoint + " does not match this model (no " + name +
                                "): was it written by a different recipe?");
    if (saved.sizes() != tensor.sizes())
      return FailedPrecondition(checkpoint + " does not match this model: " + name + " is " +
                                c10::str(saved.sizes()) + " there but " + c10::str(tensor.sizes()) +
                                " here: was it written by a different recipe?");
    tensor.copy_(saved);
  }
  return OkStatus();
}

}  // namespace orchard::train
