#include "worker/train/data_parallel.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <numeric>

namespace orchard::train {

std::vector<std::vector<size_t>> PlanBuckets(const std::vector<int64_t>& parameter_bytes, int64_t bucket_bytes) {
  std::vector<std::vector<size_t>> buckets;
  int64_t filled = 0;
  for (size_t i = parameter_bytes.size(); i-- > 0;) {
    if (buckets.empty() || filled >= bucket_bytes) buckets.emplace_back(), filled = 0;
    buckets.back().push_back(i);
    filled += parameter_bytes[i];
  }
  return buckets;
}

StatusOr<comm::Buffer> BufferOf(const torch::Tensor& tensor) {
  if (!tensor.is_contiguous()) return InvalidArgument("collective on a non-contiguous tensor");
  comm::DataType type;
  switch (tensor.scalar_type()) {
    case torch::kFloat32: type = comm::DataType::kFloat32; break;
    case torch::kFloat64: type = comm::DataType::kFloat64; break;
    case torch::kInt64: type = comm::DataType::kInt64; break;
    case torch::kUInt8: type = comm::DataType::kUInt8; break;
    default:
      return InvalidArgument(std::string("collective on a tensor of ") + c10::toString(tensor.scalar_type()) +
                             ": float32, float64, int64 and uint8 are supported");
  }
  return comm::Buffer{tensor.data_ptr(), tensor.numel(), type};
}

Status BroadcastTensors(comm::Communicator& comm, const std::vector<torch::Tensor>& tensors, int root) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& tensor : tensors) {
    torch::Tensor target = tensor.is_contiguous() ? tensor : tensor.contiguous();
    ASSIGN_OR_RETURN(comm::Buffer buffer, BufferOf(target));
    RETURN_IF_ERROR(comm.Broadcast(buffer, root));
    if (!target.is_same(tensor)) tensor.copy_(target);
  }
  return OkStatus();
}

class GradientReducer::Hook : public torch::autograd::PostAccumulateGradHook {
 public:
  Hook(GradientReducer* reducer, size_t parameter) : reducer_(reducer), parameter_(parameter) {}
  void operator()(const torch::autograd::Variable&) override { reducer_->OnGradientAccumulated(parameter_); }

 private:
  GradientReducer* reducer_;
  size_t parameter_;
};

GradientReducer::GradientReducer(std::vector<torch::Tensor> parameters, comm::Communicator* comm, int64_t bucket_bytes,
                                 bool overlap)
    : parameters_(std::move(parameters)), comm_(comm), overlap_(overlap) {
  std::vector<int64_t> bytes;
  for (const torch::Tensor& p : parameters_) {
    TORCH_CHECK(p.scalar_type() == torch::kFloat32, "data-parallel training needs float32 parameters, found ",
                p.scalar_type());
    bytes.push_back(p.numel() * static_cast<int64_t>(sizeof(float)));
  }
  buckets_ = PlanBuckets(bytes, bucket_bytes);
  bucket_of_.resize(parameters_.size());
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    int64_t numel = 0;
    for (size_t i : buckets_[b]) numel += parameters_[i].numel();
    torch::Tensor flat = torch::zeros({numel}, parameters_[buckets_[b].front()].options());
    int64_t offset = 0;
    for (size_t i : buckets_[b]) {
      torch::Tensor& p = parameters_[i];
      bucket_of_[i] = b;
      p.mutable_grad() = flat.narrow(0, offset, p.numel()).view(p.sizes());
      offset += p.numel();
      torch::autograd::impl::set_post_acc_grad_hooks(p, std::make_unique<Hook>(this, i));
    }
    flat_.push_back(std::move(flat));
  }
}

GradientReducer::~GradientReducer() {
  for (torch::Tensor& p : parameters_) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
}

void GradientReducer::ZeroGrad() {
  torch::NoGradGuard no_grad;
  for (torch::Tensor& flat : flat_) flat.zero_();
}

void GradientReducer::BeginBackward(bool last_micro_batch) {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = last_micro_batch;
  if (!armed_) return;
  pending_count_.clear();
  for (const auto& bucket : buckets_) pending_count_.push_back(bucket.size());
  next_bucket_ = 0;
  in_flight_.clear();
  launch_order_.clear();
}

void GradientReducer::OnGradientAccumulated(size_t parameter) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!armed_) return;
  size_t& missing = pending_count_[bucket_of_[parameter]];
  if (missing > 0) --missing;
  if (overlap_) LaunchReadyBuckets();
}

void GradientReducer::LaunchReadyBuckets() {
  while (next_bucket_ < buckets_.size() && pending_count_[next_bucket_] == 0) {
    torch::Tensor& flat = flat_[next_bucket_];
    in_flight_.push_back(comm_->AllReduceAsync({flat.data_ptr(), flat.numel(), comm::DataType::kFloat32},
                                               comm::ReduceOp::kAverage));
    launch_order_.push_back(next_bucket_);
    ++next_bucket_;
  }
}

Status GradientReducer::FinishBackward() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!armed_) return FailedPrecondition("FinishBackward without BeginBackward(last_micro_batch=true)");
  launched_during_backward_ = launch_order_.size();
  std::fill(pending_count_.begin(), pending_count_.end(), 0);
  LaunchReadyBuckets();
  armed_ = false;
  Status first_error;
  for (auto& op : in_flight_) {
    Status status = op->Wait();
    if (first_error.ok() && !status.ok()) first_error = status;
  }
  in_flight_.clear();
  return first_error;
}

}  // namespace orchard::train
