#include "worker/train/optimizers.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <cstring>
#include <sstream>
#include <string>

namespace orchard::train {

kernels::Stream KernelStream(const torch::Device& device) {
  if (!device.is_cuda()) return nullptr;
  return c10::impl::getDeviceGuardImpl(device.type())->getStream(device).native_handle();
}

namespace {

std::string Shape(const torch::Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

kernels::OptimizerKind KindOf(const std::string& type) {
  if (type == "sgd") return kernels::OptimizerKind::kSgd;
  if (type == "adam") return kernels::OptimizerKind::kAdam;
  return kernels::OptimizerKind::kAdamW;
}

// The saved layout both implementations share.
struct SavedParam {
  torch::Tensor exp_avg, exp_avg_sq, momentum_buffer, master;
};

std::string Key(size_t i, const char* name) { return "param/" + std::to_string(i) + "/" + name; }

void SaveState(torch::serialize::OutputArchive& archive, const std::string& type, int64_t steps,
               const std::vector<SavedParam>& params) {
  archive.write("type", torch::tensor(static_cast<int64_t>(KindOf(type)), torch::kInt64));
  archive.write("steps", torch::tensor(steps, torch::kInt64));
  archive.write("params", torch::tensor(static_cast<int64_t>(params.size()), torch::kInt64));
  for (size_t i = 0; i < params.size(); ++i) {
    const SavedParam& p = params[i];
    if (p.exp_avg.defined()) archive.write(Key(i, "exp_avg"), p.exp_avg.detach());
    if (p.exp_avg_sq.defined()) archive.write(Key(i, "exp_avg_sq"), p.exp_avg_sq.detach());
    if (p.momentum_buffer.defined()) archive.write(Key(i, "momentum_buffer"), p.momentum_buffer.detach());
    if (p.master.defined()) archive.write(Key(i, "master"), p.master.detach());
  }
}

// Reads the shared layout back, checking it against the optimizer type and the parameters' shapes.
StatusOr<std::vector<SavedParam>> LoadState(torch::serialize::InputArchive& archive, const std::string& type,
                                            const std::vector<torch::Tensor>& params, int64_t* steps) {
  torch::Tensor kind, step_count, count;
  if (!archive.try_read("type", kind) || !archive.try_read("steps", step_count) || !archive.try_read("params", count)) {
    return DataLoss("the checkpoint's optimizer state has no type/steps/params entries (written by an older Orchard?)");
  }
  if (kind.item<int64_t>() != static_cast<int64_t>(KindOf(type))) {
    return FailedPrecondition("the checkpoint's optimizer state is for another optimizer.type than '" + type +
                              "'; resume with the type it was written with");
  }
  if (count.item<int64_t>() != static_cast<int64_t>(params.size())) {
    return FailedPrecondition("the checkpoint's optimizer state has " + std::to_string(count.item<int64_t>()) +
                              " parameters, the model has " + std::to_string(params.size()));
  }
  *steps = step_count.item<int64_t>();
  std::vector<SavedParam> out(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    for (auto [name, slot] : {std::pair{"exp_avg", &out[i].exp_avg}, {"exp_avg_sq", &out[i].exp_avg_sq},
                              {"momentum_buffer", &out[i].momentum_buffer}, {"master", &out[i].master}}) {
      torch::Tensor t;
      if (!archive.try_read(Key(i, name), t)) continue;
      if (!t.sizes().equals(params[i].sizes())) {
        return FailedPrecondition("the checkpoint's optimizer state for parameter " + std::to_string(i) + " has shape " + Shape(t) +
                                  ", the parameter has " + Shape(params[i]));
      }
      *slot = t.to(params[i].device(), torch::kFloat32).contiguous();
    }
  }
  return out;
}

// Orchard's fused kernels. State lives in fp32 tensors next to the parameters; a plan (tensor table,
// chunks) is made on the first step and again whenever a gradient's storage changes.
class FusedOptimizer final : public Optimizer {
 public:
  FusedOptimizer(const OptimizerSpec& spec, std::vector<torch::Tensor> params, kernels::Device device)
      : spec_(spec), params_(std::move(params)), device_(device), state_(params_.size()), converted_(params_.size()) {
    const auto fp32 = [](const torch::Tensor& p) { return torch::zeros_like(p, p.options().dtype(torch::kFloat32)); };
    for (size_t i = 0; i < params_.size(); ++i) {
      const torch::Tensor& p = params_[i];
      if (spec_.type == "sgd") {
        if (spec_.momentum != 0) state_[i].momentum_buffer = fp32(p);
      } else {
        state_[i].exp_avg = fp32(p);
        state_[i].exp_avg_sq = fp32(p);
      }
      if (p.scalar_type() == torch::kBFloat16) state_[i].master = fp32(p);
    }
  }

  Status Step(double lr, const kernels::StepVerdict* verdict) override { return step_.Step({this}, {lr}, verdict); }

  kernels::OptimizerKind kind() const { return KindOf(spec_.type); }
  kernels::Device device() const { return device_; }
  const torch::Tensor* first_param() const { return params_.empty() ? nullptr : &params_[0]; }

  // Appends this optimizer's tensors to a plan as parameter group `group`, with their gradients
  // (also to `grads`: what the plan is kept for).
  Status AddTensors(int32_t group, std::vector<kernels::OptimizerTensor>* tensors, std::vector<void*>* grads) {
    // Master weights start from the parameters as they are at the first step (after the ranks'
    // broadcast, say), unless a checkpoint supplied them.
    if (!masters_current_) {
      for (size_t i = 0; i < params_.size(); ++i) {
        if (state_[i].master.defined()) state_[i].master.copy_(params_[i].detach());
      }
      masters_current_ = true;
    }
    for (size_t i = 0; i < params_.size(); ++i) {
      torch::Tensor& p = params_[i];
      torch::Tensor g = p.grad();
      if (!g.defined()) continue;  // unused this step, as torch::optim skips it
      if (!g.sizes().equals(p.sizes())) {
        return InvalidArgument("parameter " + std::to_string(i) + ": gradient shape " + Shape(g) + " does not match the parameter's " + Shape(p));
      }
      if (g.device() != p.device()) return InvalidArgument("parameter " + std::to_string(i) + ": gradient and parameter are on different devices");
      if (g.scalar_type() != torch::kFloat32 || !g.is_contiguous()) {
        // bf16 parameters get bf16 gradients; the kernels read fp32.
        if (!g.is_floating_point()) return InvalidArgument("parameter " + std::to_string(i) + ": gradient dtype is not floating point");
        torch::Tensor& fp32 = converted_[i];
        if (!fp32.defined()) fp32 = torch::empty(p.sizes(), p.options().dtype(torch::kFloat32));
        fp32.copy_(g);
        g = fp32;
      }
      SavedParam& s = state_[i];
      kernels::OptimizerTensor t;
      t.param = p.data_ptr();
      t.grad = g.data_ptr<float>();
      t.exp_avg = s.exp_avg.defined() ? s.exp_avg.data_ptr<float>() : (s.momentum_buffer.defined() ? s.momentum_buffer.data_ptr<float>() : nullptr);
      t.exp_avg_sq = s.exp_avg_sq.defined() ? s.exp_avg_sq.data_ptr<float>() : nullptr;
      t.master = s.master.defined() ? s.master.data_ptr<float>() : nullptr;
      t.size = p.numel();
      t.group = group;
      t.param_type = p.scalar_type() == torch::kBFloat16 ? kernels::ParamType::kBFloat16 : kernels::ParamType::kFloat32;
      tensors->push_back(t);
      grads->push_back(t.grad);
    }
    return OkStatus();
  }

  // This optimizer's hyperparameters for its next step, at learning rate `lr`.
  kernels::OptimizerGroup NextGroup(double lr) const {
    kernels::OptimizerGroup group;
    group.lr = lr;
    group.beta1 = spec_.beta1;
    group.beta2 = spec_.beta2;
    group.eps = spec_.eps;
    group.weight_decay = spec_.weight_decay;
    group.momentum = spec_.momentum;
    group.nesterov = spec_.nesterov;
    group.step = steps_ + 1;
    return group;
  }

  void CountStep() { ++steps_; }

  int64_t steps() const override { return steps_; }

  void Save(torch::serialize::OutputArchive& archive) override { SaveState(archive, spec_.type, steps_, state_); }

  Status Load(torch::serialize::InputArchive& archive) override {
    int64_t steps = 0;
    ASSIGN_OR_RETURN(std::vector<SavedParam> saved, LoadState(archive, spec_.type, params_, &steps));
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
      SavedParam& s = state_[i];
      // Copies into the existing buffers keep the plan's pointers valid. A missing buffer (SGD's
      // momentum before its first step) reads as zeros, which the kernels never read at step 1.
      for (auto [mine, theirs] : {std::pair{&s.exp_avg, &saved[i].exp_avg}, {&s.exp_avg_sq, &saved[i].exp_avg_sq},
                                  {&s.momentum_buffer, &saved[i].momentum_buffer}}) {
        if (mine->defined()) theirs->defined() ? mine->copy_(*theirs) : mine->zero_();
      }
      if (s.master.defined()) s.master.copy_(saved[i].master.defined() ? saved[i].master : params_[i].to(torch::kFloat32));
    }
    masters_current_ = true;
    steps_ = steps;
    return OkStatus();
  }

 private:
  OptimizerSpec spec_;
  std::vector<torch::Tensor> params_;
  kernels::Device device_;
  std::vector<SavedParam> state_;
  std::vector<torch::Tensor> converted_;  // per parameter: fp32 copy of a non-fp32 gradient, reused so the plan holds
  JointStep step_;                        // a group of one when stepped alone
  bool masters_current_ = false;
  int64_t steps_ = 0;
};

// LibTorch's per-parameter optimizers, for comparison and for what the fused kernels do not cover.
class TorchOptimizer final : public Optimizer {
 public:
  TorchOptimizer(const OptimizerSpec& spec, std::vector<torch::Tensor> params) : spec_(spec), params_(std::move(params)) {
    if (spec.type == "sgd") {
      optimizer_ = std::make_unique<torch::optim::SGD>(
          params_, torch::optim::SGDOptions(spec.lr).momentum(spec.momentum).nesterov(spec.nesterov).weight_decay(spec.weight_decay));
    } else if (spec.type == "adam") {
      optimizer_ = std::make_unique<torch::optim::Adam>(
          params_, torch::optim::AdamOptions(spec.lr).betas({spec.beta1, spec.beta2}).eps(spec.eps).weight_decay(spec.weight_decay));
    } else {
      optimizer_ = std::make_unique<torch::optim::AdamW>(
          params_, torch::optim::AdamWOptions(spec.lr).betas({spec.beta1, spec.beta2}).eps(spec.eps).weight_decay(spec.weight_decay));
    }
  }

