#include "worker/train/trainer.h"

#include <ATen/autocast_mode.h>
#include <dlfcn.h>
#include <limits.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "core/atomic_file.h"
#include "core/sha256.h"
#include "kernels/kernels.h"
#include "worker/comm/nccl_communicator.h"
#include "worker/train/batch_prefetcher.h"
#include "worker/train/data_parallel.h"
#include "worker/train/datasets.h"
#include "worker/train/decision_wait.h"
#include "worker/train/lr_schedule.h"
#include "worker/train/models.h"
#include "worker/train/optimizers.h"
#include "worker/train/progress.h"
#include "worker/train/rank_gathering.h"
#include "worker/train/step_tally.h"
#include "worker/train/trainer_checkpoints.h"
#include "worker/train/trainer_internal.h"

namespace orchard::train {
namespace {

using Clock = std::chrono::steady_clock;

// Sums a host buffer over the ranks of `comm`. NCCL reduces device memory only, so there the buffer
// goes through `device`; MPI and the world of one reduce host memory.
Status SumOverCommunicator(comm::Communicator& comm, const torch::Device& device, comm::Buffer host) {
  if (comm.kind() != "nccl") return comm.AllReduce(host, comm::ReduceOp::kSum);
  const auto bytes = host.count * static_cast<int64_t>(comm::SizeOf(host.type));
  torch::Tensor on_host = torch::from_blob(host.data, {bytes}, torch::kUInt8);
  torch::Tensor on_device = on_host.to(device);
  RETURN_IF_ERROR(comm.AllReduce({on_device.data_ptr(), host.count, host.type}, comm::ReduceOp::kSum));
  on_host.copy_(on_device);
  return OkStatus();
}

class Run {
 public:
  Run(const Recipe& recipe, const TrainOptions& options) : r_(recipe), o_(options) {
    if (!o_.communicator) own_comm_ = comm::MakeWorldOfOne();
    comm_ = o_.communicator ? o_.communicator : own_comm_.get();
    rank_ = comm_->rank();
    ranks_ = comm_->size();
    gathering_ = std::make_unique<RankGathering>(
        rank_, ranks_, [this](comm::Buffer host) { return SumOverCommunicator(*comm_, device_, host); });
    progress_ = std::make_unique<Progress>(o_.progress, rank_);
    if (!o_.decision_file.empty() && rank_ == 0 && r_.sweep.decision_timeout_seconds > 0)
      decisions_ = std::make_unique<DecisionWait>(o_.decision_file, o_.epoch, DecisionDeadline());
  }

  StatusOr<TrainResult> Execute() {
    RETURN_IF_ERROR(Setup());
    ASSIGN_OR_RETURN(TrainResult result, o_.evaluate_only ? EvaluateCheckpoint() : Loop());
    // Only a final outcome ends the TensorBoard session, which keeps the first end it reads: a
    // preempted run resumes later, and one that failed with an error may be retried.
    if (result.outcome == TrainResult::Outcome::kCompleted) progress_->EndTensorBoard(SessionStatus::kSuccess);
    if (result.outcome == TrainResult::Outcome::kDiverged) progress_->EndTensorBoard(SessionStatus::kFailure);
    return result;
  }

