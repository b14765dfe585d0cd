#include "worker/train/fused_models.h"

#include <ATen/autocast_mode.h>

#include <optional>
#include <string>
#include <utility>

namespace orchard::train {
namespace {

// Each member's own dropout on [K, B, ...] activations: a unit is kept with the member's probability
// and scaled as torch::dropout does.
class MemberDropout {
 public:
  MemberDropout(const std::vector<double>& dropouts, const torch::Device& device) {
    std::vector<float> keep;
    for (double p : dropouts) keep.push_back(static_cast<float>(1 - p)), any_ = any_ || p > 0;
    keep_ = torch::tensor(keep).to(device).view({-1, 1, 1});
  }
  int64_t members() const { return keep_.size(0); }
  torch::Tensor operator()(const torch::Tensor& x, bool training) const { return Apply(x, Draw(x, training)); }
  // The units kept this pass (1, else 0), shaped as `x`; undefined where nothing is dropped.
  torch::Tensor Draw(const torch::Tensor& x, bool training) const {
    return any_ && training ? torch::bernoulli(keep_.expand_as(x)) : torch::Tensor();
  }
  torch::Tensor Apply(const torch::Tensor& x, const torch::Tensor& kept) const {
    return kept.defined() ? x * kept / keep_ : x;
  }
  // The gradient through Apply, in the order autograd takes it.
  torch::Tensor Backward(const torch::Tensor& grad, const torch::Tensor& kept) const {
    return kept.defined() ? grad / keep_ * kept : grad;
  }

 private:
  torch::Tensor keep_;  // [K, 1, 1]
  bool any_ = false;
};

// A member linear layer's operands as its product takes them: under autocast (bf16 on a GPU) in the
// lower precision, as a lone model's linear layer takes them.
struct LayerOperands {
  torch::Tensor x, weight, bias;
};
LayerOperands Lowered(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const at::DeviceType device = x.device().type();
  if (!at::autocast::is_autocast_enabled(device)) return {x, weight, bias};
  const at::ScalarType lower = at::autocast::get_autocast_dtype(device);
  return {x.to(lower), weight.to(lower), bias.to(lower)};
}

// [K, B, in] through each member's own linear layer ([K, out, in] weights, [K, out] biases). On the CPU
// the bias is added in place after the product: baddbmm's fused form took about 8% longer in a fused
// mlp's forward pass there. Elsewhere baddbmm's one kernel (and, in bf16, one rounding, as a lone
// model's linear layer has).
torch::Tensor MemberAffine(const LayerOperands& in) {
  return in.x.is_cpu() ? torch::bmm(in.x, in.weight.transpose(1, 2)).add_(in.bias.unsqueeze(1))
                       : torch::baddbmm(in.bias.unsqueeze(1), in.x, in.weight.transpose(1, 2));
}

// A member linear layer's weight gradient, grad^T x, in the weight's layout as LibTorch's linear gives
// a lone trial's (baddbmm's own backward would give it transposed, to be added into the gradient
// strided: about 5% of a fused mlp's step).
torch::Tensor MemberWeightGradient(const torch::Tensor& grad, const torch::Tensor& x) {
  return grad.transpose(1, 2).bmm(x);
}

// A member linear layer as one autograd node: the fused cnn's heads.
class MemberLinear final : public torch::autograd::Function<MemberLinear> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::Tensor weight,
                               torch::Tensor bias) {
    const LayerOperands in = Lowered(x, weight, bias);
    ctx->save_for_backward({in.x, in.weight});
    return MemberAffine(in);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& grad = grads[0];
    auto needed = [&](int input, auto gradient) { return ctx->needs_input_grad(input) ? gradient() : torch::Tensor(); };
    return {needed(0, [&] { return grad.bmm(saved[1]); }), needed(1, [&] { return MemberWeightGradient(grad, saved[0]); }),
            needed(2, [&] { return grad.sum(1); })};
  }
};