  Status Step(double lr, const kernels::StepVerdict* verdict) override {
    kernels::StepVerdict judged{};
    judged.scale = 1;
    if (verdict != nullptr && !params_.empty()) {
      // The reference implementation: it waits for the verdict to reach the host.
      const auto bytes = static_cast<int64_t>(sizeof judged);
      torch::Tensor on_host = torch::from_blob(const_cast<kernels::StepVerdict*>(verdict), {bytes},
                                               torch::TensorOptions().dtype(torch::kUInt8).device(params_[0].device()))
                                  .to(torch::kCPU);
      std::memcpy(&judged, on_host.data_ptr(), sizeof judged);
    }
    if (judged.skip != 0) {
      ++steps_;
      return OkStatus();
    }
    for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
    if (judged.scale != 1.0f) {
      torch::NoGradGuard no_grad;
      for (auto& p : params_) {
        if (p.grad().defined()) p.mutable_grad().mul_(static_cast<double>(judged.scale));
      }
    }
    optimizer_->step();
    ++steps_;
    return OkStatus();
  }

  int64_t steps() const override { return steps_; }

  void Save(torch::serialize::OutputArchive& archive) override {
    std::vector<SavedParam> saved(params_.size());
    auto& state = optimizer_->state();
    for (size_t i = 0; i < params_.size(); ++i) {
      auto it = state.find(params_[i].unsafeGetTensorImpl());
      if (it == state.end()) continue;
      if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(it->second.get())) {
        saved[i].exp_avg = adamw->exp_avg(), saved[i].exp_avg_sq = adamw->exp_avg_sq();
      } else if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(it->second.get())) {
        saved[i].exp_avg = adam->exp_avg(), saved[i].exp_avg_sq = adam->exp_avg_sq();
      } else if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
        saved[i].momentum_buffer = sgd->momentum_buffer();
      }
    }
    SaveState(archive, spec_.type, steps_, saved);
  }

  Status Load(torch::serialize::InputArchive& archive) override {
    int64_t steps = 0;
    ASSIGN_OR_RETURN(std::vector<SavedParam> saved, LoadState(archive, spec_.type, params_, &steps));
    torch::NoGradGuard no_grad;
    auto& state = optimizer_->state();
    state.clear();
    for (size_t i = 0; i < params_.size(); ++i) {
      const SavedParam& s = saved[i];
      const auto as_param = [&](const torch::Tensor& t) { return t.to(params_[i].scalar_type()); };
      void* key = params_[i].unsafeGetTensorImpl();
      if (spec_.type == "sgd") {
        if (!s.momentum_buffer.defined()) continue;
        auto st = std::make_unique<torch::optim::SGDParamState>();
        st->momentum_buffer(as_param(s.momentum_buffer));
        state[key] = std::move(st);
      } else if (s.exp_avg.defined() && s.exp_avg_sq.defined()) {
        if (spec_.type == "adam") {
          auto st = std::make_unique<torch::optim::AdamParamState>();
          st->step(steps), st->exp_avg(as_param(s.exp_avg)), st->exp_avg_sq(as_param(s.exp_avg_sq));
          state[key] = std::move(st);
        } else {
          auto st = std::make_unique<torch::optim::AdamWParamState>();
          st->step(steps), st->exp_avg(as_param(s.exp_avg)), st->exp_avg_sq(as_param(s.exp_avg_sq));
          state[key] = std::move(st);
        }
      }
      // LibTorch keeps no master weights: a bf16 parameter continues from its own value.
    }
    steps_ = steps;
    return OkStatus();
  }

 private:
  OptimizerSpec spec_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  int64_t steps_ = 0;
};

}  // namespace