 private:
  Status Setup() {
    const TrainSpec& t = r_.train;
    if (t.threads > 0) {
      at::set_num_threads(static_cast<int>(t.threads));
      kernels::SetCpuThreads(static_cast<int>(t.threads));
    }
    RETURN_IF_ERROR(ResolveDeviceOfRun());  // first: it may load LibTorch's CUDA library
    torch::manual_seed(static_cast<uint64_t>(t.seed));

    int64_t context = r_.model.type == "transformer" ? r_.model.transformer.context : 0;
    if (r_.data.type == "text" && r_.data.context == 0 && context == 0) {
      return InvalidArgument("data.context: set the context length of text data for a torchscript model");
    }
    ASSIGN_OR_RETURN(data_, LoadDataset(r_.data, context));
    if (r_.model.type == "transformer" && data_.sample_shape[0] - 1 > context) {
      return InvalidArgument("data.context (" + std::to_string(data_.sample_shape[0] - 1) +
                             ") exceeds model.context (" + std::to_string(context) + ")");
    }
    if (data_.train.count < ranks_) {
      return InvalidArgument("data: " + std::to_string(data_.train.count) + " training samples after the validation split, fewer than the " +
                             std::to_string(ranks_) + " ranks");
    }
    train_ = ToTensors(data_.train, data_);
    validation_ = ToTensors(data_.validation, data_);

    const int64_t outputs = data_.task == "regression" ? 1 : data_.classes;
    ASSIGN_OR_RETURN(model_, BuildModel(r_.model, data_.sample_shape, outputs));
    model_->To(device_);
    params_ = model_->Parameters();
    for (const auto& p : params_) result_.parameter_count += p.numel();
    ASSIGN_OR_RETURN(optimizer_, MakeOptimizer(r_.optimizer, params_));
    RETURN_IF_ERROR(SetupDataParallel());

    checkpoints_ = std::make_unique<TrainerCheckpoints>(r_, o_, data_, *model_, *optimizer_, device_, *gathering_,
                                                        *progress_);
    RETURN_IF_ERROR(checkpoints_->Claim());
    std::optional<RestoredCheckpoint> restored;
    if (o_.evaluate_only) {
      ASSIGN_OR_RETURN(restored, checkpoints_->LoadForEvaluation(&validation_.inputs));
    } else {
      ASSIGN_OR_RETURN(restored, checkpoints_->Resume());
    }
    Position start;
    if (restored) {
      step_ = restored->position.step;
      window_loss_ = restored->position.window_loss;
      window_steps_ = restored->position.window_steps;
      start = restored->position.data;
      result_.start_step = step_;
      result_.last_checkpoint = restored->dir;
    }

    const int64_t batch = std::min<int64_t>(t.batch_size, train_.inputs.size(0) / ranks_);
    const int64_t per_epoch = std::max<int64_t>(1, train_.inputs.size(0) / (batch * ranks_));
    total_steps_ = t.steps > 0 ? t.steps : std::max<int64_t>(1, t.epochs * per_epoch / t.grad_accumulation);
    log_interval_ = r_.metrics.log_interval > 0 ? r_.metrics.log_interval : std::max<int64_t>(1, total_steps_ / 20);
    prefetcher_ = std::make_unique<BatchPrefetcher>(train_.inputs, train_.targets, data_.task == "language_model",
                                                    t.batch_size, r_.data.shuffle, static_cast<uint64_t>(t.seed),
                                                    start, device_.is_cuda(), rank_, ranks_);
    const std::filesystem::path metrics_path = std::filesystem::path(o_.output_dir) / r_.metrics.file;
    const std::optional<int64_t> resumed_step = step_ > 0 ? std::optional<int64_t>(step_) : std::nullopt;
    RETURN_IF_ERROR(progress_->OpenMetrics(metrics_path.string(), resumed_step));
    progress_->OpenTensorBoard(o_.output_dir, TensorBoardRunOf(r_, o_.output_dir), resumed_step);
    if (o_.provenance != nullptr && rank_ == 0) {
      // Lineage is worth a line, not the run: training goes on without the record.
      if (const Status written = WriteProvenance(*o_.provenance, device_, ranks_, step_, o_.output_dir); !written.ok())
        progress_->Say("note: no provenance.json (" + written.message() + "); orchard lineage will not show this attempt");
    }
    progress_->Say(HeaderLine(Describe()));
    return OkStatus();
  }

  Status ResolveDeviceOfRun() {
    ASSIGN_OR_RETURN(device_, ResolveDevice(r_.train, o_.cuda_device, o_.progress));
    bf16_ = r_.train.precision == "bf16" && device_.is_cuda();
    result_.device = device_.str();
    return OkStatus();
  }

  // Every rank starts from rank 0's parameters and buffers, then draws its own random numbers
  // (dropout) from a seed of its own; the gradient reducer owns the gradients from here on.
  Status SetupDataParallel() {
    std::vector<torch::Tensor> state;
    for (auto& [name, tensor] : model_->State()) state.push_back(tensor.detach());
    RETURN_IF_ERROR(BroadcastTensors(*comm_, state, 0));
    if (ranks_ > 1) torch::manual_seed(static_cast<uint64_t>(r_.train.seed) + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(rank_));
    const auto bucket_bytes = static_cast<int64_t>(r_.distributed.bucket_mb * 1024 * 1024);
    reducer_ = std::make_unique<GradientReducer>(params_, comm_, bucket_bytes, r_.distributed.overlap);
    result_.ranks = ranks_;
    result_.buckets = static_cast<int64_t>(reducer_->buckets().size());
    return OkStatus();
  }

