#include "worker/train/fused_trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <optional>

#include "core/fusion.h"
#include "kernels/kernels.h"
#include "worker/train/batch_prefetcher.h"
#include "worker/train/datasets.h"
#include "worker/train/decision_wait.h"
#include "worker/train/lr_schedule.h"
#include "worker/train/fused_models.h"
#include "worker/train/optimizers.h"
#include "worker/train/progress.h"
#include "worker/train/rank_gathering.h"
#include "worker/train/step_tally.h"
#include "worker/train/trainer_checkpoints.h"
#include "worker/train/trainer_internal.h"

namespace orchard::train {
namespace {

using Clock = std::chrono::steady_clock;

// Each member's loss over the batch, [K]: its mean, or (for evaluation in chunks) its sum.
torch::Tensor MemberLosses(const std::string& task, const torch::Tensor& out, const torch::Tensor& targets, bool sum) {
  if (task == "classification") return ClassificationLosses(out, targets, sum);
  TORCH_CHECK(task == "regression", "a fused group cannot train a ", task, " task");
  const torch::Tensor error = out.squeeze(-1).to(torch::kFloat32) - targets.unsqueeze(0);
  const torch::Tensor each = (error * error).reshape({out.size(0), -1});
  return sum ? each.sum(1) : each.mean(1);
}

// One trial of the group: an ordinary model of its recipe whose parameters are views of the fused
// model's, with everything a run keeps for itself.
struct Member {
  Member(const FusedMember& given, size_t index) : recipe(given.recipe), options(given.options), index(index) {}

  const Recipe& recipe;
  const TrainOptions& options;
  size_t index;  // in the group
  std::unique_ptr<Model> model;
  std::vector<torch::Tensor> params;
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<Progress> progress;
  std::unique_ptr<StepTally> tally;
  std::unique_ptr<TrainerCheckpoints> checkpoints;
  std::unique_ptr<DecisionWait> decisions;
  bool decision_timeout_told = false;
  TrainResult result;
  double window_loss = 0;  // since train_loss was last logged, as a run checkpoints it
  int64_t window_steps = 0;
  double last_norm = 0;
  bool training = true;  // false once it diverged or its strategy ended it
};

class FusedRun {
 public:
  FusedRun(const std::vector<FusedMember>& members, const MemberEnded& ended)
      : given_(members), ended_(ended), r_(members.front().recipe), o_(members.front().options),
        gathering_(0, 1, [](comm::Buffer) { return OkStatus(); }) {}

  StatusOr<std::vector<TrainResult>> Execute() {
    RETURN_IF_ERROR(Setup());
    RETURN_IF_ERROR(Loop());
    std::vector<TrainResult> results;
    for (auto& m : members_) {
      if (m->result.outcome == TrainResult::Outcome::kCompleted) m->progress->EndTensorBoard(SessionStatus::kSuccess);
      if (m->result.outcome == TrainResult::Outcome::kDiverged) m->progress->EndTensorBoard(SessionStatus::kFailure);
      results.push_back(m->result);
    }
    return results;
  }

