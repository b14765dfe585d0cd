// The training losses both trainers take (trainer_internal.h).
#include <torch/torch.h>

#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "worker/train/trainer_internal.h"

namespace orchard::train {

namespace {

// ClassificationLosses on the CPU. Rows are taken one at a time, and a row's arithmetic depends on
// nothing but the row, so a fused member's loss and gradient are its lone run's bit for bit.
// LibTorch's log-softmax over rows of few classes costs about 0.14 us a row of 8 (a fifth of a fused
// mlp's step); kernels::SoftmaxRowsCpu takes a fraction of that.
class CpuClassificationLosses final : public torch::autograd::Function<CpuClassificationLosses> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& logits,
                               const torch::Tensor& targets, bool sum) {
    TORCH_CHECK(logits.dim() == 3 && logits.scalar_type() == torch::kFloat32,
                "classification losses take float logits [models, batch, classes], got ", logits.sizes());
    TORCH_CHECK(targets.dim() == 1 && targets.size(0) == logits.size(1) && targets.is_cpu() &&
                    targets.scalar_type() == torch::kInt64,
                "classification losses take one int64 class per sample on the CPU, got ", targets.sizes());
    const torch::Tensor z = logits.contiguous();
    const torch::Tensor t = targets.contiguous();
    const int64_t groups = z.size(0), batch = z.size(1), classes = z.size(2);
    const int64_t* target = t.data_ptr<int64_t>();
    for (int64_t b = 0; b < batch; ++b) {
      TORCH_CHECK(target[b] >= 0 && target[b] < classes, "target ", target[b], " of sample ", b,
                  " is not a class of this model (0 to ", classes - 1, "): check data.classes and the data's labels");
    }
    torch::Tensor probabilities = torch::empty_like(z);
    torch::Tensor losses = torch::empty({groups}, z.options());
    const float* rows = z.data_ptr<float>();
    std::vector<float> row_max(static_cast<size_t>(groups * batch)), log_sum(row_max.size());
    kernels::SoftmaxRowsCpu(rows, groups * batch, classes, probabilities.data_ptr<float>(), row_max.data(),
                            log_sum.data());
    float* loss = losses.data_ptr<float>();
    for (int64_t g = 0; g < groups; ++g) {
      double total = 0;
      for (int64_t b = 0; b < batch; ++b) {
        const int64_t row = g * batch + b;
        // -log softmax(z)[target], the max taken off first: a confident row's small loss survives.
        total += static_cast<double>(log_sum[row] - (rows[row * classes + target[b]] - row_max[row]));
      }
      loss[g] = static_cast<float>(sum ? total : total / static_cast<double>(batch));
    }
    ctx->save_for_backward({probabilities, t});
    ctx->saved_data["sum"] = sum;
    return losses;
  }

  // d loss_g / d z = (softmax(z) - one_hot(target)), over the batch for a mean.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& probabilities = saved[0];
    const int64_t groups = probabilities.size(0), batch = probabilities.size(1), classes = probabilities.size(2);
    const torch::Tensor grad = grads[0].to(torch::kFloat32).contiguous();
    const float per_row = ctx->saved_data["sum"].toBool() ? 1.0f : 1.0f / static_cast<float>(batch);
    torch::Tensor out = torch::empty_like(probabilities);
    const float* p = probabilities.data_ptr<float>();
    float* d = out.data_ptr<float>();
    const int64_t* target = saved[1].data_ptr<int64_t>();
    for (int64_t g = 0; g < groups; ++g) {
      const float scale = grad.data_ptr<float>()[g] * per_row;
      for (int64_t b = 0; b < batch; ++b, p += classes, d += classes) {
        for (int64_t c = 0; c < classes; ++c) d[c] = scale * p[c];
        d[target[b]] = scale * (p[target[b]] - 1.0f);
      }
    }
    return {out, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor ClassificationLosses(const torch::Tensor& logits, const torch::Tensor& targets, bool sum) {
  const torch::Tensor z = logits.to(torch::kFloat32);
  if (z.is_cpu()) return CpuClassificationLosses::apply(z, targets, sum);
  namespace F = torch::nn::functional;
  const int64_t groups = z.size(0);
  const torch::Tensor each = F::cross_entropy(z.reshape({-1, z.size(-1)}), targets.repeat({groups}),
                                              F::CrossEntropyFuncOptions().reduction(torch::kNone))
                                 .view({groups, -1});
  return sum ? each.sum(1) : each.mean(1);
}

torch::Tensor Loss(const std::string& task, const torch::Tensor& out, const torch::Tensor& targets, bool sum) {
  namespace F = torch::nn::functional;
  if (task == "regression") {
    auto options = sum ? F::MSELossFuncOptions(torch::kSum) : F::MSELossFuncOptions(torch::kMean);
    return F::mse_loss(out.squeeze(-1).to(torch::kFloat32), targets, options);
  }
  if (task == "language_model") {
    auto options = F::CrossEntropyFuncOptions();
    if (sum) options.reduction(torch::kSum);
    return F::cross_entropy(out.reshape({-1, out.size(-1)}), targets.reshape(-1), options);
  }
  return ClassificationLosses(out.unsqueeze(0), targets, sum).squeeze(0);
}

}  // namespace orchard::train