  RunDescription Describe() const {
    RunDescription run;
    run.recipe = r_.name;
    run.model_type = r_.model.type;
    run.parameters = result_.parameter_count;
    run.data_type = r_.data.type;
    run.train_samples = data_.train.count;
    run.validation_samples = data_.validation.count;
    run.total_steps = total_steps_;
    run.global_batch = prefetcher_->batch_size() * r_.train.grad_accumulation * ranks_;
    run.device = device_.str();
    run.cpu_threads = device_.is_cpu() ? at::get_num_threads() : 0;
    run.ranks = ranks_;
    run.communicator = comm_->kind();
    run.rank_batch = prefetcher_->batch_size();
    run.gradient_buckets = static_cast<int64_t>(reducer_->buckets().size());
    return run;
  }

  // The model judged once at the checkpoint's step; the metrics go to the metrics file as usual.
  StatusOr<TrainResult> EvaluateCheckpoint() {
    c10::DeviceGuard device_guard(device_);
    ASSIGN_OR_RETURN(result_.final_eval, Evaluate());
    progress_->Say(EvaluationLine(step_, result_.final_eval));
    return Finish();
  }

  // Each rank evaluates every ranks-th chunk of the validation split; the sums are combined.
  StatusOr<std::map<std::string, double>> Evaluate() {
    torch::NoGradGuard no_grad;
    model_->SetTraining(false);
    const int64_t n = validation_.inputs.size(0);
    const int64_t chunk = std::max<int64_t>(256, r_.train.batch_size);
    // Summed on the device and read once at the end.
    torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
    torch::Tensor correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(device_));
    double items = 0;
    const bool lm = data_.task == "language_model";
    for (int64_t begin = rank_ * chunk; begin < n; begin += chunk * ranks_) {
      int64_t len = std::min(chunk, n - begin);
      torch::Tensor rows = validation_.inputs.narrow(0, begin, len);
      torch::Tensor inputs = lm ? rows.narrow(1, 0, rows.size(1) - 1) : rows;
      torch::Tensor targets = lm ? rows.narrow(1, 1, rows.size(1) - 1) : validation_.targets.narrow(0, begin, len);
      inputs = inputs.to(device_), targets = targets.to(device_);
      torch::Tensor out;
      {
        AutocastScope autocast(bf16_);
        out = model_->Forward(inputs);
      }
      loss_sum += Loss(data_.task, out.to(torch::kFloat32), targets, /*sum=*/true).to(torch::kFloat64);
      items += static_cast<double>(targets.numel());
      if (data_.task == "classification") correct += out.argmax(-1).eq(targets).sum();
    }
    model_->SetTraining(true);
    std::vector<double> sums = {loss_sum.item<double>(), static_cast<double>(correct.item<int64_t>()), items};
    RETURN_IF_ERROR(gathering_->SumOverRanks(&sums));
    std::map<std::string, double> metrics;
    if (n == 0) return metrics;
    metrics["val_loss"] = sums[0] / sums[2];
    if (data_.task == "classification") metrics["val_accuracy"] = sums[1] / sums[2];
    if (lm) metrics["val_perplexity"] = std::exp(metrics["val_loss"]);
    for (const auto& [name, value] : metrics) progress_->Record(step_, name, value);
    return metrics;
  }

  // Gradients as flat fp32 spans for the fused norm/clip kernel.
  std::vector<kernels::FloatSpan> GradientSpans() {
    std::vector<kernels::FloatSpan> spans;
    for (auto& p : params_) {
      torch::Tensor& g = p.mutable_grad();
      if (!g.defined()) continue;
      if (!g.is_contiguous() || g.scalar_type() != torch::kFloat32) g = g.contiguous().to(torch::kFloat32);
      spans.push_back({g.data_ptr<float>(), g.numel()});
    }
    return spans;
  }

  bool StopRequested() const { return o_.stop_requested && o_.stop_requested->load(); }