 private:
  Status Setup() {
    std::vector<Recipe> recipes;
    for (const FusedMember& given : given_) {
      if (given.options.communicator != nullptr || given.options.evaluate_only) {
        return InvalidArgument("fused members train as a world of one and cannot --evaluate-only; run those alone");
      }
      recipes.push_back(given.recipe);
    }
    if (recipes.size() > 1) RETURN_IF_ERROR(CheckFusableGroup(recipes));
    if (r_.optimizer.impl != "fused") {
      return InvalidArgument("a fused group steps its members in one pass of Orchard's fused optimizer, but optimizer.impl is " +
                             r_.optimizer.impl + "; set optimizer.impl: fused or train the trials apart");
    }
    const TrainSpec& t = r_.train;
    if (t.threads > 0) {
      at::set_num_threads(static_cast<int>(t.threads));
      kernels::SetCpuThreads(static_cast<int>(t.threads));
    }
    ASSIGN_OR_RETURN(device_, ResolveDevice(t, o_.cuda_device, o_.progress));
    bf16_ = t.precision == "bf16" && device_.is_cuda();
    ASSIGN_OR_RETURN(data_, LoadDataset(r_.data, 0));
    train_ = ToTensors(data_.train, data_);
    validation_ = ToTensors(data_.validation, data_);

    const int64_t outputs = data_.task == "regression" ? 1 : data_.classes;
    std::vector<ModelSpec> specs;
    std::vector<Model*> models;
    for (const FusedMember& given : given_) {
      auto member = std::make_unique<Member>(given, members_.size());
      // Seeded as a run alone is, so each member starts from the weights it would have alone.
      torch::manual_seed(static_cast<uint64_t>(t.seed));
      ASSIGN_OR_RETURN(member->model, BuildModel(member->recipe.model, data_.sample_shape, outputs));
      member->model->To(device_);
      specs.push_back(member->recipe.model);
      models.push_back(member->model.get());
      members_.push_back(std::move(member));
    }
    ASSIGN_OR_RETURN(fused_, FuseModels(specs, models));
    fused_params_ = fused_->Parameters();
    for (auto& p : fused_params_) p.mutable_grad() = torch::zeros_like(p);
    verdicts_ = StepTally::VerdictMemory(device_, static_cast<int64_t>(members_.size()));
    for (size_t k = 0; k < members_.size(); ++k) RETURN_IF_ERROR(SetupMember(*members_[k], static_cast<int64_t>(k)));
    RETURN_IF_ERROR(Resume());

    const int64_t batch = std::min<int64_t>(t.batch_size, train_.inputs.size(0));
    const int64_t per_epoch = std::max<int64_t>(1, train_.inputs.size(0) / batch);
    total_steps_ = t.steps > 0 ? t.steps : std::max<int64_t>(1, t.epochs * per_epoch / t.grad_accumulation);
    log_interval_ = r_.metrics.log_interval > 0 ? r_.metrics.log_interval : std::max<int64_t>(1, total_steps_ / 20);
    prefetcher_ = std::make_unique<BatchPrefetcher>(train_.inputs, train_.targets, data_.task == "language_model",
                                                    t.batch_size, r_.data.shuffle, static_cast<uint64_t>(t.seed),
                                                    start_, device_.is_cuda(), 0, 1);
    for (auto& m : members_) RETURN_IF_ERROR(OpenOutputs(*m));
    return OkStatus();
  }

  // Member `k`'s gradients become views of the fused gradients, judged as its own parameter group;
  // its optimizer state, verdict, progress and checkpoints are its own.
  Status SetupMember(Member& m, int64_t k) {
    m.params = m.model->Parameters();
    for (auto& p : m.params) {
      for (const auto& fused : fused_params_) {
        if (p.is_alias_of(fused)) p.mutable_grad() = fused.grad().select(0, k);
      }
      if (!p.grad().defined()) return Internal("a fused member's parameter is not part of the fused model");
      m.result.parameter_count += p.numel();
    }
    ASSIGN_OR_RETURN(m.optimizer, MakeOptimizer(m.recipe.optimizer, m.params));
    m.progress = std::make_unique<Progress>(m.options.progress, 0);
    m.tally = std::make_unique<StepTally>(StepTally::VerdictAt(verdicts_, k), gathering_);
    kernels::GradientGroup judged{{}, m.recipe.train.grad_clip};
    for (auto& p : m.params) judged.grads.push_back({p.mutable_grad().data_ptr<float>(), p.numel()});
    gradient_groups_.push_back(std::move(judged));
    m.checkpoints = std::make_unique<TrainerCheckpoints>(m.recipe, m.options, data_, *m.model, *m.optimizer, device_,
                                                         gathering_, *m.progress);
    RETURN_IF_ERROR(m.checkpoints->Claim());
    // Every member with an answer file reads it: its trainer cannot be signalled alone (SIGTERM ends
    // the group), so the file is how any decision reaches it, waited for or not.
    if (!m.options.decision_file.empty()) {
      const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(m.recipe.sweep.decision_timeout_seconds * 1000));
      m.decisions = std::make_unique<DecisionWait>(m.options.decision_file, m.options.epoch, timeout);
    }
    m.result.device = device_.str();
    return OkStatus();
  }

