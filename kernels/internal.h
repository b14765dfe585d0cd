// Internal to kernels/: the per-element optimizer updates, shared by the CPU twins (g++) and the CUDA
// kernels (nvcc) so both compute the same thing; the host-side checks and layout they both use; the
// CPU thread pool; and the CUDA side's entry points (stand-ins when CUDA is not compiled in).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "kernels/kernels.h"

#ifdef __CUDACC__
#define ORCHARD_HD __host__ __device__ __forceinline__
#else
#define ORCHARD_HD inline
#endif

namespace orchard::kernels::detail {

// A group's hyperparameters for one step as the kernels read them: float coefficients derived on the
// host in double, the way torch::optim derives its scalars.
struct GroupCoefficients {
  float grad_scale;
  float weight_decay;           // SGD/Adam: added to the gradient as weight_decay * param
  float decay_factor;           // AdamW: param *= 1 - lr * weight_decay
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float bias_correction2_sqrt;  // Adam/AdamW
  float neg_step_size;          // Adam/AdamW: -lr / bias_correction1
  float eps;
  float momentum, one_minus_dampening, neg_lr;  // SGD
  int32_t nesterov;
  int32_t first_step;           // SGD: the momentum buffer starts as the gradient
};

GroupCoefficients Coefficients(OptimizerKind kind, const OptimizerGroup& g);

// Checks a group's hyperparameters; `index` names it in the message.
Status ValidateGroup(OptimizerKind kind, const OptimizerGroup& g, size_t index);

// Checks tensors before a plan is made.
Status ValidateTensors(OptimizerKind kind, const std::vector<OptimizerTensor>& tensors, size_t group_count);

// SGD with momentum needs each of its tensors' momentum buffer (groups already checked for size).
Status CheckMomentumBuffers(OptimizerKind kind, const std::vector<OptimizerTensor>& tensors, const std::vector<OptimizerGroup>& groups);

// A contiguous range of one tensor's elements: the unit of work of a thread (CPU) or a block (CUDA).
struct Chunk {
  int32_t tensor;
  int64_t begin;
  int64_t end;
};

constexpr int64_t kChunkElements = int64_t{1} << 16;

// Cuts every tensor into chunks of at most chunk_elements, in order; zero-size tensors get none.
std::vector<Chunk> PlanChunks(const std::vector<int64_t>& sizes, int64_t chunk_elements);

// JudgeGradients' layout: every group's buffers in group order, cut into chunks; group g's chunks are
// [group_begin[g], group_begin[g + 1]).
struct GroupChunks {
  std::vector<FloatSpan> spans;
  std::vector<Chunk> chunks;
  std::vector<int64_t> group_begin;  // groups + 1 entries
};
GroupChunks PlanGroupChunks(const std::vector<GradientGroup>& groups);

// The CPU twins' loops are compiled for AVX-512, AVX2 and baseline x86-64; the loader picks one.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define ORCHARD_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ORCHARD_CPU_CLONES
#endif


// Runs fn(i) for every i in [0, count) on the CPU threads (the caller's included), each i exactly
// once, in no particular order; returns when all are done. Work items together cover
// `total_elements`; below four chunks' worth, waking the threads costs more than the work, so the
// items run inline.
void ParallelFor(int64_t count, int64_t total_elements, const std::function<void(int64_t)>& fn);

// How many threads ParallelFor runs work items on (SetCpuThreads' number, or the machine's cores).
int ParallelThreads();

// The CUDA halves of the public functions (kernels_cuda.cu, or kernels_nocuda.cc without nvcc).
Status JudgeGradientsCuda(const std::vector<GradientGroup>& groups, const float* losses, StepVerdict* verdicts,
                          Stream stream);
StatusOr<std::unique_ptr<MultiTensorOptimizer>> CreateCudaOptimizer(OptimizerKind kind, std::vector<OptimizerTensor> tensors,
                                                                    size_t group_count);
Status CastToHalfCuda(const float* src, uint16_t* dst, int64_t size, HalfType type, Stream stream);
Status CastFromHalfCuda(const uint16_t* src, float* dst, int64_t size, HalfType type, float scale, Stream stream);

ORCHARD_HD bool IsFinite(double x) {
#ifdef __CUDA_ARCH__
  return isfinite(x);
#else
  return std::isfinite(x);
#endif
}

// 1, or max_norm / (norm + 1e-6) when a finite norm is above max_norm > 0 (torch's clip_grad_norm_).
ORCHARD_HD double ClipCoefficient(double norm, double max_norm) {
  if (!IsFinite(norm) || max_norm <= 0 || norm <= max_norm) return 1.0;
  return max_norm / (norm + 1e-6);
}

// One judged step's entry in the verdict, the same on host and device. `sum_of_squares` is the
// gradients'; `loss` may be null.
ORCHARD_HD void RecordJudgement(StepVerdict& v, double sum_of_squares, const float* loss, double max_norm) {
  const double norm = sqrt(sum_of_squares);
  const bool finite = IsFinite(norm) && (loss == nullptr || IsFinite(*loss));
  v.steps += 1;
  if (!finite && v.skip == 0) {
    v.first_nonfinite = v.steps;
    v.nonfinite_loss = loss != nullptr ? *loss : 0.0;
    v.nonfinite_norm = norm;
  }
  if (!finite) v.skip = 1;
  v.scale = static_cast<float>(ClipCoefficient(norm, max_norm));
  if (loss != nullptr) v.loss_sum += *loss;
  v.last_norm = norm;
}

// bf16 <-> float, round to nearest even (NaN stays a quiet NaN), identical on host and device.
ORCHARD_HD uint32_t FloatBits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}
ORCHARD_HD float BitsFloat(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}
ORCHARD_HD uint16_t FloatToBf16(float f) {
  uint32_t u = FloatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
ORCHARD_HD float Bf16ToFloat(uint16_t h) { return BitsFloat(static_cast<uint32_t>(h) << 16); }

// The updates, element by element, in torch::optim's order of operations and with its roundings:
// ATen computes `a.add_(b, alpha)` and `a.addcmul_(b, c, value)` as fused multiply-adds, so these do
// too (fmaf: one instruction on AVX2/AVX-512 and on the GPU). p is the fp32 value (the master weight
// for bf16 params).
ORCHARD_HD void AdamElement(bool decoupled, const GroupCoefficients& c, float& p, float g, float& m, float& v) {
  g = g * c.grad_scale;
  if (decoupled) {
    p = p * c.decay_factor;
  } else {
    g = fmaf(c.weight_decay, p, g);
  }
  m = fmaf(c.one_minus_beta1, g, m * c.beta1);
  v = fmaf(c.one_minus_beta2 * g, g, v * c.beta2);
  const float denom = sqrtf(v) / c.bias_correction2_sqrt + c.eps;
  p = p + c.neg_step_size * m / denom;
}

ORCHARD_HD void SgdElement(bool with_momentum, const GroupCoefficients& c, float& p, float g, float& buf) {
  float d = fmaf(c.weight_decay, p, g * c.grad_scale);
  if (with_momentum) {
    buf = c.first_step ? d : fmaf(c.one_minus_dampening, d, buf * c.momentum);
    d = c.nesterov ? fmaf(c.momentum, buf, d) : buf;
  }
  p = fmaf(c.neg_lr, d, p);
}

}  // namespace orchard::kernels::detail
