#include "core/fusion.h"

#include <algorithm>
#include <map>

namespace orchard {
namespace {

std::string FieldOf(const std::string& override_pair) { return override_pair.substr(0, override_pair.find('=')); }

// A member's overrides but for fusable fields, each field at its last value (a later --set wins).
std::map<std::string, std::string> ShapeDefiningOverrides(const Recipe& recipe) {
  std::map<std::string, std::string> kept;
  for (const std::string& pair : recipe.overrides) {
    const std::string field = FieldOf(pair);
    if (!CheckFusableField(field).ok()) kept[field] = pair;
  }
  return kept;
}

std::string JoinFields() {
  std::string joined;
  for (const std::string& field : FusableFields()) joined += (joined.empty() ? "" : ", ") + field;
  return joined;
}

// Multiply-adds, parameters and activation values of one sample through the model.
struct ModelSize {
  double macs = 0;
  double parameters = 0;
  double activations = 0;
};

ModelSize MlpSize(const MlpSpec& spec, int64_t inputs, int64_t outputs) {
  std::vector<int64_t> widths = {inputs};
  widths.insert(widths.end(), spec.hidden.begin(), spec.hidden.end());
  widths.push_back(outputs);
  ModelSize size;
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    const double product = static_cast<double>(widths[i]) * static_cast<double>(widths[i + 1]);
    size.macs += product;
    size.parameters += product + static_cast<double>(widths[i + 1]);
    size.activations += 2.0 * static_cast<double>(widths[i + 1]);  // before and after the activation
  }
  return size;
}

// The residual network as the trainer lays it out (worker/train/models.cc): a 3x3 stem and its batch
// norm, then stages of residual blocks, each stage after the first halving the resolution and
// doubling the width, a block whose shape changes with a 1x1 shortcut; a linear head.
ModelSize CnnSize(const CnnSpec& spec, const std::vector<int64_t>& shape, int64_t outputs) {
  ModelSize size;
  int64_t height = shape[1], width = shape[2];
  // A convolution (padding 1 for 3x3, none for 1x1), each output kept three times (convolution,
  // batch norm, activation); its batch norm's scale and shift when `normed`.
  auto conv = [&](int64_t in, int64_t out, int64_t kernel, int64_t stride, bool normed) {
    const int64_t h = (height - 1) / stride + 1, w = (width - 1) / stride + 1;
    const double weights = static_cast<double>(out * in * kernel * kernel);
    size.macs += weights * static_cast<double>(h * w);
    size.parameters += weights + (normed ? 2.0 * static_cast<double>(out) : 0.0);
    size.activations += 3.0 * static_cast<double>(out * h * w);
    return std::pair<int64_t, int64_t>{h, w};
  };
  conv(shape[0], spec.channels, 3, 1, true);
  int64_t channels = spec.channels;
  for (int64_t stage = 0; stage <= spec.stages; ++stage) {
    const int64_t out = stage == 0 ? channels : channels * 2;
    for (int64_t block = 0; block < spec.blocks; ++block) {
      const int64_t in = block == 0 ? channels : out, stride = stage > 0 && block == 0 ? 2 : 1;
      if (stride != 1 || in != out) conv(in, out, 1, stride, false);
      const auto [h, w] = conv(in, out, 3, stride, true);
      height = h, width = w;
      conv(out, out, 3, 1, true);
    }
    channels = out;
  }
  size.macs += static_cast<double>(channels * outputs);
  size.parameters += static_cast<double>(channels * outputs + outputs);
  size.activations += static_cast<double>(outputs);
  return size;
}

}  // namespace

const std::vector<std::string>& FusableFields() {
  static const std::vector<std::string> fields = {
      "optimizer.lr",        "optimizer.momentum",  "optimizer.nesterov",  "optimizer.beta1",
      "optimizer.beta2",     "optimizer.eps",       "optimizer.weight_decay", "schedule.type",
      "schedule.warmup_steps", "schedule.min_lr_ratio", "schedule.step_size", "schedule.gamma",
      "train.grad_clip",     "model.dropout"};
  return fields;
}

Status CheckFusableField(const std::string& field) {
  const auto& fields = FusableFields();
  if (std::find(fields.begin(), fields.end(), field) != fields.end()) return OkStatus();
  return InvalidArgument(field + " changes a tensor's shape, the batches or the optimizer's state, so trials that differ "
                         "in it cannot be fused; fused trials may differ only in " + JoinFields());
}

Status CheckFusableGroup(const std::vector<Recipe>& members) {
  if (members.size() < 2) return InvalidArgument("a fused group needs at least 2 members, got " + std::to_string(members.size()));
  const Recipe& first = members.front();
  const auto first_fixed = ShapeDefiningOverrides(first);
  auto setting = [](const std::map<std::string, std::string>& fixed, const std::string& field) {
    const auto it = fixed.find(field);
    return it == fixed.end() ? "keeps the recipe's " + field : "sets " + it->second;
  };
  for (size_t i = 1; i < members.size(); ++i) {
    const std::string member = "fused member " + std::to_string(i);
    if (members[i].file != first.file) {
      return InvalidArgument(member + " is recipe " + members[i].file + ", member 0 is " + first.file +
                             "; a fused group trains one recipe");
    }
    const auto fixed = ShapeDefiningOverrides(members[i]);
    std::map<std::string, std::string> fields = fixed;
    fields.insert(first_fixed.begin(), first_fixed.end());
    for (const auto& [field, unused] : fields) {
      if (setting(fixed, field) == setting(first_fixed, field)) continue;
      return InvalidArgument(member + " " + setting(fixed, field) + " where member 0 " +
                             setting(first_fixed, field) + ": " + CheckFusableField(field).message());
    }
  }
  return OkStatus();
}

std::optional<FusedMemberCost> EstimateFusedMemberCost(const Recipe& recipe) {
  const DataSpec& data = recipe.data;
  std::vector<int64_t> shape = data.shape;
  if (shape.empty() && data.type == "synthetic") shape = {data.features};
  if (shape.empty() && data.type == "digits") shape = {1, 8, 8};
  int64_t outputs = 0;
  if (data.task == "regression") outputs = 1;
  else if (data.type == "synthetic") outputs = data.classes;
  else if (data.type == "digits") outputs = 10;
  if (shape.empty() || outputs == 0) return std::nullopt;
  int64_t inputs = 1;
  for (int64_t d : shape) inputs *= d;
  ModelSize size;
  if (recipe.model.type == "mlp") size = MlpSize(recipe.model.mlp, inputs, outputs);
  else if (recipe.model.type == "cnn" && shape.size() == 3) size = CnnSize(recipe.model.cnn, shape, outputs);
  else return std::nullopt;
  const OptimizerSpec& optimizer = recipe.optimizer;
  const double states = optimizer.type == "sgd" ? 1 : 2;  // momentum (members may differ in it); Adam's two moments
  // Training keeps a batch's activations for backward, which makes gradients of about their size;
  // evaluation runs chunks of at least 256 rows forward only.
  const double rows = std::max<double>(2.0 * static_cast<double>(recipe.train.batch_size), 256.0);
  FusedMemberCost cost;
  cost.parameters = static_cast<int64_t>(size.parameters);
  cost.bytes = static_cast<int64_t>(sizeof(float) * (size.parameters * (2.0 + states) + size.activations * rows));
  cost.step_flops = 6.0 * size.macs * static_cast<double>(recipe.train.batch_size * recipe.train.grad_accumulation);
  return cost;
}

}  // namespace orchard