Status JointStep::Step(const std::vector<Optimizer*>& members, const std::vector<double>& lrs,
                       const kernels::StepVerdict* verdicts) {
  if (lrs.size() != members.size()) return Internal("joint optimizer step: one learning rate a member is needed");
  torch::NoGradGuard no_grad;
  std::vector<FusedOptimizer*> fused(members.size(), nullptr);
  FusedOptimizer* first = nullptr;
  const torch::Tensor* anchor = nullptr;  // a parameter: where the kernels run
  for (size_t k = 0; k < members.size(); ++k) {
    if (members[k] == nullptr) continue;
    fused[k] = dynamic_cast<FusedOptimizer*>(members[k]);
    if (fused[k] == nullptr) {
      return InvalidArgument("fused member " + std::to_string(k) + "'s optimizer is not optimizer.impl fused, which a fused group needs");
    }
    if (first == nullptr) first = fused[k];
    if (fused[k]->kind() != first->kind() || fused[k]->device() != first->device()) {
      return InvalidArgument("fused member " + std::to_string(k) + "'s optimizer differs in type or device from the group's");
    }
    if (anchor == nullptr) anchor = fused[k]->first_param();
  }
  if (first == nullptr) return OkStatus();
  // The kernels run on the current device; make it the parameters' (cuda:N).
  c10::OptionalDeviceGuard device_guard;
  if (anchor != nullptr) device_guard.reset_device(anchor->device());
  std::vector<kernels::OptimizerTensor> tensors;
  std::vector<void*> grads;
  // A member not stepped keeps a group (indices stay members') with no tensors.
  std::vector<kernels::OptimizerGroup> groups(members.size());
  for (size_t k = 0; k < fused.size(); ++k) {
    if (fused[k] == nullptr) continue;
    RETURN_IF_ERROR(fused[k]->AddTensors(static_cast<int32_t>(k), &tensors, &grads));
    groups[k] = fused[k]->NextGroup(lrs[k]);
  }
  if (!plan_ || grads != plan_grads_ || groups.size() != plan_groups_) {
    ASSIGN_OR_RETURN(plan_, kernels::MultiTensorOptimizer::Create(first->kind(), std::move(tensors), groups.size(), first->device()));
    plan_grads_ = std::move(grads);
    plan_groups_ = groups.size();
  }
  RETURN_IF_ERROR(plan_->Step(groups, verdicts, anchor != nullptr ? KernelStream(anchor->device()) : nullptr));
  for (FusedOptimizer* member : fused) {
    if (member != nullptr) member->CountStep();
  }
  return OkStatus();
}

