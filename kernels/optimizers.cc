// Fused multi-tensor optimizers: the host-side checks and layout shared with the CUDA kernels, and
// the CPU twin (vectorized loops over chunks, chunks spread over the kernels' CPU threads).
#include <cmath>
#include <string>

#include "kernels/internal.h"

namespace orchard::kernels {
namespace detail {
namespace {

const char* KindName(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSgd: return "sgd";
    case OptimizerKind::kAdam: return "adam";
    case OptimizerKind::kAdamW: return "adamw";
  }
  return "?";
}

}  // namespace

GroupCoefficients Coefficients(OptimizerKind kind, const OptimizerGroup& g) {
  GroupCoefficients c{};
  c.grad_scale = static_cast<float>(g.grad_scale);
  const bool decoupled = kind == OptimizerKind::kAdamW;
  c.weight_decay = decoupled ? 0.0f : static_cast<float>(g.weight_decay);
  c.decay_factor = static_cast<float>(1.0 - g.lr * g.weight_decay);
  c.beta1 = static_cast<float>(g.beta1);
  c.one_minus_beta1 = static_cast<float>(1.0 - g.beta1);
  c.beta2 = static_cast<float>(g.beta2);
  c.one_minus_beta2 = static_cast<float>(1.0 - g.beta2);
  const double bias_correction1 = 1.0 - std::pow(g.beta1, static_cast<double>(g.step));
  const double bias_correction2 = 1.0 - std::pow(g.beta2, static_cast<double>(g.step));
  c.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  c.neg_step_size = static_cast<float>(-(g.lr / bias_correction1));
  c.eps = static_cast<float>(g.eps);
  c.momentum = static_cast<float>(g.momentum);
  c.one_minus_dampening = static_cast<float>(1.0 - g.dampening);
  c.neg_lr = static_cast<float>(-g.lr);
  c.nesterov = g.nesterov ? 1 : 0;
  c.first_step = g.step == 1 ? 1 : 0;
  return c;
}

Status ValidateGroup(OptimizerKind kind, const OptimizerGroup& g, size_t index) {
  const std::string where = std::string(KindName(kind)) + " group " + std::to_string(index) + ": ";
  for (auto [name, value] : {std::pair{"lr", g.lr}, {"beta1", g.beta1}, {"beta2", g.beta2}, {"eps", g.eps},
                             {"weight_decay", g.weight_decay}, {"momentum", g.momentum}, {"dampening", g.dampening},
                             {"grad_scale", g.grad_scale}}) {
    if (!std::isfinite(value)) return InvalidArgument(where + name + " must be finite, found " + std::to_string(value));
  }
  if (g.lr < 0) return InvalidArgument(where + "lr must be >= 0, found " + std::to_string(g.lr));
  if (g.weight_decay < 0) return InvalidArgument(where + "weight_decay must be >= 0, found " + std::to_string(g.weight_decay));
  if (g.step < 1) return InvalidArgument(where + "step counts steps including this one and must be >= 1, found " + std::to_string(g.step));
  if (kind == OptimizerKind::kSgd) {
    if (g.momentum < 0) return InvalidArgument(where + "momentum must be >= 0, found " + std::to_string(g.momentum));
    if (g.nesterov && (g.momentum <= 0 || g.dampening != 0)) {
      return InvalidArgument(where + "nesterov needs momentum > 0 and dampening 0");
    }
  } else {
    if (g.beta1 < 0 || g.beta1 >= 1 || g.beta2 < 0 || g.beta2 >= 1) {
      return InvalidArgument(where + "betas must be in [0, 1), found " + std::to_string(g.beta1) + ", " + std::to_string(g.beta2));
    }
    if (g.eps <= 0) return InvalidArgument(where + "eps must be > 0, found " + std::to_string(g.eps));
  }
  return OkStatus();
}

Status ValidateTensors(OptimizerKind kind, const std::vector<OptimizerTensor>& tensors, size_t group_count) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    const OptimizerTensor& t = tensors[i];
    const std::string where = std::string(KindName(kind)) + " tensor " + std::to_string(i) + ": ";
    if (t.size < 0) return InvalidArgument(where + "size must be >= 0, found " + std::to_string(t.size));
    if (t.group < 0 || static_cast<size_t>(t.group) >= group_count) {
      return InvalidArgument(where + "group " + std::to_string(t.group) + " is out of range (" + std::to_string(group_count) + " groups)");
    }
    if (t.size == 0) continue;
    if (!t.param || !t.grad) return InvalidArgument(where + "param and grad must not be null");
    if (kind != OptimizerKind::kSgd && (!t.exp_avg || !t.exp_avg_sq)) {
      return InvalidArgument(where + "exp_avg and exp_avg_sq must not be null");
    }
    if (t.param_type == ParamType::kBFloat16 && !t.master) {
      return InvalidArgument(where + "a bf16 param needs fp32 master weights");
    }
  }
  return OkStatus();
}

Status CheckMomentumBuffers(OptimizerKind kind, const std::vector<OptimizerTensor>& tensors, const std::vector<OptimizerGroup>& groups) {
  if (kind != OptimizerKind::kSgd) return OkStatus();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const OptimizerTensor& t = tensors[i];
    if (t.size > 0 && static_cast<float>(groups[t.group].momentum) != 0.0f && !t.exp_avg) {
      return InvalidArgument("sgd tensor " + std::to_string(i) + ": momentum needs a momentum buffer (exp_avg)");
    }
  }
  return OkStatus();
}