  // A step queues its work on the device and goes on: the loss, the gradient norm and the
  // non-finite flag stay in the verdict, which the host reads only at the run's first step, at logged
  // steps, evaluations, checkpoints and stops. A divergence is caught there, up to one log interval
  // late; the optimizer has skipped every step from the one that diverged, so the model is the one
  // before it.
  StatusOr<TrainResult> Loop() {
    const TrainSpec& t = r_.train;
    // Orchard's kernels run on the current device: make it this run's (cuda:N).
    c10::DeviceGuard device_guard(device_);
    model_->SetTraining(true);
    const kernels::Device kernel_device = device_.is_cuda() ? kernels::Device::kCuda : kernels::Device::kCpu;
    StepTally tally(StepTally::VerdictMemory(device_, 1), *gathering_);
    double interval_seconds = 0, last_grad_norm = 0;
    int64_t interval_steps = 0, measured_steps = 0;
    double measured_seconds = 0;
    const int64_t first_step = step_ + 1;
    const int64_t samples_per_step = prefetcher_->batch_size() * t.grad_accumulation * ranks_;
    const auto run_start = Clock::now();
    if (step_ >= total_steps_) progress_->Say("the run is already complete at step " + std::to_string(step_) + "; nothing to do");

    while (step_ < total_steps_) {
      const auto step_start = Clock::now();
      const double lr = LearningRate(r_.schedule, r_.optimizer.lr, step_, total_steps_);
      reducer_->ZeroGrad();
      torch::Tensor loss_total = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
      for (int64_t micro = 0; micro < t.grad_accumulation; ++micro) {
        reducer_->BeginBackward(micro + 1 == t.grad_accumulation);
        Batch b = prefetcher_->Next();
        torch::Tensor inputs = b.inputs.to(device_, /*non_blocking=*/true);
        torch::Tensor targets = b.targets.to(device_, /*non_blocking=*/true);
        torch::Tensor loss;
        {
          AutocastScope autocast(bf16_);
          loss = Loss(data_.task, model_->Forward(inputs), targets) / static_cast<double>(t.grad_accumulation);
        }
        loss.backward();
        loss_total += loss.detach();
      }
      RETURN_IF_ERROR(reducer_->FinishBackward());
      // The clip coefficient is folded into the optimizer's step instead of a pass over the gradients.
      RETURN_IF_ERROR(kernels::JudgeGradients({{GradientSpans(), t.grad_clip}}, loss_total.data_ptr<float>(), kernel_device,
                                              tally.verdict(), KernelStream(device_)));
      RETURN_IF_ERROR(optimizer_->Step(lr, tally.verdict()));
      ++step_;

      const bool last = step_ == total_steps_;
      const bool evaluating = last || (t.eval_interval > 0 && step_ % t.eval_interval == 0);
      const bool logged = last || step_ % log_interval_ == 0 || evaluating;
      const bool checkpointing = r_.checkpoint.interval > 0 && step_ % r_.checkpoint.interval == 0;
      // Alone, a stop request is a flag to look at; with several ranks they agree on it in Read.
      bool stop = ranks_ == 1 && StopRequested();
      const bool first = step_ == first_step;
      if (first || logged || checkpointing || stop) {
        ASSIGN_OR_RETURN(const StepTally::Reading reading, tally.Read(step_, StopRequested()));
        if (reading.diverged) return Diverged(reading);
        if (first) result_.first_train_loss = reading.loss_sum / static_cast<double>(reading.steps);
        window_loss_ += reading.loss_sum, window_steps_ += reading.steps;
        last_grad_norm = reading.last_norm;
        stop = stop || reading.stop;
      }
      const double seconds = std::chrono::duration<double>(Clock::now() - step_start).count();
      // The first step pays for allocations and thread start-up; throughput excludes it.
      if (!first) measured_seconds += seconds, ++measured_steps;
      interval_seconds += seconds, ++interval_steps;

      std::map<std::string, double> eval;
      if (evaluating) {
        ASSIGN_OR_RETURN(eval, Evaluate());
      }
      if (logged) {
        StepReport report;
        report.step = step_;
        report.total_steps = total_steps_;
        report.train_loss = window_loss_ / static_cast<double>(window_steps_);
        report.eval = eval;
        report.lr = lr;
        report.grad_norm = last_grad_norm;
        SetPace(report, interval_seconds, interval_steps, samples_per_step,
                std::chrono::duration<double>(Clock::now() - run_start).count(), step_ - result_.start_step);
        progress_->Report(report);
        result_.final_train_loss = report.train_loss;
        window_loss_ = interval_seconds = 0, window_steps_ = interval_steps = 0;
      }
      if (!eval.empty()) result_.final_eval = eval, progress_->Flush();
      std::string ends_here;  // why, when the strategy's decision (or a stop request) ends the run here
      // The sweep's metric is written at evaluations, or (train_loss) at every logged step.
      const bool metric_written = r_.sweep.metric == "train_loss" ? logged : !eval.empty();
      if (metric_written && !last) {
        ASSIGN_OR_RETURN(ends_here, AwaitDecision());
        stop = stop || !ends_here.empty();
      }
      if (last || stop || checkpointing) {
        ASSIGN_OR_RETURN(result_.last_checkpoint,
                         checkpoints_->Save({step_, prefetcher_->position(), window_loss_, window_steps_}));
      }
      if (stop && !last) {
        result_.outcome = TrainResult::Outcome::kPreempted;
        result_.message = (ends_here.empty() ? "preempted" : ends_here) + " at step " + std::to_string(step_) +
                          "; checkpoint " + result_.last_checkpoint;
        progress_->Say(result_.message);
        break;
      }
    }
    if (measured_steps > 0) {
      result_.step_time_ms = 1000.0 * measured_seconds / measured_steps;
      result_.samples_per_second = samples_per_step * measured_steps / measured_seconds;
    }
    return Finish();
  }