  // Every member resumes from its own latest checkpoint, all of one step, or none does.
  Status Resume() {
    std::optional<int64_t> common_step;
    for (size_t k = 0; k < members_.size(); ++k) {
      Member& m = *members_[k];
      ASSIGN_OR_RETURN(std::optional<RestoredCheckpoint> restored, m.checkpoints->Resume());
      const int64_t at = restored ? restored->position.step : 0;
      if (common_step && *common_step != at) {
        return FailedPrecondition("fused member " + std::to_string(k) + " would resume at step " + std::to_string(at) +
                                  " but member 0 at step " + std::to_string(*common_step) +
                                  "; a fused group starts at one step: resume these trials apart");
      }
      common_step = at;
      if (!restored) continue;
      step_ = at;
      start_ = restored->position.data;
      m.window_loss = restored->position.window_loss;
      m.window_steps = restored->position.window_steps;
      m.result.start_step = at;
      m.result.last_checkpoint = restored->dir;
    }
    return OkStatus();
  }

  Status OpenOutputs(Member& m) {
    const std::string metrics_path = m.options.output_dir + "/" + m.recipe.metrics.file;
    const std::optional<int64_t> resumed_step = step_ > 0 ? std::optional<int64_t>(step_) : std::nullopt;
    RETURN_IF_ERROR(m.progress->OpenMetrics(metrics_path, resumed_step));
    m.progress->OpenTensorBoard(m.options.output_dir, TensorBoardRunOf(m.recipe, m.options.output_dir), resumed_step);
    if (m.options.provenance != nullptr) {
      if (const Status written = WriteProvenance(*m.options.provenance, device_, 1, step_, m.options.output_dir);
          !written.ok())
        m.progress->Say("note: no provenance.json (" + written.message() + "); orchard lineage will not show this attempt");
    }
    RunDescription run;
    run.recipe = m.recipe.name + " (fused, " + std::to_string(members_.size()) + " members)";
    run.model_type = m.recipe.model.type;
    run.parameters = m.result.parameter_count;
    run.data_type = m.recipe.data.type;
    run.train_samples = data_.train.count;
    run.validation_samples = data_.validation.count;
    run.total_steps = total_steps_;
    run.global_batch = prefetcher_->batch_size() * r_.train.grad_accumulation;
    run.device = device_.str();
    run.cpu_threads = device_.is_cpu() ? at::get_num_threads() : 0;
    m.progress->Say(HeaderLine(run));
    return OkStatus();
  }

  bool StopRequested() const { return o_.stop_requested && o_.stop_requested->load(); }

  bool AnyTraining() const {
    for (const auto& m : members_) {
      if (m->training) return true;
    }
    return false;
  }