std::vector<Chunk> PlanChunks(const std::vector<int64_t>& sizes, int64_t chunk_elements) {
  std::vector<Chunk> chunks;
  for (size_t t = 0; t < sizes.size(); ++t) {
    for (int64_t b = 0; b < sizes[t]; b += chunk_elements) {
      chunks.push_back({static_cast<int32_t>(t), b, std::min(sizes[t], b + chunk_elements)});
    }
  }
  return chunks;
}

GroupChunks PlanGroupChunks(const std::vector<GradientGroup>& groups) {
  GroupChunks plan;
  for (const GradientGroup& group : groups) {
    plan.group_begin.push_back(static_cast<int64_t>(plan.chunks.size()));
    std::vector<int64_t> sizes;
    for (const FloatSpan& g : group.grads) sizes.push_back(g.size);
    const auto first_span = static_cast<int32_t>(plan.spans.size());
    for (Chunk chunk : PlanChunks(sizes, kChunkElements)) chunk.tensor += first_span, plan.chunks.push_back(chunk);
    plan.spans.insert(plan.spans.end(), group.grads.begin(), group.grads.end());
  }
  plan.group_begin.push_back(static_cast<int64_t>(plan.chunks.size()));
  return plan;
}

}  // namespace detail

namespace {

using detail::Chunk;
using detail::GroupCoefficients;

// The loops below are the CPU twin; `restrict` and the branch-free bodies let them vectorize.
template <bool kDecoupled>
ORCHARD_CPU_CLONES void AdamRange(const GroupCoefficients c, float* __restrict p, const float* __restrict g,
                                  float* __restrict m, float* __restrict v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float pi = p[i], mi = m[i], vi = v[i];
    detail::AdamElement(kDecoupled, c, pi, g[i], mi, vi);
    p[i] = pi, m[i] = mi, v[i] = vi;
  }
}

template <bool kMomentum>
ORCHARD_CPU_CLONES void SgdRange(const GroupCoefficients c, float* __restrict p, const float* __restrict g,
                                 float* __restrict buf, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float pi = p[i];
    float bi = kMomentum ? buf[i] : 0.0f;
    detail::SgdElement(kMomentum, c, pi, g[i], bi);
    p[i] = pi;
    if (kMomentum) buf[i] = bi;
  }
}

ORCHARD_CPU_CLONES void RoundToBf16(const float* __restrict src, uint16_t* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = detail::FloatToBf16(src[i]);
}

class CpuOptimizer final : public MultiTensorOptimizer {
 public:
  CpuOptimizer(OptimizerKind kind, std::vector<OptimizerTensor> tensors, size_t group_count)
      : MultiTensorOptimizer(kind, std::move(tensors), group_count) {
    std::vector<int64_t> sizes;
    for (const OptimizerTensor& t : tensors_) sizes.push_back(t.size), total_ += t.size;
    chunks_ = detail::PlanChunks(sizes, detail::kChunkElements);
  }

  Status Step(const std::vector<OptimizerGroup>& groups, const StepVerdict* verdicts, Stream) override {
    if (groups.size() != group_count_) {
      return InvalidArgument("optimizer step: " + std::to_string(groups.size()) + " groups given, the optimizer has " +
                             std::to_string(group_count_));
    }
    std::vector<GroupCoefficients> coefficients;
    std::vector<char> skipped(groups.size(), 0);
    for (size_t i = 0; i < groups.size(); ++i) {
      RETURN_IF_ERROR(detail::ValidateGroup(kind_, groups[i], i));
      coefficients.push_back(detail::Coefficients(kind_, groups[i]));
      if (verdicts != nullptr) coefficients.back().grad_scale *= verdicts[i].scale, skipped[i] = verdicts[i].skip != 0;
    }
    RETURN_IF_ERROR(detail::CheckMomentumBuffers(kind_, tensors_, groups));
    detail::ParallelFor(static_cast<int64_t>(chunks_.size()), total_, [&](int64_t i) {
      const Chunk& chunk = chunks_[i];
      const OptimizerTensor& t = tensors_[chunk.tensor];
      if (!skipped[t.group]) StepChunk(t, coefficients[t.group], chunk.begin, chunk.end - chunk.begin);
    });
    return OkStatus();
  }

 private:
  void StepChunk(const OptimizerTensor& t, const GroupCoefficients& c, int64_t begin, int64_t n) const {
    const bool bf16 = t.param_type == ParamType::kBFloat16;
    float* p = (bf16 ? t.master : static_cast<float*>(t.param)) + begin;
    const float* g = t.grad + begin;
    switch (kind_) {
      case OptimizerKind::kAdamW: AdamRange<true>(c, p, g, t.exp_avg + begin, t.exp_avg_sq + begin, n); break;
      case OptimizerKind::kAdam: AdamRange<false>(c, p, g, t.exp_avg + begin, t.exp_avg_sq + begin, n); break;
      case OptimizerKind::kSgd:
        if (c.momentum != 0.0f) SgdRange<true>(c, p, g, t.exp_avg + begin, n); else SgdRange<false>(c, p, g, nullptr, n);
        break;
    }
    if (bf16) RoundToBf16(p, static_cast<uint16_t*>(t.param) + begin, n);
  }

  std::vector<Chunk> chunks_;
  int64_t total_ = 0;
};

}  // namespace

StatusOr<std::unique_ptr<MultiTensorOptimizer>> MultiTensorOptimizer::Create(OptimizerKind kind, std::vector<OptimizerTensor> tensors,
                                                                            size_t group_count, Device device) {
  RETURN_IF_ERROR(detail::ValidateTensors(kind, tensors, group_count));
  if (device == Device::kCuda) return detail::CreateCudaOptimizer(kind, std::move(tensors), group_count);
  return std::unique_ptr<MultiTensorOptimizer>(std::make_unique<CpuOptimizer>(kind, std::move(tensors), group_count));
}

}  // namespace orchard::kernels
