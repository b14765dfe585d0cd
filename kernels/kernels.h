// Orchard's kernels: fused multi-tensor optimizers, the global gradient norm and clip, casts of
// gradient buckets to 16-bit floats, and the CPU's softmax rows and batch norm. Every kernel but the
// last two exists twice with the same semantics: a CUDA kernel for device buffers and a CPU twin
// (vectorized loops, threads over chunks) for host buffers, which is also the reference in tests.
// No torch types: callers pass raw buffers.
//
//   std::vector<OptimizerTensor> tensors = {{param, grad, exp_avg, exp_avg_sq}, ...};
//   auto adamw = MultiTensorOptimizer::Create(OptimizerKind::kAdamW, tensors, /*group_count=*/1, Device::kCpu);
//   StepVerdict verdict{};  // zeroed; in device memory for Device::kCuda
//   Status judged = JudgeGradients({{grads, /*max_norm=*/1.0}}, &loss, Device::kCpu, &verdict);
//   OptimizerGroup group{.lr = 1e-3, .step = ++step};
//   Status s = (*adamw)->Step({group}, &verdict);
//
// Several models stepped together (the members of a fused group) are one parameter group each: one
// judgement and one optimizer step serve them all, each group with its own verdict.
//
// Functions and objects are thread-compatible: callers must not touch the buffers concurrently.
// CUDA work is queued on the stream the caller names and never waited for, except where a function
// says it reads results back.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"

namespace orchard::kernels {

enum class Device { kCpu, kCuda };

// Whether this build has the CUDA kernels and a device to run them on.
bool CudaKernelsAvailable();

// Threads the CPU twins use (the caller's thread included); 0: one per core. Call before stepping.
void SetCpuThreads(int threads);

// A cudaStream_t as an opaque pointer, so callers need no CUDA headers; nullptr is the legacy default
// stream. A caller that computes with LibTorch passes its current stream. The CPU twins ignore it.
using Stream = void*;

struct FloatSpan {
  float* data;
  int64_t size;  // elements; 64-bit so tensors over 2^31 elements are addressed correctly
};

// ---- Global gradient norm, clip coefficient and divergence guard ----

// What JudgeGradients finds, kept where the optimizer reads it (device memory for Device::kCuda,
// host memory for kCpu), so a training step never waits for the GPU: the host reads the tallies when
// it chooses (once per log interval) and zeroes them (all fields 0) to start the next tally.
struct StepVerdict {
  // Written at every judged step; MultiTensorOptimizer::Step reads them.
  float scale;               // clip coefficient: 1, or max_norm / (norm + 1e-6) when norm > max_norm
  int32_t skip;              // 1 once a loss or gradient was not finite: steps leave everything as is
  // Tallied since the verdict was zeroed.
  int64_t steps;             // steps judged
  int64_t first_nonfinite;   // the judged step (counting from 1) that first set skip; 0: none
  double loss_sum;           // the judged steps' losses, summed in double
  double last_norm;          // the latest step's L2 gradient norm (inf/nan when not finite)
  double nonfinite_loss;     // the loss and the norm of step first_nonfinite
  double nonfinite_norm;
};

// The gradient buffers of one parameter group (a model, or one member of a fused group) and the norm
// its gradients are clipped to (<= 0: measured only).
struct GradientGroup {
  std::vector<FloatSpan> grads;
  double max_norm = 0;
};

// Queues one step's judgement of every group on `stream`: group g's L2 norm over its buffers
// (accumulated in double, the partial sums added in a fixed order: CPU and CUDA agree to rounding, and
// neither depends on the thread count or launch shape), whether it and losses[g] are finite, and its
// clip coefficient, written to verdicts[g]. `losses`: one float per group in the buffers' memory, or
// nullptr (no losses); `verdicts`: one per group, in that memory too. Gradients are not modified.
Status JudgeGradients(const std::vector<GradientGroup>& groups, const float* losses, Device device, StepVerdict* verdicts,
                      Stream stream = nullptr);

// ---- Fused multi-tensor optimizers ----

enum class OptimizerKind { kSgd, kAdam, kAdamW };
enum class ParamType { kFloat32, kBFloat16 };

// One parameter tensor and its state, all with `size` elements, contiguous, on the optimizer's device.
struct OptimizerTensor {
  void* param = nullptr;          // ParamType elements
  float* grad = nullptr;          // fp32 gradient (read only)
  float* exp_avg = nullptr;       // Adam/AdamW first moment; SGD momentum buffer (needed when momentum != 0)
  float* exp_avg_sq = nullptr;    // Adam/AdamW second moment
  float* master = nullptr;        // fp32 master weights, required for bf16 params (the update happens here)
  int64_t size = 0;
  int32_t group = 0;              // index into the groups passed to Step
  ParamType param_type = ParamType::kFloat32;
};

// Hyperparameters of one parameter group for one step. The semantics are torch::optim's (SGD with
// dampening and Nesterov; Adam with L2 weight decay added to the gradient; AdamW with decoupled decay).
struct OptimizerGroup {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;        // SGD
  double dampening = 0;       // SGD
  bool nesterov = false;      // SGD
  int64_t step = 1;           // steps taken including this one; SGD's momentum buffer starts at step 1
  double grad_scale = 1.0;    // multiplies every gradient first (the clip coefficient)
};

// The tensors are checked and laid out once (chunks of at most 64k elements; on CUDA a table in device
// memory); each Step then updates every tensor of every group in one pass (one kernel launch), reading
// the groups' coefficients from the tensors' memory, so one launch serves any number of groups.
class MultiTensorOptimizer {
 public:
  // Errors: a tensor with a null buffer it needs, a negative size, a group out of range, a bf16
  // param without master weights, or a CUDA build/device missing for Device::kCuda.
  static StatusOr<std::unique_ptr<MultiTensorOptimizer>> Create(OptimizerKind kind, std::vector<OptimizerTensor> tensors,
                                                                size_t group_count, Device device);
  virtual ~MultiTensorOptimizer() = default;