  // Ends the run at the first step that was not finite. The optimizer skipped it and every step
  // after it, so the model (and the step count) is the one before it. A mean loss that overflowed
  // with every step finite ends it at the latest step.
  TrainResult Diverged(const StepTally::Reading& reading) {
    const Divergence d = StepTally::DivergenceOf(reading, step_);
    step_ = d.steps_kept;
    progress_->Record(d.step, "train_loss", d.loss);
    progress_->Flush();
    result_.outcome = TrainResult::Outcome::kDiverged;
    result_.message = DivergenceMessage(d.step, d.loss, d.norm);
    progress_->Say(result_.message);
    return Finish();
  }

  // How long rank 0 waits for a decision. With several ranks the others wait for it inside a
  // collective, which fails past distributed.timeout_seconds: half of that at most.
  std::chrono::milliseconds DecisionDeadline() const {
    double seconds = static_cast<double>(r_.sweep.decision_timeout_seconds);
    if (ranks_ > 1) seconds = std::min(seconds, r_.distributed.timeout_seconds / 2);
    return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  }

  // At an evaluation the sweep's strategy judges, rank 0 waits for its decision and every rank
  // learns it (they all evaluate at the same steps). Why the run ends at this step ("the sweep's
  // strategy stopped it", "... paused it", "preempted": a stop request came during the wait), or
  // empty to go on. Without a decision file no collective is issued, on any rank.
  StatusOr<std::string> AwaitDecision() {
    if (o_.decision_file.empty() || r_.sweep.decision_timeout_seconds <= 0) return std::string();
    std::vector<double> verdict = {0, 0, 0};  // stop, pause, stop requested
    if (decisions_) {
      progress_->Flush();  // the worker must see the report it is to answer
      const DecisionWait::Outcome outcome = decisions_->AtEvaluation(step_, o_.stop_requested);
      using Kind = DecisionWait::Kind;
      if (outcome.kind == Kind::kStop) verdict[0] = 1;
      if (outcome.kind == Kind::kPause) verdict[1] = 1;
      if (outcome.kind == Kind::kTimedOut && !decision_timeout_told_) {
        decision_timeout_told_ = true;
        progress_->Say(NoDecisionLine(step_, DecisionDeadline().count() / 1000.0));
      }
    }
    if (o_.stop_requested && o_.stop_requested->load()) verdict[2] = 1;
    RETURN_IF_ERROR(gathering_->SumOverRanks(&verdict));
    if (verdict[0] > 0) return std::string("the sweep's strategy stopped it");
    if (verdict[1] > 0) return std::string("the sweep's strategy paused it");
    if (verdict[2] > 0) return std::string("preempted");
    return std::string();
  }

