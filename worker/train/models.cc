#include "worker/train/models.h"

#include <torch/script.h>

#include "kernels/kernels.h"

namespace orchard::train {
namespace {

constexpr double kBatchNormMomentum = 0.1, kBatchNormEps = 1e-5;  // torch::nn::BatchNorm2d's defaults

// BatchNorm on the CPU in float: kernels::BatchNorm*Cpu forward and backward.
class CpuBatchNorm final : public torch::autograd::Function<CpuBatchNorm> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, const torch::Tensor& residual,
                               const torch::Tensor& running_mean, const torch::Tensor& running_var, bool training,
                               bool relu) {
    const torch::Tensor input = x.contiguous(Layout(x));
    const kernels::BatchNormShape shape = Shape(input);
    for (const torch::Tensor* t : {&weight, &bias, &running_mean, &running_var}) {
      TORCH_CHECK(t->numel() == shape.channels && t->is_contiguous() && t->scalar_type() == torch::kFloat32,
                  "batch norm needs contiguous float parameters and statistics of ", shape.channels, " channels");
    }
    TORCH_CHECK(residual.numel() == 0 || residual.sizes() == input.sizes(), "the residual added after a batch norm "
                "of ", input.sizes(), " has shape ", residual.sizes());
    const int64_t count = shape.batch * shape.plane;
    TORCH_CHECK(!training || count > 1, "batch norm needs more than 1 value per channel when training, got input ",
                input.sizes());
    // Rows: mean, variance, inv_std.
    torch::Tensor statistics = torch::empty({3, shape.channels}, input.options());
    if (!training) statistics[0].copy_(running_mean.view(-1)), statistics[1].copy_(running_var.view(-1));
    const bool has_residual = residual.numel() != 0;  // BatchNorm passes an empty one for none
    const torch::Tensor r = has_residual ? residual.contiguous(Layout(input)) : residual;
    torch::Tensor y = torch::empty_like(input);
    kernels::BatchNormForwardCpu(input.data_ptr<float>(), shape, training, static_cast<float>(kBatchNormEps),
                                 weight.data_ptr<float>(), bias.data_ptr<float>(), has_residual ? r.data_ptr<float>() : nullptr,
                                 relu, Statistics(statistics), y.data_ptr<float>());
    if (training) {
      // As LibTorch's: the running variance takes the unbiased one.
      float* mean = running_mean.data_ptr<float>();
      float* variance = running_var.data_ptr<float>();
      const float* batch = statistics.data_ptr<float>();
      const double unbiased = static_cast<double>(count) / static_cast<double>(count - 1);
      for (int64_t c = 0; c < shape.channels; ++c) {
        mean[c] = static_cast<float>(kBatchNormMomentum * batch[c] + (1 - kBatchNormMomentum) * mean[c]);
        variance[c] = static_cast<float>(kBatchNormMomentum * batch[shape.channels + c] * unbiased +
                                         (1 - kBatchNormMomentum) * variance[c]);
      }
    }
    ctx->save_for_backward({input, weight, statistics, relu ? y : torch::Tensor()});
    ctx->saved_data["training"] = training;
    ctx->saved_data["residual"] = has_residual;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &input = saved[0], &weight = saved[1], &statistics = saved[2], &y = saved[3];
    const torch::Tensor grad_y = grads[0].contiguous(Layout(input));
    auto needed = [&](int index, const torch::Tensor& like) {
      return ctx->needs_input_grad(index) ? torch::empty_like(like) : torch::Tensor();
    };
    torch::Tensor grad_x = needed(0, input), grad_weight = needed(1, weight), grad_bias = needed(2, weight),
                  grad_residual = ctx->saved_data["residual"].toBool() ? needed(3, input) : torch::Tensor();
    auto pointer = [](torch::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
    kernels::BatchNormBackwardCpu(grad_y.data_ptr<float>(), y.defined() ? y.data_ptr<float>() : nullptr,
                                  input.data_ptr<float>(), Shape(input), ctx->saved_data["training"].toBool(),
                                  weight.data_ptr<float>(), Statistics(statistics), pointer(grad_x),
                                  pointer(grad_residual), pointer(grad_weight), pointer(grad_bias));
    return {grad_x, grad_weight, grad_bias, grad_residual, {}, {}, {}, {}};
  }

 private:
  // Channels last where x is laid out so (a fused cnn's activations), else contiguous.
  static bool ChannelsLast(const torch::Tensor& x) {
    return x.dim() == 4 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
  }
  static at::MemoryFormat Layout(const torch::Tensor& x) {
    return ChannelsLast(x) ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  }
  static kernels::BatchNormShape Shape(const torch::Tensor& x) {
    const int64_t batch = x.size(0), channels = x.size(1);
    return {batch, channels, batch * channels == 0 ? 0 : x.numel() / (batch * channels), ChannelsLast(x)};
  }
  static kernels::ChannelStatistics Statistics(const torch::Tensor& rows) {
    float* data = rows.data_ptr<float>();
    const int64_t channels = rows.size(1);
    return {data, data + channels, data + 2 * channels};
  }
};

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

BatchNormTensors TensorsOf(const torch::nn::BatchNorm2d& bn) {
  return {bn->weight, bn->bias, bn->running_mean, bn->running_var, bn->num_batches_tracked};
}

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
    torch::Tensor y = BatchNorm(conv1_->forward(x), TensorsOf(bn1_), is_training(), {}, /*relu=*/true);
    return BatchNorm(conv2_->forward(y), TensorsOf(bn2_), is_training(), shortcut_ ? shortcut_->forward(x) : x,
                     /*relu=*/true);
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
    x = BatchNorm(stem_->forward(x), TensorsOf(stem_bn_), is_training(), {}, /*relu=*/true);
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

}  // namespace

torch::Tensor BatchNorm(const torch::Tensor& x, const BatchNormTensors& bn, bool training, const torch::Tensor& residual,
                        bool relu) {
  if (training) {
    torch::NoGradGuard no_grad;
    bn.batches.add_(1);  // as torch::nn::BatchNorm2d counts the batches it saw
  }
  const torch::Tensor weight = bn.weight.view({-1}), bias = bn.bias.view({-1});
  const torch::Tensor running_mean = bn.running_mean.view({-1}), running_var = bn.running_var.view({-1});
  if (x.is_cpu() && x.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32 && x.dim() >= 2 &&
      (!residual.defined() || residual.scalar_type() == torch::kFloat32)) {
    // Function::apply takes no undefined tensor: no residual is an empty one.
    return CpuBatchNorm::apply(x, weight, bias, residual.defined() ? residual : torch::empty({0}, x.options()),
                               running_mean, running_var, training, relu);
  }
  torch::Tensor y = torch::batch_norm(x, weight, bias, running_mean, running_var, training, kBatchNormMomentum,
                                      kBatchNormEps, /*cudnn_enabled=*/true);
  if (residual.defined()) y = y + residual;
  return relu ? torch::relu(y) : y;
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