// Adds `gradient` into `parameter`'s .grad (in its dtype), or makes it the .grad where there is none,
// as autograd's accumulation does.
void Accumulate(const torch::Tensor& parameter, const torch::Tensor& gradient) {
  torch::Tensor& grad = parameter.mutable_grad();
  if (grad.defined()) {
    grad.add_(gradient);
  } else {
    grad = gradient.to(parameter.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
  }
}

// The mlp of K members: each linear layer one batched matrix product over the members.
//
// Training takes its own backward pass: each layer's gradients are computed from what its forward
// pass kept and added straight into the parameters' .grad, with the same operations autograd would
// run (threshold_backward, the products, the bias sums) but no graph of the layers, no per-layer
// nodes and no separate accumulation pass: a 16-member quickstart step on one CPU thread took 0.51 ms
// against autograd's 0.57.
class FusedMlp final : public FusedModel {
 public:
  // `layers`: [K, out, in] weights and [K, out] biases, inputs first.
  FusedMlp(std::vector<std::pair<torch::Tensor, torch::Tensor>> layers, const std::string& activation,
           MemberDropout dropout)
      : layers_(std::move(layers)),
        activation_(activation == "gelu" ? Activation::kGelu : activation == "tanh" ? Activation::kTanh : Activation::kRelu),
        dropout_(std::move(dropout)) {}
  torch::Tensor Forward(const torch::Tensor& inputs) override { return Run(inputs, nullptr); }
  torch::Tensor TrainingForward(const torch::Tensor& inputs) override {
    torch::NoGradGuard no_grad;
    passes_.clear();
    // The losses' gradient stops at the outputs; Backward takes it through the layers.
    return Run(inputs, &passes_).requires_grad_(true);
  }
  void Backward(const torch::Tensor& outputs, const torch::Tensor& losses) override {
    TORCH_CHECK(passes_.size() == layers_.size(), "FusedMlp::Backward without a TrainingForward before it");
    losses.sum().backward();
    torch::NoGradGuard no_grad;
    torch::Tensor grad = outputs.grad();
    for (size_t i = layers_.size(); i-- > 0;) {
      const LayerPass& pass = passes_[i];
      if (pass.activated.defined()) {
        // A gradient takes its tensor's dtype, as autograd casts it (they differ only under autocast).
        grad = dropout_.Backward(grad, pass.kept).to(pass.activated.scalar_type());
        switch (activation_) {
          case Activation::kRelu: grad = torch::threshold_backward(grad, pass.activated, 0); break;
          case Activation::kTanh: grad = torch::tanh_backward(grad, pass.activated); break;
          case Activation::kGelu: grad = torch::gelu_backward(grad, pass.activated); break;
        }
      }
      const auto& [weight, bias] = layers_[i];
      torch::Tensor& weight_grad = weight.mutable_grad();
      if (weight_grad.defined() && weight_grad.scalar_type() == grad.scalar_type()) {
        weight_grad.baddbmm_(grad.transpose(1, 2), pass.in.x);  // grad^T x, added in the product's own pass
      } else {
        Accumulate(weight, MemberWeightGradient(grad, pass.in.x));
      }
      Accumulate(bias, grad.sum(1));
      if (i > 0) grad = grad.bmm(pass.in.weight).to(pass.input_type);
    }
    passes_.clear();
  }
  void SetTraining(bool training) override { training_ = training; }
  std::vector<torch::Tensor> Parameters() override {
    std::vector<torch::Tensor> out;
    for (const auto& [weight, bias] : layers_) out.push_back(weight), out.push_back(bias);
    return out;
  }

 private:
  // What a layer's backward pass needs from its forward pass.
  struct LayerPass {
    LayerOperands in;         // the product's operands, as it took them
    at::ScalarType input_type;  // the layer's input's own dtype (its gradient's)
    torch::Tensor activated;  // a hidden layer's: ReLU's and tanh's output, GELU's input
    torch::Tensor kept;       // the units dropout kept; undefined where it dropped none
  };

  // The members' outputs; what Backward needs kept in `passes` where given.
  torch::Tensor Run(const torch::Tensor& inputs, std::vector<LayerPass>* passes) {
    torch::Tensor x = inputs.flatten(1);
    x = x.unsqueeze(0).expand({dropout_.members(), x.size(0), x.size(1)});
    for (size_t i = 0; i < layers_.size(); ++i) {
      const auto& [weight, bias] = layers_[i];
      LayerPass pass{Lowered(x, weight, bias), x.scalar_type(), {}, {}};
      torch::Tensor y = MemberAffine(pass.in);
      if (i + 1 < layers_.size()) {
        switch (activation_) {
          case Activation::kRelu: pass.activated = y.relu_(); break;
          case Activation::kTanh: y = pass.activated = torch::tanh(y); break;
          case Activation::kGelu: pass.activated = y, y = torch::gelu(y); break;
        }
        pass.kept = dropout_.Draw(y, training_);
        y = dropout_.Apply(y, pass.kept);
      }
      if (passes != nullptr) passes->push_back(std::move(pass));
      x = y;
    }
    return x;
  }

  std::vector<std::pair<torch::Tensor, torch::Tensor>> layers_;
  // As the lone model's Activate takes model.activation (relu unless gelu or tanh); decided once, so
  // that the forward and backward passes take the same.
  enum class Activation { kRelu, kTanh, kGelu } activation_;
  MemberDropout dropout_;
  bool training_ = true;
  std::vector<LayerPass> passes_;  // the last TrainingForward's, until its Backward
};

// The members' tensors of one name stacked along a new first dimension.
class Stacker {
 public:
  explicit Stacker(const std::vector<Model*>& members) {
    for (Model* member : members) states_.push_back(member->State());
  }

  // Stacks the members' `name` into one [K, ...] tensor (a leaf that requires grad when `parameter`)
  // and makes each member's a view of it.
  StatusOr<torch::Tensor> Stack(const std::string& name, bool parameter = true) {
    std::vector<torch::Tensor> parts;
    for (size_t k = 0; k < states_.size(); ++k) {
      for (auto& [state_name, tensor] : states_[k]) {
        if (state_name == name) parts.push_back(tensor);
      }
      if (parts.size() != k + 1) return InvalidArgument("fused member " + std::to_string(k) + " has no " + name);
      if (parts[k].sizes() != parts[0].sizes()) {
        return InvalidArgument("fused member " + std::to_string(k) + "'s " + name + " is " + c10::str(parts[k].sizes()) +
                               " but member 0's is " + c10::str(parts[0].sizes()) + "; fused members must share shapes");
      }
    }
    torch::NoGradGuard no_grad;
    torch::Tensor stacked = torch::stack(parts).contiguous();
    for (size_t k = 0; k < parts.size(); ++k) parts[k].set_data(stacked.select(0, static_cast<int64_t>(k)));
    ++stacked_;
    return parameter ? stacked.requires_grad_(true) : stacked;
  }

  bool Has(const std::string& name) const {
    for (const auto& [state_name, tensor] : states_.front())
      if (state_name == name) return true;
    return false;
  }

  // InvalidArgument when some tensor of the members was not stacked: a layout this fusion does not know.
  Status AllStacked() const {
    for (size_t k = 1; k < states_.size(); ++k) {
      if (states_[k].size() != states_[0].size())
        return InvalidArgument("fused member " + std::to_string(k) + " has another number of tensors than member 0");
    }
    if (stacked_ != states_.front().size())
      return Internal("the fused model holds " + std::to_string(stacked_) + " of the members' " +
                      std::to_string(states_.front().size()) + " tensors");
    return OkStatus();
  }

 private:
  std::vector<std::vector<std::pair<std::string, torch::Tensor>>> states_;
  size_t stacked_ = 0;
};

// The input gradient of a 3x3, stride-2, padding-1 convolution from its output's gradient. An input
// pixel of row parity 0 takes output row i through kernel row 1; one of parity 1 takes rows i and
// i + 1 through kernel rows 2 and 0; columns likewise. So the four parities are one stride-1 2x2
// convolution of the output gradient (one zero row and column appended) with (parity, channel)
// outputs, interleaved into the input's pixels.
torch::Tensor PhaseInputGradient(const torch::Tensor& grad, const torch::Tensor& weight, int64_t groups, int64_t height,
                                 int64_t width) {
  // Kernel row (or column) of parity a at offset e, -1 for none; then the 2x2 kernels' taps, in the
  // order (row parity, column parity, row offset, column offset), 9 for a zero tap.
  const int kTap[2][2] = {{1, -1}, {2, 0}};
  std::vector<int64_t> taps_of_phases;
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int er = 0; er < 2; ++er)
        for (int ec = 0; ec < 2; ++ec) {
          const int row = kTap[a][er], column = kTap[b][ec];
          taps_of_phases.push_back(row < 0 || column < 0 ? 9 : row * 3 + column);
        }
  const int64_t out = weight.size(0) / groups, in = weight.size(1);
  const torch::Tensor taps =
      torch::cat({weight.reshape({groups, out, in, 9}), torch::zeros({groups, out, in, 1}, weight.options())}, 3);
  // [G, out, in, (a, b, er, ec)] -> [G * (a, b, in), out, er, ec]: each parity's channels a block.
  const torch::Tensor index = torch::tensor(taps_of_phases, torch::kInt64).to(weight.device());
  const torch::Tensor phased = taps.index_select(3, index)
                                   .view({groups, out, in, 2, 2, 2, 2})
                                   .permute({0, 3, 4, 2, 1, 5, 6})
                                   .reshape({groups * 4 * in, out, 2, 2});
  const int64_t unit = 1, none = 0, batch = grad.size(0), rows = grad.size(2), columns = grad.size(3);
  const torch::Tensor phases =
      torch::conv2d(torch::constant_pad_nd(grad, {0, 1, 0, 1}), phased, {}, unit, none, unit, groups);
  // [B, (G, a, b, in), i, j] -> pixels (2i + a, 2j + b), channels (G, in), channels last.
  const torch::Tensor pixels = phases.permute({0, 2, 3, 1})
                                   .reshape({batch, rows, columns, groups, 2, 2, in})
                                   .permute({0, 1, 4, 2, 5, 3, 6})
                                   .reshape({batch, 2 * rows, 2 * columns, groups * in});
  return pixels.slice(1, 0, height).slice(2, 0, width).permute({0, 3, 1, 2});
}