namespace {

StatusOr<kernels::Device> FusedDevice(const std::vector<torch::Tensor>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const torch::Tensor& p = params[i];
    const std::string where = "optimizer.impl fused: parameter " + std::to_string(i) + " ";
    if (p.scalar_type() != torch::kFloat32 && p.scalar_type() != torch::kBFloat16) {
      return InvalidArgument(where + "has dtype " + std::string(c10::toString(p.scalar_type())) +
                             "; the fused kernels step float32 and bfloat16 parameters (use optimizer.impl: torch for others)");
    }
    if (!p.is_contiguous()) return InvalidArgument(where + "is not contiguous");
    if (p.device() != params[0].device()) {
      return InvalidArgument(where + "is on " + p.device().str() + ", parameter 0 on " + params[0].device().str() +
                             "; one optimizer steps parameters of one device");
    }
    if (!p.is_cpu() && !p.is_cuda()) return InvalidArgument(where + "is on " + p.device().str() + ", neither CPU nor CUDA");
  }
  return !params.empty() && params[0].is_cuda() ? kernels::Device::kCuda : kernels::Device::kCpu;
}

}  // namespace

StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(const OptimizerSpec& spec, std::vector<torch::Tensor> params) {
  if (spec.impl == "torch") {
    try {
      return std::unique_ptr<Optimizer>(std::make_unique<TorchOptimizer>(spec, std::move(params)));
    } catch (const c10::Error& e) {
      return InvalidArgument(std::string("optimizer.impl torch: ") + e.what_without_backtrace());
    }
  }
  ASSIGN_OR_RETURN(kernels::Device device, FusedDevice(params));
  return std::unique_ptr<Optimizer>(std::make_unique<FusedOptimizer>(spec, std::move(params), device));
}

}  // namespace orchard::train