  TrainResult Finish() {
    progress_->Flush();
    result_.steps = step_;
    result_.total_steps = total_steps_;
    result_.parameter_digest = ParameterDigest(*model_);
    return result_;
  }

  const Recipe& r_;
  const TrainOptions& o_;
  torch::Device device_{torch::kCPU};
  bool bf16_ = false;
  SplitDataset data_;
  TensorDataset train_, validation_;
  std::unique_ptr<Model> model_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<comm::Communicator> own_comm_;  // the world of one when the caller gave none
  comm::Communicator* comm_ = nullptr;
  int rank_ = 0, ranks_ = 1;
  std::unique_ptr<RankGathering> gathering_;
  std::unique_ptr<Progress> progress_;
  std::unique_ptr<GradientReducer> reducer_;
  std::unique_ptr<TrainerCheckpoints> checkpoints_;
  std::unique_ptr<BatchPrefetcher> prefetcher_;
  std::unique_ptr<DecisionWait> decisions_;  // rank 0's, when it waits for the strategy's decisions
  bool decision_timeout_told_ = false;
  int64_t step_ = 0;
  // The losses since train_loss was last logged; checkpointed, so a resumed run logs the same means.
  double window_loss_ = 0;
  int64_t window_steps_ = 0;
  int64_t total_steps_ = 0;
  int64_t log_interval_ = 1;
  TrainResult result_;
};

}  // namespace

AutocastScope::AutocastScope(bool enabled) : enabled_(enabled) {
  if (!enabled_) return;
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  at::autocast::set_autocast_enabled(at::kCUDA, false);
  at::autocast::clear_cache();
}

TensorDataset ToTensors(const Samples& s, const SplitDataset& data) {
  std::vector<int64_t> shape = {s.count};
  shape.insert(shape.end(), data.sample_shape.begin(), data.sample_shape.end());
  TensorDataset out;
  out.inputs = torch::from_blob(const_cast<float*>(s.inputs.data()), shape, torch::kFloat32).clone();
  out.targets = torch::from_blob(const_cast<float*>(s.targets.data()), {s.count}, torch::kFloat32).clone();
  if (data.task == "language_model") out.inputs = out.inputs.to(torch::kInt64);
  if (data.task == "classification") out.targets = out.targets.to(torch::kInt64);
  return out;
}

Status LoadLibTorchCuda() {
  static const Status loaded = []() -> Status {
    // Beside libtorch_cpu.so, wherever that was loaded from; else by name, through orchard-train's
    // own library path.
    std::string path = "libtorch_cuda.so";
    if (void* cpu = dlopen("libtorch_cpu.so", RTLD_LAZY | RTLD_NOLOAD)) {
      char origin[PATH_MAX];
      if (dlinfo(cpu, RTLD_DI_ORIGIN, origin) == 0) path = (std::filesystem::path(origin) / path).string();
      dlclose(cpu);
      if (path.front() == '/' && !std::filesystem::exists(path)) {
        return Unavailable("this LibTorch has no CUDA library (no " + path + "): it is a CPU-only build; install a CUDA "
                           "build of torch to train on a GPU");
      }
    }
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
      return Unavailable(std::string("cannot load LibTorch's CUDA library: ") + dlerror());
    }
    if (!at::globalContext().hasCUDART()) {
      return Internal("LibTorch's CUDA library was loaded after LibTorch had settled that it has no CUDA (" + path +
                      "); something asked about CUDA before ResolveDevice, a bug in orchard-train");
    }
    return OkStatus();
  }();
  return loaded;
}