// A strided convolution of the cnn (a 1x1 shortcut, or a 3x3 whose stride halves the planes) whose
// input gradient is computed unstrided: oneDNN's strided backward pass took about three times its
// forward's time (a fused group's, on a CPU). The 1x1's is an unstrided 1x1 convolution by the
// transposed weights put at every stride-th pixel; the 3x3's is PhaseInputGradient. The weight's
// gradient is oneDNN's.
class StridedConv final : public torch::autograd::Function<StridedConv> {
 public:
  static bool Covers(const torch::Tensor& weight, int64_t stride, int64_t padding) {
    const bool pointwise = weight.size(2) == 1 && weight.size(3) == 1 && padding == 0 && stride > 1;
    const bool halving = weight.size(2) == 3 && weight.size(3) == 3 && padding == 1 && stride == 2;
    return pointwise || halving;
  }
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               int64_t stride, int64_t padding, int64_t groups) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["groups"] = groups;
    return torch::conv2d(x, weight, {}, stride, padding, 1, groups);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& grad = grads[0];
    // Under autocast the forward pass ran in the gradient's dtype; the backward pass runs outside it.
    const torch::Tensor x = saved[0].to(grad.scalar_type()), weight = saved[1].to(grad.scalar_type());
    const int64_t stride = ctx->saved_data["stride"].toInt(), padding = ctx->saved_data["padding"].toInt();
    const int64_t groups = ctx->saved_data["groups"].toInt();
    torch::Tensor grad_x, grad_weight;
    if (ctx->needs_input_grad(1)) {
      grad_weight = std::get<1>(at::convolution_backward(grad, x, weight, c10::nullopt, {stride}, {padding}, {1}, false,
                                                         {0}, groups, {false, true, false}));
    }
    if (ctx->needs_input_grad(0) && weight.size(2) == 3) {
      grad_x = PhaseInputGradient(grad, weight, groups, x.size(2), x.size(3));
    } else if (ctx->needs_input_grad(0)) {
      const int64_t out = weight.size(0) / groups, in = weight.size(1), unit = 1, none = 0;
      const torch::Tensor transposed = weight.view({groups, out, in}).transpose(1, 2).reshape({groups * in, out, 1, 1});
      grad_x = torch::zeros_like(x);
      grad_x.slice(2, 0, c10::nullopt, stride).slice(3, 0, c10::nullopt, stride).copy_(
          torch::conv2d(grad, transposed, {}, unit, none, unit, groups));
    }
    return {grad_x, grad_weight, {}, {}, {}};
  }
};