  // As Run::Loop (trainer.cc), for every member still training: one fused forward and backward, one
  // judgement of every member's gradients and one optimizer step, each member its own parameter
  // group (its clip, verdict, learning rate and hyperparameters).
  Status Loop() {
    const TrainSpec& t = r_.train;
    c10::DeviceGuard device_guard(device_);
    fused_->SetTraining(true);
    const kernels::Device kernel_device = device_.is_cuda() ? kernels::Device::kCuda : kernels::Device::kCpu;
    const int64_t members = static_cast<int64_t>(members_.size());
    samples_per_step_ = prefetcher_->batch_size() * t.grad_accumulation;
    const int64_t first_step = step_ + 1;
    double interval_seconds = 0;
    int64_t interval_steps = 0;
    const auto run_start = Clock::now();

    while (step_ < total_steps_ && AnyTraining()) {
      const auto step_start = Clock::now();
      for (auto& p : fused_params_) p.mutable_grad().zero_();
      torch::Tensor losses = torch::zeros({members}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
      for (int64_t micro = 0; micro < t.grad_accumulation; ++micro) {
        Batch b = prefetcher_->Next();
        torch::Tensor inputs = b.inputs.to(device_, /*non_blocking=*/true);
        torch::Tensor targets = b.targets.to(device_, /*non_blocking=*/true);
        torch::Tensor outputs, loss;
        {
          AutocastScope autocast(bf16_);
          outputs = fused_->TrainingForward(inputs);
          loss = MemberLosses(data_.task, outputs, targets, /*sum=*/false) / static_cast<double>(t.grad_accumulation);
        }
        // Member k's parameters reach only its own loss, so the sum's gradient is each member's own.
        fused_->Backward(outputs, loss);
        losses += loss.detach();
      }
      std::vector<double> lrs(members_.size());
      std::vector<Optimizer*> stepped(members_.size(), nullptr);
      for (int64_t k = 0; k < members; ++k) {
        Member& m = *members_[k];
        lrs[k] = LearningRate(m.recipe.schedule, m.recipe.optimizer.lr, step_, total_steps_);
        if (m.training) stepped[k] = m.optimizer.get();
      }
      // A member that has left is still judged (its verdict is no longer read), so the plan holds.
      auto* verdicts = reinterpret_cast<kernels::StepVerdict*>(verdicts_.data_ptr());
      RETURN_IF_ERROR(
          kernels::JudgeGradients(gradient_groups_, losses.data_ptr<float>(), kernel_device, verdicts, KernelStream(device_)));
      RETURN_IF_ERROR(joint_step_.Step(stepped, lrs, verdicts));
      ++step_;

      const bool last = step_ == total_steps_;
      const bool evaluating = last || (t.eval_interval > 0 && step_ % t.eval_interval == 0);
      const bool logged = last || step_ % log_interval_ == 0 || evaluating;
      const bool checkpointing = r_.checkpoint.interval > 0 && step_ % r_.checkpoint.interval == 0;
      bool stop = StopRequested();
      const bool first = step_ == first_step;
      if (first || logged || checkpointing || stop) {
        for (auto& m : members_) {
          if (!m->training) continue;
          ASSIGN_OR_RETURN(const StepTally::Reading reading, m->tally->Read(step_, false));
          if (reading.diverged) {
            EndDiverged(*m, reading);
            continue;
          }
          if (first) m->result.first_train_loss = reading.loss_sum / static_cast<double>(reading.steps);
          m->window_loss += reading.loss_sum, m->window_steps += reading.steps;
          m->last_norm = reading.last_norm;
        }
      }
      const double seconds = std::chrono::duration<double>(Clock::now() - step_start).count();
      if (!first) measured_seconds_ += seconds, ++measured_steps_;
      interval_seconds += seconds, ++interval_steps;

      std::vector<std::map<std::string, double>> evals(members_.size());
      if (evaluating) evals = Evaluate();
      // Every member's report first, so that the worker relays them all at once.
      for (int64_t k = 0; k < members; ++k) {
        Member& m = *members_[k];
        if (!m.training) continue;
        if (logged) {
          StepReport report;
          report.step = step_;
          report.total_steps = total_steps_;
          report.train_loss = m.window_loss / static_cast<double>(m.window_steps);
          report.eval = evals[k];
          report.lr = lrs[k];
          report.grad_norm = m.last_norm;
          SetPace(report, interval_seconds, interval_steps, samples_per_step_,
                  std::chrono::duration<double>(Clock::now() - run_start).count(), step_ - m.result.start_step);
          m.progress->Report(report);
          m.result.final_train_loss = report.train_loss;
          m.window_loss = 0, m.window_steps = 0;
        }
        if (!evals[k].empty()) m.result.final_eval = evals[k], m.progress->Flush();
      }
      // Then the strategy's decisions: at a judged evaluation each member waits for its own, and a
      // stop or pause that arrived after its wait ends a member at its next logged step.
      std::vector<std::string> ends_here(members_.size());  // why a member ends here; empty: it goes on
      // One timeout for all: a silent coordinator costs the group one timeout, not one a member.
      const auto decisions_due = Clock::now() + std::chrono::seconds(r_.sweep.decision_timeout_seconds);
      for (int64_t k = 0; k < members && !last; ++k) {
        Member& m = *members_[k];
        if (!m.training) continue;
        const bool metric_written = m.recipe.sweep.metric == "train_loss" ? logged : !evals[k].empty();
        if (metric_written) ends_here[k] = AwaitDecision(m, decisions_due);
        if (ends_here[k].empty() && logged) ends_here[k] = DecidedSinceItsWait(m);
      }
      // A stop request may have come during a wait (waits are at logged steps, whose tallies were read).
      if (logged) stop = stop || StopRequested();
      for (int64_t k = 0; k < members; ++k) {
        Member& m = *members_[k];
        if (!m.training) continue;
        if (last || stop || checkpointing || !ends_here[k].empty()) {
          ASSIGN_OR_RETURN(m.result.last_checkpoint,
                           m.checkpoints->Save({step_, prefetcher_->position(), m.window_loss, m.window_steps}));
        }
        if (!last && (stop || !ends_here[k].empty())) {
          m.result.outcome = TrainResult::Outcome::kPreempted;
          m.result.message = (ends_here[k].empty() ? "preempted" : ends_here[k]) + " at step " + std::to_string(step_) +
                             "; checkpoint " + m.result.last_checkpoint;
          m.progress->Say(m.result.message);
          Finish(m);
        }
      }
      if (logged) interval_seconds = 0, interval_steps = 0;
      if (stop) break;
    }
    for (auto& m : members_) {
      if (m->training) Finish(*m);
    }
    return OkStatus();
  }

  // Every member's validation metrics at this step (empty for those no longer training).
  std::vector<std::map<std::string, double>> Evaluate() {
    torch::NoGradGuard no_grad;
    fused_->SetTraining(false);
    const int64_t members = static_cast<int64_t>(members_.size());
    const int64_t n = validation_.inputs.size(0);
    const int64_t chunk = std::max<int64_t>(256, r_.train.batch_size);
    torch::Tensor loss_sum = torch::zeros({members}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
    torch::Tensor correct = torch::zeros({members}, torch::TensorOptions().dtype(torch::kInt64).device(device_));
    for (int64_t begin = 0; begin < n; begin += chunk) {
      const int64_t len = std::min(chunk, n - begin);
      torch::Tensor inputs = validation_.inputs.narrow(0, begin, len).to(device_);
      torch::Tensor targets = validation_.targets.narrow(0, begin, len).to(device_);
      torch::Tensor out;
      {
        AutocastScope autocast(bf16_);
        out = fused_->Forward(inputs);
      }
      loss_sum += MemberLosses(data_.task, out, targets, /*sum=*/true).to(torch::kFloat64);
      if (data_.task == "classification") correct += out.argmax(-1).eq(targets.unsqueeze(0)).sum(1);
    }
    fused_->SetTraining(true);
    const torch::Tensor sums = loss_sum.to(torch::kCPU), hits = correct.to(torch::kCPU);
    std::vector<std::map<std::string, double>> metrics(members_.size());
    if (n == 0) return metrics;
    for (int64_t k = 0; k < members; ++k) {
      Member& m = *members_[k];
      if (!m.training) continue;
      metrics[k]["val_loss"] = sums[k].item<double>() / static_cast<double>(n);
      if (data_.task == "classification") metrics[k]["val_accuracy"] = static_cast<double>(hits[k].item<int64_t>()) / n;
      for (const auto& [name, value] : metrics[k]) m.progress->Record(step_, name, value);
    }
    return metrics;
  }

  // As a run alone (trainer.cc): why the strategy's decision at this judged evaluation ends member
  // `m` here, or empty (a stop request during the wait is the caller's to see).
  std::string AwaitDecision(Member& m, Clock::time_point due) {
    if (!m.decisions || m.recipe.sweep.decision_timeout_seconds <= 0) return std::string();
    m.progress->Flush();  // the worker must see the report it is to answer
    const DecisionWait::Outcome outcome = m.decisions->AtEvaluation(step_, o_.stop_requested, due);
    using Kind = DecisionWait::Kind;
    if (outcome.kind == Kind::kTimedOut && !m.decision_timeout_told) {
      m.decision_timeout_told = true;
      m.progress->Say(NoDecisionLine(step_, static_cast<double>(m.recipe.sweep.decision_timeout_seconds)));
    }
    return EndingOf(outcome.kind);
  }

  // Why a stop or pause that arrived after member `m`'s wait (or with no wait: decision_timeout_seconds
  // 0) ends it here, or empty.
  std::string DecidedSinceItsWait(Member& m) { return m.decisions ? EndingOf(m.decisions->Ended()) : std::string(); }

  static std::string EndingOf(DecisionWait::Kind kind) {
    if (kind == DecisionWait::Kind::kStop) return "the sweep's strategy stopped it";
    if (kind == DecisionWait::Kind::kPause) return "the sweep's strategy paused it";
    return std::string();
  }

  // As a run alone: the member ends at the first step that was not finite, its model the one before.
  void EndDiverged(Member& m, const StepTally::Reading& reading) {
    const Divergence d = StepTally::DivergenceOf(reading, step_);
    m.progress->Record(d.step, "train_loss", d.loss);
    m.result.outcome = TrainResult::Outcome::kDiverged;
    m.result.message = DivergenceMessage(d.step, d.loss, d.norm);
    m.progress->Say(m.result.message);
    Finish(m, d.steps_kept);
  }

  void Finish(Member& m) { Finish(m, step_); }

  void Finish(Member& m, int64_t steps) {
    m.training = false;
    m.progress->Flush();
    m.result.steps = steps;
    m.result.total_steps = total_steps_;
    // The group's throughput so far, the first step excluded: every member trained on each batch.
    if (measured_steps_ > 0) {
      m.result.step_time_ms = 1000.0 * measured_seconds_ / static_cast<double>(measured_steps_);
      m.result.samples_per_second = static_cast<double>(samples_per_step_ * measured_steps_) / measured_seconds_;
    }
    m.result.parameter_digest = ParameterDigest(*m.model);
    if (ended_) ended_(m.index, m.result);
  }

  const std::vector<FusedMember>& given_;
  const MemberEnded& ended_;
  const Recipe& r_;        // member 0's: what the members share
  const TrainOptions& o_;  // member 0's: the group's resume, stop request and GPU
  RankGathering gathering_;
  torch::Device device_{torch::kCPU};
  bool bf16_ = false;
  SplitDataset data_;
  TensorDataset train_, validation_;
  std::vector<std::unique_ptr<Member>> members_;
  std::unique_ptr<FusedModel> fused_;
  std::vector<torch::Tensor> fused_params_;
  torch::Tensor verdicts_;  // member k's is verdict k: one judgement and one step serve the group
  std::vector<kernels::GradientGroup> gradient_groups_;
  JointStep joint_step_;
  std::unique_ptr<BatchPrefetcher> prefetcher_;
  Position start_;
  int64_t step_ = 0;
  int64_t total_steps_ = 0;
  int64_t log_interval_ = 1;
  int64_t samples_per_step_ = 0;
  double measured_seconds_ = 0;  // of the steps after the first
  int64_t measured_steps_ = 0;
};

}  // namespace

StatusOr<std::vector<TrainResult>> TrainFused(const std::vector<FusedMember>& members, const MemberEnded& ended) {
  if (members.empty()) return InvalidArgument("a fused group needs at least one member");
  try {
    return FusedRun(members, ended).Execute();
  } catch (const c10::Error& e) {
    return Internal("LibTorch error: " + std::string(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return Internal(std::string("fused training failed: ") + e.what());
  }
}

}  // namespace orchard::train