  // groups.size() must equal group_count; hyperparameters must be finite and in range (lr >= 0,
  // betas in [0, 1), eps > 0, step >= 1, nesterov only with momentum > 0 and no dampening).
  // With verdicts (one per group, in the optimizer's memory; JudgeGradients wrote them), group g's
  // gradients are also multiplied by verdicts[g].scale, and its tensors stay as they are when
  // verdicts[g].skip is set. The update is queued on `stream`, without waiting for it.
  virtual Status Step(const std::vector<OptimizerGroup>& groups, const StepVerdict* verdicts = nullptr,
                      Stream stream = nullptr) = 0;

 protected:
  MultiTensorOptimizer(OptimizerKind kind, std::vector<OptimizerTensor> tensors, size_t group_count)
      : kind_(kind), tensors_(std::move(tensors)), group_count_(group_count) {}
  OptimizerKind kind_;
  std::vector<OptimizerTensor> tensors_;
  size_t group_count_;
};

// ---- 16-bit casts of gradient buckets (compressed all-reduce) ----

enum class HalfType { kBFloat16, kFloat16 };

// dst[i] = round-to-nearest-even(src[i]); overflow becomes inf, NaN stays NaN.
Status CastToHalf(const float* src, uint16_t* dst, int64_t size, HalfType type, Device device, Stream stream = nullptr);
// dst[i] = float(src[i]) * scale (scale = 1/ranks turns a summed bucket into a mean).
Status CastFromHalf(const uint16_t* src, float* dst, int64_t size, HalfType type, float scale, Device device,
                    Stream stream = nullptr);

// ---- Softmax of rows of logits (the classification loss), CPU only ----

// For each of `rows` rows of `classes` logits: its softmax into `probabilities`, its max into
// `row_max[row]` and log(sum(exp(logit - max))) into `log_sum[row]` (logsumexp is their sum; kept
// apart, a loss of a confident row, log_sum - (logit - max), keeps its precision). A row with a logit
// that is not finite (inf or NaN) gets NaN throughout. A row's result depends on nothing but the row
// (not its place, the row count or the CPU's vector width), which the trainers rely on: a fused
// member's rows give exactly what its lone run's would. On a GPU the trainer uses LibTorch's
// cross-entropy instead, so there is no CUDA twin.
void SoftmaxRowsCpu(const float* logits, int64_t rows, int64_t classes, float* probabilities, float* row_max,
                    float* log_sum);

// ---- Batch norm over the channels of an image batch (the cnn's), CPU only ----

// Contiguous [batch, channels, plane] values, plane = height * width; with `channels_last`,
// [batch, plane, channels] (LibTorch's channels-last images, which a fused cnn's convolutions take).
struct BatchNormShape {
  int64_t batch, channels, plane;
  bool channels_last = false;
};

// One float per channel each. `mean` and `variance` (biased) are written by a forward pass with batch
// statistics and read by one without (the running statistics); `inv_std` = 1 / sqrt(variance + eps)
// is written by the forward pass and read by the backward one, as is `mean`.
struct ChannelStatistics {
  float* mean;
  float* variance;
  float* inv_std;
};

// y = (x - mean) * inv_std * weight + bias, then + residual and ReLU where given (weight, bias,
// residual may be nullptr; relu false: none). With `batch_statistics` each channel's mean and
// variance are its batch * plane values' (accumulated in double). A channel's arithmetic depends on
// nothing but its own values, so a fused member's channels get exactly what its lone run's would.
// LibTorch's batch norm over planes of a few pixels took most of a fused cnn's time outside its
// convolutions, and its ReLU and residual sum each another pass over the activations. On a GPU the
// trainer uses LibTorch's (cuDNN's), so there is no CUDA twin.
void BatchNormForwardCpu(const float* x, BatchNormShape shape, bool batch_statistics, float eps, const float* weight,
                         const float* bias, const float* residual, bool relu, ChannelStatistics stats, float* y);

// The gradients of BatchNormForwardCpu: from the output's gradient `grad_y`, its output `y` (for the
// ReLU; nullptr when it had none), its input `x` and the statistics it wrote. Outputs may be nullptr
// where not needed; `grad_residual` is the gradient after the ReLU.
void BatchNormBackwardCpu(const float* grad_y, const float* y, const float* x, BatchNormShape shape, bool batch_statistics,
                          const float* weight, ChannelStatistics stats, float* grad_x, float* grad_residual,
                          float* grad_weight, float* grad_bias);

}  // namespace orchard::kernels