// A member convolution of the cnn, all members' as one grouped convolution: the stacked weight
// [K, out, in, kh, kw] read as [K * out, in, kh, kw], member k's channels the k-th block of out.
struct FusedConv {
  torch::Tensor weight;
  int64_t stride = 1, padding = 0;
  // `shared_input`: every member reads the same input channels (the stem); else each its own block.
  torch::Tensor operator()(const torch::Tensor& x, bool shared_input = false) const {
    const int64_t groups = shared_input ? 1 : weight.size(0);
    const torch::Tensor flat = weight.flatten(0, 1);
    // oneDNN's strided backward pass is the slow one; a GPU keeps its own.
    if (x.is_cpu() && StridedConv::Covers(flat, stride, padding)) return StridedConv::apply(x, flat, stride, padding, groups);
    return torch::conv2d(x, flat, {}, stride, padding, 1, groups);
  }
};

// Images channels last, whose layout the fused cnn's convolutions then keep: oneDNN's grouped
// convolutions over a group's channels run faster so (the 16-member digits step on one CPU thread
// took about a tenth less time). Strided explicitly: with one channel the contiguous strides pass
// for channels last too, and the convolution would keep the contiguous layout.
torch::Tensor ToChannelsLast(const torch::Tensor& images) {
  const torch::Tensor x = images.contiguous(at::MemoryFormat::ChannelsLast);
  const int64_t channels = x.size(1), width = x.size(3);
  return x.as_strided(x.sizes(), {channels * x.size(2) * width, 1, width * channels, channels});
}