StatusOr<torch::Device> ResolveDevice(const TrainSpec& train, int cuda_device, std::ostream* progress) {
  const std::string& d = train.device;
  torch::Device device(torch::kCPU);
  // auto asks the CUDA runtime whether a GPU is visible, which LibTorch's CUDA library is not needed
  // for: a CPU machine never loads it.
  bool have_cuda = false;
  if (d != "cpu" && (d != "auto" || kernels::CudaKernelsAvailable())) {
    const Status loaded = LoadLibTorchCuda();
    // auto trains on the CPU where LibTorch cannot have CUDA, as it did when LibTorch said it had none.
    if (!loaded.ok() && (d != "auto" || loaded.code() == StatusCode::kInternal)) return loaded;
    if (!loaded.ok() && progress) *progress << "note: " << loaded.message() << "; training on the CPU\n";
    have_cuda = loaded.ok() && torch::cuda::is_available();
  }
  if (d == "auto") {
    if (have_cuda) device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(cuda_device));
  } else if (d != "cpu") {
    if (!have_cuda) {
      // This machine's lack, not the recipe's fault: Unavailable, so the trial is retried elsewhere.
      return Unavailable("train.device is " + d + " but no CUDA GPU is visible on this machine; use device: auto or "
                         "cpu, or run it where a GPU is");
    }
    int index = d == "cuda" ? cuda_device : std::stoi(d.substr(5));
    if (index >= static_cast<int>(torch::cuda::device_count())) {
      return Unavailable("train.device is " + d + " but only " + std::to_string(torch::cuda::device_count()) +
                         " GPU(s) are visible on this machine");
    }
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  if (device.is_cuda() && !kernels::CudaKernelsAvailable()) {
    return Unavailable("this orchard-train was built without CUDA kernels; rebuild it with nvcc available");
  }
  if (train.precision == "bf16" && !device.is_cuda() && progress) {
    *progress << "note: precision bf16 applies to GPUs only; training in fp32 on the CPU\n";
  }
  return device;
}

Status WriteProvenance(Provenance& p, const torch::Device& device, int ranks, int64_t start_step,
                       const std::string& output_dir) {
  p.libtorch = TORCH_VERSION;
  // Queried only where LibTorch has its CUDA library: the CPU-only build's hooks throw.
  const auto& context = at::globalContext();
  if (context.hasCUDART()) {
    const long v = at::detail::getCUDAHooks().versionCUDART();  // 13000: 13.0
    p.cuda = std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
  }
  if (context.hasCuDNN()) {
    // 91000: 9.10.0 (cuDNN 9 counts major x 10000); 8907: 8.9.7 (before 9, major x 1000).
    const long v = at::detail::getCUDAHooks().versionCuDNN();
    const long major_unit = v >= 90000 ? 10000 : 1000;
    p.cudnn = std::to_string(v / major_unit) + "." + std::to_string(v % major_unit / 100) + "." + std::to_string(v % 100);
  }
  if (ranks > 1 && device.is_cuda()) p.nccl = comm::NcclVersion();
  p.device = device.str();
  p.world_size = ranks;
  p.start_step = start_step;
  p.recorded_at = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return WriteFileAtomically((std::filesystem::path(output_dir) / "provenance.json").string(), ProvenanceJson(p));
}

std::string ParameterDigest(Model& model) {
  Sha256 digest;
  for (auto& [name, tensor] : model.State()) {
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    digest.Update(name.data(), name.size());
    digest.Update(cpu.data_ptr(), cpu.numel() * cpu.element_size());
  }
  return digest.HexDigest();
}

void ApplyGpuMemoryShare(double fraction) {
  if (fraction <= 0) return;
  const char* existing = std::getenv("PYTORCH_CUDA_ALLOC_CONF");
  std::ostringstream conf;
  if (existing != nullptr && *existing != '\0') conf << existing << ",";
  conf << "per_process_memory_fraction:" << fraction;
  setenv("PYTORCH_CUDA_ALLOC_CONF", conf.str().c_str(), 1);
}

StatusOr<TrainResult> Train(const Recipe& recipe, const TrainOptions& options) {
  try {
    return Run(recipe, options).Execute();
  } catch (const c10::OutOfMemoryError& e) {
    if (options.gpu_memory_fraction <= 0) return Internal("LibTorch error: " + std::string(e.what_without_backtrace()));
    std::ostringstream message;
    message << "exceeded its GPU memory share (" << options.gpu_memory_fraction * 100
            << "% of the GPU's memory, from sweep.gpu_memory_gib or sweep.gpu_fraction): raise the share or lower "
               "train.batch_size. LibTorch said: "
            << e.what_without_backtrace();
    return FailedPrecondition(message.str());
  } catch (const c10::Error& e) {
    return Internal("LibTorch error: " + std::string(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return Internal(std::string("training failed: ") + e.what());
  }
}

}  // namespace orchard::train