struct FusedResidualBlock {
  FusedConv conv1, conv2;
  BatchNormTensors bn1, bn2;  // [K, C] each, batches [K]
  std::optional<FusedConv> shortcut;
};

// The cnn of K members: convolutions grouped by member, batch norms over each member's channels, the
// head one batched matrix product.
class FusedCnn final : public FusedModel {
 public:
  FusedCnn(FusedConv stem, BatchNormTensors stem_bn, std::vector<FusedResidualBlock> blocks, torch::Tensor head_weight,
           torch::Tensor head_bias, MemberDropout dropout, std::vector<torch::Tensor> parameters)
      : stem_(std::move(stem)), stem_bn_(std::move(stem_bn)), blocks_(std::move(blocks)),
        head_weight_(std::move(head_weight)), head_bias_(std::move(head_bias)), dropout_(std::move(dropout)),
        parameters_(std::move(parameters)) {}
  torch::Tensor Forward(const torch::Tensor& inputs) override {
    // A member's batch norms are over its own channel block, as alone.
    torch::Tensor x = BatchNorm(stem_(ToChannelsLast(inputs), /*shared_input=*/true), stem_bn_, training_, {}, /*relu=*/true);
    for (const FusedResidualBlock& block : blocks_) {
      torch::Tensor y = BatchNorm(block.conv1(x), block.bn1, training_, {}, /*relu=*/true);
      x = BatchNorm(block.conv2(y), block.bn2, training_, block.shortcut ? (*block.shortcut)(x) : x, /*relu=*/true);
    }
    const int64_t members = dropout_.members();
    // [B, K * width] pooled features, member k's the k-th block: [K, B, width] for the heads. The mean
    // as a sum, then a division of the sums: the sum's gradient is a broadcast view, where the average
    // pool's backward pass divided a whole contiguous activation.
    x = x.sum({2, 3}) / static_cast<double>(x.size(2) * x.size(3));
    x = x.view({x.size(0), members, -1}).transpose(0, 1);
    return MemberLinear::apply(dropout_(x, training_), head_weight_, head_bias_);
  }
  void SetTraining(bool training) override { training_ = training; }
  std::vector<torch::Tensor> Parameters() override { return parameters_; }

 private:
  FusedConv stem_;
  BatchNormTensors stem_bn_;
  std::vector<FusedResidualBlock> blocks_;
  torch::Tensor head_weight_, head_bias_;
  MemberDropout dropout_;
  std::vector<torch::Tensor> parameters_;
  bool training_ = true;
};

StatusOr<std::unique_ptr<FusedModel>> FuseMlp(const MlpSpec& spec, Stacker& stacker, MemberDropout dropout) {
  std::vector<std::pair<torch::Tensor, torch::Tensor>> layers;
  std::vector<std::string> layer_names;
  for (size_t i = 0; i < spec.hidden.size(); ++i) layer_names.push_back("fc" + std::to_string(i));
  layer_names.push_back("head");
  for (const std::string& layer : layer_names) {
    ASSIGN_OR_RETURN(torch::Tensor weight, stacker.Stack("param/" + layer + ".weight"));
    ASSIGN_OR_RETURN(torch::Tensor bias, stacker.Stack("param/" + layer + ".bias"));
    layers.emplace_back(weight, bias);
  }
  RETURN_IF_ERROR(stacker.AllStacked());
  return std::unique_ptr<FusedModel>(new FusedMlp(std::move(layers), spec.activation, std::move(dropout)));
}

StatusOr<std::unique_ptr<FusedModel>> FuseCnn(const CnnSpec& spec, Stacker& stacker, MemberDropout dropout) {
  std::vector<torch::Tensor> parameters;
  auto parameter = [&](const std::string& name) -> StatusOr<torch::Tensor> {
    ASSIGN_OR_RETURN(torch::Tensor stacked, stacker.Stack("param/" + name));
    parameters.push_back(stacked);
    return stacked;
  };
  auto conv = [&](const std::string& name, int64_t stride, int64_t padding) -> StatusOr<FusedConv> {
    ASSIGN_OR_RETURN(torch::Tensor weight, parameter(name + ".weight"));
    return FusedConv{weight, stride, padding};
  };
  auto batch_norm = [&](const std::string& name) -> StatusOr<BatchNormTensors> {
    BatchNormTensors bn;
    ASSIGN_OR_RETURN(bn.weight, parameter(name + ".weight"));
    ASSIGN_OR_RETURN(bn.bias, parameter(name + ".bias"));
    ASSIGN_OR_RETURN(bn.running_mean, stacker.Stack("buffer/" + name + ".running_mean", false));
    ASSIGN_OR_RETURN(bn.running_var, stacker.Stack("buffer/" + name + ".running_var", false));
    ASSIGN_OR_RETURN(bn.batches, stacker.Stack("buffer/" + name + ".num_batches_tracked", false));
    return bn;
  };
  ASSIGN_OR_RETURN(FusedConv stem, conv("stem", 1, 1));
  ASSIGN_OR_RETURN(BatchNormTensors stem_bn, batch_norm("stem_bn"));
  std::vector<FusedResidualBlock> blocks;
  // The blocks as Cnn lays them out (models.cc): a stage's first block after the first stage halves
  // the resolution, and a block whose shape changes has a 1x1 shortcut.
  for (int64_t stage = 0, index = 0; stage <= spec.stages; ++stage) {
    for (int64_t b = 0; b < spec.blocks; ++b, ++index) {
      const std::string name = "blocks." + std::to_string(index);
      const int64_t stride = stage > 0 && b == 0 ? 2 : 1;
      FusedResidualBlock block;
      ASSIGN_OR_RETURN(block.conv1, conv(name + ".conv1", stride, 1));
      ASSIGN_OR_RETURN(block.bn1, batch_norm(name + ".bn1"));
      ASSIGN_OR_RETURN(block.conv2, conv(name + ".conv2", 1, 1));
      ASSIGN_OR_RETURN(block.bn2, batch_norm(name + ".bn2"));
      if (stacker.Has("param/" + name + ".shortcut.weight")) {
        ASSIGN_OR_RETURN(FusedConv shortcut, conv(name + ".shortcut", stride, 0));
        block.shortcut = shortcut;
      }
      blocks.push_back(std::move(block));
    }
  }
  ASSIGN_OR_RETURN(torch::Tensor head_weight, parameter("head.weight"));
  ASSIGN_OR_RETURN(torch::Tensor head_bias, parameter("head.bias"));
  RETURN_IF_ERROR(stacker.AllStacked());
  return std::unique_ptr<FusedModel>(new FusedCnn(std::move(stem), std::move(stem_bn), std::move(blocks), head_weight,
                                                  head_bias, std::move(dropout), std::move(parameters)));
}

}  // namespace

StatusOr<std::unique_ptr<FusedModel>> FuseModels(const std::vector<ModelSpec>& specs, const std::vector<Model*>& members) {
  const ModelSpec& spec = specs.front();
  if (spec.type != "mlp" && spec.type != "cnn") {
    return InvalidArgument("model.type " + spec.type + " cannot be fused yet (mlp and cnn can); train these trials apart");
  }
  std::vector<double> dropouts;
  for (const ModelSpec& member : specs) dropouts.push_back(spec.type == "mlp" ? member.mlp.dropout : member.cnn.dropout);
  MemberDropout dropout(dropouts, members.front()->Parameters().front().device());
  Stacker stacker(members);
  if (spec.type == "mlp") return FuseMlp(spec.mlp, stacker, std::move(dropout));
  return FuseCnn(spec.cnn, stacker, std::move(dropout));
}

}  // namespace orchard::train
