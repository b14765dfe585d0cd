#include "worker/train/trainer.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <sstream>
#include <thread>

#include "core/crc32c.h"
#include "kernels/kernels.h"
#include "worker/train/checkpoint_store.h"
#include "worker/train/data_parallel.h"
#include "worker/train/datasets.h"
#include "worker/train/lr_schedule.h"
#include "worker/train/metrics_log.h"
#include "worker/train/models.h"
#include "worker/train/optimizers.h"

namespace orchard::train {
namespace {

using Clock = std::chrono::steady_clock;

struct Position {
  int64_t epoch = 0;
  int64_t batch = 0;  // next batch within the epoch
};

struct Batch {
  torch::Tensor inputs;
  torch::Tensor targets;
};

// Produces training batches on a background thread, a few ahead of the training loop, in an order
// fixed by (seed, epoch) alone, so a resumed run sees exactly the batches the original would have.
// With several ranks each global batch of ranks x batch_size samples is cut into one consecutive
// slice per rank: the shards are disjoint, and their union is what one rank with the global batch
// would see.
class BatchPrefetcher {
 public:
  BatchPrefetcher(torch::Tensor inputs, torch::Tensor targets, bool language_model, int64_t batch_size,
                  bool shuffle, uint64_t seed, Position start, bool pin, int rank, int ranks)
      : inputs_(std::move(inputs)), targets_(std::move(targets)), language_model_(language_model),
        batch_size_(std::min<int64_t>(batch_size, inputs_.size(0) / ranks)), shuffle_(shuffle), seed_(seed), pin_(pin),
        rank_(rank), ranks_(ranks), produce_at_(start), consumed_(start) {
    thread_ = std::thread([this] { Produce(); });
  }
  ~BatchPrefetcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;

  // Full global batches per epoch (the remainder is dropped so every step sees the same batch size).
  int64_t batches_per_epoch() const { return inputs_.size(0) / (batch_size_ * ranks_); }
  int64_t batch_size() const { return batch_size_; }
  Position position() const { return consumed_; }

  Batch Next() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !queue_.empty() || error_; });
    if (error_) std::rethrow_exception(error_);
    Batch b = std::move(queue_.front());
    queue_.pop_front();
    cv_.notify_all();
    Advance(&consumed_);
    return b;
  }

 private:
  static constexpr size_t kDepth = 4;

  void Advance(Position* p) const {
    if (++p->batch == batches_per_epoch()) p->batch = 0, ++p->epoch;
  }

  void Produce() {
    try {
      std::vector<int64_t> order;
      int64_t order_epoch = -1;
      while (true) {
        {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [this] { return stopping_ || queue_.size() < kDepth; });
          if (stopping_) return;
        }
        if (order_epoch != produce_at_.epoch) {
          order_epoch = produce_at_.epoch;
          const int64_t n = inputs_.size(0);
          if (shuffle_) {
            order = Permutation(n, seed_ + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(order_epoch + 1));
          } else {
            order.resize(n);
            std::iota(order.begin(), order.end(), int64_t{0});
          }
        }
        const int64_t first = (produce_at_.batch * ranks_ + rank_) * batch_size_;
        auto index = torch::from_blob(order.data() + first, {batch_size_}, torch::kInt64);
        Batch b;
        torch::Tensor rows = inputs_.index_select(0, index);
        if (language_model_) {
          b.inputs = rows.narrow(1, 0, rows.size(1) - 1).contiguous();
          b.targets = rows.narrow(1, 1, rows.size(1) - 1).contiguous();
        } else {
          b.inputs = rows;
          b.targets = targets_.index_select(0, index);
        }
        if (pin_) b.inputs = b.inputs.pin_memory(), b.targets = b.targets.pin_memory();
        Advance(&produce_at_);
        std::lock_guard<std::mutex> lock(mu_);
        queue_.push_back(std::move(b));
        cv_.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = std::current_exception();
      cv_.notify_all();
    }
  }

  torch::Tensor inputs_, targets_;
  bool language_model_;
  int64_t batch_size_;
  bool shuffle_;
  uint64_t seed_;
  bool pin_;
  int rank_, ranks_;
  Position produce_at_;  // used by the producer thread only
  Position consumed_;    // used by the training loop only
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;       // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  std::exception_ptr error_;      // guarded by mu_
  std::thread thread_;
};

// bf16 autocast for the forward pass on CUDA; a no-op otherwise.
class AutocastScope {
 public:
  explicit AutocastScope(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  }
  ~AutocastScope() {
    if (!enabled_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, false);
    at::autocast::clear_cache();
  }

 private:
  bool enabled_;
};

struct TensorDataset {
  torch::Tensor inputs, targets;
};

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

// Mean loss over the batch, or the sum over it (for evaluation over several chunks).
torch::Tensor Loss(const std::string& task, const torch::Tensor& out, const torch::Tensor& targets, bool sum = false) {
  namespace F = torch::nn::functional;
  if (task == "regression") {
    auto options = sum ? F::MSELossFuncOptions(torch::kSum) : F::MSELossFuncOptions(torch::kMean);
    return F::mse_loss(out.squeeze(-1).to(torch::kFloat32), targets, options);
  }
  auto options = F::CrossEntropyFuncOptions();
  if (sum) options.reduction(torch::kSum);
  if (task == "language_model") return F::cross_entropy(out.reshape({-1, out.size(-1)}), targets.reshape(-1), options);
  return F::cross_entropy(out, targets, options);
}

class Run {
 public:
  Run(const Recipe& recipe, const TrainOptions& options) : r_(recipe), o_(options) {
    if (!o_.communicator) own_comm_ = comm::MakeWorldOfOne();
    comm_ = o_.communicator ? o_.communicator : own_comm_.get();
    rank_ = comm_->rank();
    ranks_ = comm_->size();
  }

  StatusOr<TrainResult> Execute() {
    RETURN_IF_ERROR(Setup());
    return o_.evaluate_only ? EvaluateCheckpoint() : Loop();
  }

 private:
  Status Setup() {
    const TrainSpec& t = r_.train;
    if (t.threads > 0) {
      at::set_num_threads(static_cast<int>(t.threads));
      kernels::SetCpuThreads(static_cast<int>(t.threads));
    }
    torch::manual_seed(static_cast<uint64_t>(t.seed));
    RETURN_IF_ERROR(ResolveDevice());

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

    store_ = std::make_unique<CheckpointStore>(std::filesystem::path(o_.output_dir) / "checkpoints", r_.checkpoint.keep,
                                               o_.epoch);
    if (rank_ == 0) RETURN_IF_ERROR(store_->Claim());
    Position start;
    RETURN_IF_ERROR(o_.evaluate_only ? LoadForEvaluation() : MaybeResume(&start));

    const int64_t batch = std::min<int64_t>(t.batch_size, train_.inputs.size(0) / ranks_);
    const int64_t per_epoch = std::max<int64_t>(1, train_.inputs.size(0) / (batch * ranks_));
    total_steps_ = t.steps > 0 ? t.steps : std::max<int64_t>(1, t.epochs * per_epoch / t.grad_accumulation);
    log_interval_ = r_.metrics.log_interval > 0 ? r_.metrics.log_interval : std::max<int64_t>(1, total_steps_ / 20);
    prefetcher_ = std::make_unique<BatchPrefetcher>(train_.inputs, train_.targets, data_.task == "language_model",
                                                    t.batch_size, r_.data.shuffle, static_cast<uint64_t>(t.seed),
                                                    start, device_.is_cuda(), rank_, ranks_);
    if (rank_ == 0) {
      std::filesystem::path metrics_path = std::filesystem::path(o_.output_dir) / r_.metrics.file;
      ASSIGN_OR_RETURN(MetricsLog log, MetricsLog::Open(metrics_path.string(),
                                                        step_ > 0 ? std::optional<int64_t>(step_) : std::nullopt));
      metrics_ = std::make_unique<MetricsLog>(std::move(log));
    }
    PrintHeader();
    return OkStatus();
  }

  Status ResolveDevice() {
    const std::string& d = r_.train.device;
    const bool have_cuda = torch::cuda::is_available();
    const auto rank_gpu = static_cast<c10::DeviceIndex>(o_.cuda_device);
    if (d == "auto") {
      device_ = have_cuda ? torch::Device(torch::kCUDA, rank_gpu) : torch::Device(torch::kCPU);
    } else if (d == "cpu") {
      device_ = torch::Device(torch::kCPU);
    } else {
      if (!have_cuda) {
        // This machine's lack, not the recipe's fault: Unavailable, so the trial is retried elsewhere.
        return Unavailable("train.device is " + d + " but no CUDA GPU is visible on this machine; use device: auto or "
                           "cpu, or run it where a GPU is");
      }
      int index = d == "cuda" ? o_.cuda_device : std::stoi(d.substr(5));
      if (index >= static_cast<int>(torch::cuda::device_count())) {
        return Unavailable("train.device is " + d + " but only " + std::to_string(torch::cuda::device_count()) +
                           " GPU(s) are visible on this machine");
      }
      device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
    }
    if (device_.is_cuda() && !kernels::CudaKernelsAvailable()) {
      return Unavailable("this orchard-train was built without CUDA kernels; rebuild it with nvcc available");
    }
    bf16_ = r_.train.precision == "bf16" && device_.is_cuda();
    if (r_.train.precision == "bf16" && !device_.is_cuda() && o_.progress) {
      *o_.progress << "note: precision bf16 applies to GPUs only; training in fp32 on the CPU\n";
    }
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

  Status MaybeResume(Position* start) {
    std::vector<std::string> warnings;
    ASSIGN_OR_RETURN(std::optional<Checkpoint> latest, store_->Latest(&warnings));
    for (const std::string& w : warnings) Say("warning: " + w);
    if (!latest) {
      if (o_.resume) Say("no checkpoint to resume from in " + store_->root().string() + "; starting fresh");
      return OkStatus();
    }
    if (!o_.resume) {
      return FailedPrecondition(o_.output_dir + " already holds checkpoints (latest: step " + std::to_string(latest->step) +
                                "); pass --resume to continue that run, or choose another --out");
    }
    const int64_t saved_ranks = latest->manifest.value("metadata", nlohmann::json::object()).value("ranks", int64_t{1});
    if (saved_ranks != ranks_) {
      return FailedPrecondition(latest->dir.string() + " was written by " + std::to_string(saved_ranks) + " rank(s); resume it with " +
                                std::to_string(saved_ranks) + ", not " + std::to_string(ranks_));
    }
    auto bytes = CheckpointStore::ReadFile(*latest, "rank-0.pt");
    if (!bytes.ok()) return bytes.status();
    std::string own_bytes;
    if (rank_ > 0) {
      ASSIGN_OR_RETURN(own_bytes, CheckpointStore::ReadFile(*latest, RankFile(rank_)));
    }
    try {
      torch::serialize::InputArchive archive;
      std::istringstream in(*bytes);
      archive.load_from(in, device_);
      RETURN_IF_ERROR(RestoreModelState(*model_, archive, latest->dir.string()));
      torch::serialize::InputArchive optimizer_archive;
      if (!archive.try_read("optimizer", optimizer_archive)) {
        return DataLoss(latest->dir.string() + " has no optimizer state");
      }
      if (Status s = optimizer_->Load(optimizer_archive); !s.ok()) {
        return FailedPrecondition(latest->dir.string() + ": " + s.message());
      }
      // Each rank's own random state and data position (rank 0's live in rank-0.pt too).
      torch::serialize::InputArchive own_archive;
      if (rank_ > 0) {
        std::istringstream own(own_bytes);
        own_archive.load_from(own, device_);
      }
      torch::serialize::InputArchive& rank_state = rank_ > 0 ? own_archive : archive;
      torch::Tensor progress, cpu_rng;
      rank_state.read("progress", progress);
      torch::Tensor window;
      if (rank_state.try_read("train_loss_window", window)) {
        window = window.to(torch::kCPU);
        window_loss_ = window[0].item<double>();
        window_steps_ = static_cast<int64_t>(window[1].item<double>());
      }
      rank_state.read("rng/cpu", cpu_rng);
      auto p = progress.to(torch::kCPU);
      step_ = p[0].item<int64_t>();
      start->epoch = p[1].item<int64_t>();
      start->batch = p[2].item<int64_t>();
      SetGeneratorState(torch::Device(torch::kCPU), cpu_rng);
      if (device_.is_cuda()) {
        torch::Tensor cuda_rng;
        if (rank_state.try_read("rng/cuda", cuda_rng)) SetGeneratorState(device_, cuda_rng);
      }
    } catch (const c10::Error& e) {
      return DataLoss(latest->dir.string() + ": cannot restore the checkpoint: " + e.what_without_backtrace());
    }
    result_.start_step = step_;
    result_.last_checkpoint = latest->dir.string();
    Say("resumed from " + latest->dir.string() + " at step " + std::to_string(step_));
    return OkStatus();
  }

  // --evaluate-only: the latest checkpoint's model (every rank reads rank 0's file, which holds it),
  // with the validation inputs standardised as that model's training data was.
  Status LoadForEvaluation() {
    std::vector<std::string> warnings;
    ASSIGN_OR_RETURN(std::optional<Checkpoint> latest, store_->Latest(&warnings));
    for (const std::string& w : warnings) Say("warning: " + w);
    if (!latest) {
      return FailedPrecondition("--evaluate-only needs a checkpoint to evaluate in " + store_->root().string() +
                                ", and there is none");
    }
    ASSIGN_OR_RETURN(std::string bytes, CheckpointStore::ReadFile(*latest, "rank-0.pt"));
    try {
      torch::serialize::InputArchive archive;
      std::istringstream in(bytes);
      archive.load_from(in, device_);
      RETURN_IF_ERROR(RestoreModelState(*model_, archive, latest->dir.string()));
      torch::Tensor progress, mean, inv_std;
      archive.read("progress", progress);
      step_ = progress.to(torch::kCPU)[0].item<int64_t>();
      if (archive.try_read("data/mean", mean) && archive.try_read("data/inv_std", inv_std)) {
        validation_.inputs = Restandardise(validation_.inputs, mean.to(torch::kCPU), inv_std.to(torch::kCPU));
      } else if (!data_.mean.empty()) {
        Say("note: " + latest->dir.string() + " does not record how its training data was standardised (written by " +
            "an older orchard-train); the validation data is standardised with its own training split's statistics");
      }
    } catch (const c10::Error& e) {
      return DataLoss(latest->dir.string() + ": cannot restore the model: " + e.what_without_backtrace());
    }
    result_.start_step = step_;
    result_.last_checkpoint = latest->dir.string();
    Say("evaluating " + latest->dir.string() + " (step " + std::to_string(step_) + ") on " +
        std::to_string(data_.validation.count) + " validation samples");
    return OkStatus();
  }

  // `inputs` as standardised by this recipe's data, standardised instead by (`mean`, `inv_std`).
  torch::Tensor Restandardise(const torch::Tensor& inputs, const torch::Tensor& mean, const torch::Tensor& inv_std) const {
    torch::Tensor raw = inputs;
    if (!data_.mean.empty()) {
      const auto width = static_cast<int64_t>(data_.mean.size());
      const auto own_mean = torch::from_blob(const_cast<float*>(data_.mean.data()), {width}, torch::kFloat32);
      const auto own_inv_std = torch::from_blob(const_cast<float*>(data_.inv_std.data()), {width}, torch::kFloat32);
      raw = inputs.reshape({inputs.size(0), width}) / own_inv_std + own_mean;
    }
    return ((raw.reshape({inputs.size(0), -1}) - mean.reshape(-1)) * inv_std.reshape(-1)).reshape(inputs.sizes());
  }

  // The model judged once at the checkpoint's step; the metrics go to the metrics file as usual.
  StatusOr<TrainResult> EvaluateCheckpoint() {
    c10::DeviceGuard device_guard(device_);
    ASSIGN_OR_RETURN(result_.final_eval, Evaluate());
    std::string line = "evaluated at step " + std::to_string(step_) + ":";
    for (const auto& [name, value] : result_.final_eval) line += " " + name + " " + FormatValue(value);
    Say(line);
    return Finish();
  }

  static torch::Tensor GeneratorState(const torch::Device& device) {
    auto gen = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    return gen.get_state();
  }
  static void SetGeneratorState(const torch::Device& device, const torch::Tensor& state) {
    auto gen = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state.to(torch::kCPU));
  }

  static std::string RankFile(int rank) { return "rank-" + std::to_string(rank) + ".pt"; }

  // The model and optimizer are replicated, so rank 0 writes them once (rank-0.pt); every rank's
  // random state and data position go to rank-<r>.pt, gathered to rank 0, which commits them all.
  Status SaveCheckpoint() {
    torch::serialize::OutputArchive archive;
    Position p = prefetcher_->position();
    archive.write("progress", torch::tensor({step_, p.epoch, p.batch}, torch::kInt64));
    archive.write("train_loss_window", torch::tensor({window_loss_, static_cast<double>(window_steps_)}, torch::kFloat64));
    archive.write("rng/cpu", GeneratorState(torch::Device(torch::kCPU)));
    if (device_.is_cuda()) archive.write("rng/cuda", GeneratorState(device_));
    if (rank_ == 0) {
      for (auto& [name, tensor] : model_->State()) archive.write("model/" + name, tensor.detach());
      WriteStandardisation(archive);
      torch::serialize::OutputArchive optimizer_archive;
      optimizer_->Save(optimizer_archive);
      archive.write("optimizer", optimizer_archive);
    }
    std::ostringstream out;
    archive.save_to(out);
    ASSIGN_OR_RETURN(std::vector<std::string> per_rank, GatherToRankZero(out.str()));
    result_.last_checkpoint = (store_->root() / ("step-" + std::to_string(step_))).string();
    if (rank_ != 0) return OkStatus();
    std::vector<CheckpointFile> files;
    for (int r = 0; r < ranks_; ++r) files.push_back({RankFile(r), std::move(per_rank[r])});
    nlohmann::json metadata = {{"recipe", r_.name}, {"recipe_file", r_.file}, {"overrides", r_.overrides},
                               {"ranks", ranks_}, {"device", device_.str()}};
    return store_->Commit(step_, files, metadata);
  }

  // How the model's inputs were standardised, shaped as one sample (identity when data.normalize is
  // off), so that an evaluation on other data or an exported model prepares inputs the same way.
  void WriteStandardisation(torch::serialize::OutputArchive& archive) {
    if (data_.task == "language_model") return;
    const std::vector<int64_t>& shape = data_.sample_shape;
    torch::Tensor mean = torch::zeros(shape, torch::kFloat32), inv_std = torch::ones(shape, torch::kFloat32);
    if (!data_.mean.empty()) {
      const auto width = static_cast<int64_t>(data_.mean.size());
      mean = torch::from_blob(data_.mean.data(), {width}, torch::kFloat32).reshape(shape).clone();
      inv_std = torch::from_blob(data_.inv_std.data(), {width}, torch::kFloat32).reshape(shape).clone();
    }
    archive.write("data/mean", mean);
    archive.write("data/inv_std", inv_std);
  }

  // Every rank's bytes, on rank 0 (elsewhere only its own): two all-reduces, of the sizes and of a
  // zeroed buffer where each rank fills its own slice; only at checkpoints, so simplicity wins.
  StatusOr<std::vector<std::string>> GatherToRankZero(std::string own) {
    std::vector<std::string> all(ranks_);
    if (ranks_ == 1) {
      all[0] = std::move(own);
      return all;
    }
    torch::Tensor sizes = torch::zeros({ranks_}, torch::kInt64);
    sizes[rank_] = static_cast<int64_t>(own.size());
    torch::Tensor sizes_on_device = OnCommDevice(sizes);
    ASSIGN_OR_RETURN(comm::Buffer size_buffer, BufferOf(sizes_on_device));
    RETURN_IF_ERROR(comm_->AllReduce(size_buffer, comm::ReduceOp::kSum));
    sizes = sizes_on_device.to(torch::kCPU);
    std::vector<int64_t> offsets(ranks_ + 1, 0);
    for (int r = 0; r < ranks_; ++r) offsets[r + 1] = offsets[r] + sizes[r].item<int64_t>();
    torch::Tensor bytes = torch::zeros({offsets[ranks_]}, torch::kUInt8);
    std::memcpy(bytes.data_ptr<uint8_t>() + offsets[rank_], own.data(), own.size());
    torch::Tensor on_device = OnCommDevice(bytes);
    ASSIGN_OR_RETURN(comm::Buffer byte_buffer, BufferOf(on_device));
    RETURN_IF_ERROR(comm_->AllReduce(byte_buffer, comm::ReduceOp::kSum));
    bytes = on_device.to(torch::kCPU);
    for (int r = 0; r < ranks_; ++r) {
      all[r].assign(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()) + offsets[r], offsets[r + 1] - offsets[r]);
    }
    return all;
  }

  // NCCL reduces device memory only; MPI and the world of one reduce host memory.
  torch::Tensor OnCommDevice(const torch::Tensor& host) const {
    return comm_->kind() == "nccl" ? host.to(device_) : host;
  }

  // Sums `values` over the ranks (float64).
  Status SumOverRanks(std::vector<double>* values) {
    if (ranks_ == 1) return OkStatus();
    torch::Tensor t = OnCommDevice(torch::tensor(*values, torch::kFloat64));
    ASSIGN_OR_RETURN(comm::Buffer buffer, BufferOf(t));
    RETURN_IF_ERROR(comm_->AllReduce(buffer, comm::ReduceOp::kSum));
    t = t.to(torch::kCPU);
    for (size_t i = 0; i < values->size(); ++i) (*values)[i] = t[static_cast<int64_t>(i)].item<double>();
    return OkStatus();
  }

  // Each rank evaluates every ranks-th chunk of the validation split; the sums are combined.
  StatusOr<std::map<std::string, double>> Evaluate() {
    torch::NoGradGuard no_grad;
    model_->SetTraining(false);
    const int64_t n = validation_.inputs.size(0);
    const int64_t chunk = std::max<int64_t>(256, r_.train.batch_size);
    double loss_sum = 0, correct = 0, items = 0;
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
      loss_sum += Loss(data_.task, out.to(torch::kFloat32), targets, /*sum=*/true).item<double>();
      items += static_cast<double>(targets.numel());
      if (data_.task == "classification") correct += out.argmax(-1).eq(targets).sum().item<double>();
    }
    model_->SetTraining(true);
    std::vector<double> sums = {loss_sum, correct, items};
    RETURN_IF_ERROR(SumOverRanks(&sums));
    std::map<std::string, double> metrics;
    if (n == 0) return metrics;
    metrics["val_loss"] = sums[0] / sums[2];
    if (data_.task == "classification") metrics["val_accuracy"] = sums[1] / sums[2];
    if (lm) metrics["val_perplexity"] = std::exp(metrics["val_loss"]);
    for (const auto& [name, value] : metrics) Record(step_, name, value);
    return metrics;
  }

  // Metrics are rank 0's to write.
  void Record(int64_t step, const std::string& name, double value) {
    if (metrics_) metrics_->Record(step, name, value);
  }
  void FlushMetrics() {
    if (metrics_) metrics_->Flush();
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

  StatusOr<TrainResult> Loop() {
    const TrainSpec& t = r_.train;
    // Orchard's kernels run on the current device: make it this run's (cuda:N).
    c10::DeviceGuard device_guard(device_);
    model_->SetTraining(true);
    double interval_seconds = 0, last_grad_norm = 0;
    int64_t interval_steps = 0, measured_steps = 0;
    double measured_seconds = 0;
    bool first = true;
    const int64_t samples_per_step = prefetcher_->batch_size() * t.grad_accumulation * ranks_;
    const auto run_start = Clock::now();
    if (step_ >= total_steps_) Say("the run is already complete at step " + std::to_string(step_) + "; nothing to do");

    while (step_ < total_steps_) {
      const auto step_start = Clock::now();
      const double lr = LearningRate(r_.schedule, r_.optimizer.lr, step_, total_steps_);
      reducer_->ZeroGrad();
      torch::Tensor loss_total = torch::zeros({}, torch::TensorOptions().device(device_));
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
      // The ranks agree on the mean loss and on stopping, so they all take the same decisions.
      std::vector<double> shared = {loss_total.item<double>(),
                                    o_.stop_requested && o_.stop_requested->load() ? 1.0 : 0.0};
      RETURN_IF_ERROR(SumOverRanks(&shared));
      const double loss_value = shared[0] / ranks_;
      const bool stop = shared[1] > 0;
      std::vector<kernels::FloatSpan> grads = GradientSpans();
      // The clip coefficient is folded into the optimizer's step instead of a pass over the gradients.
      ASSIGN_OR_RETURN(kernels::GradNormResult norm,
                       kernels::ClipGradNorm(grads, t.grad_clip, device_.is_cuda() ? kernels::Device::kCuda : kernels::Device::kCpu,
                                             kernels::ClipAction::kComputeScaleOnly));
      if (!std::isfinite(loss_value) || !norm.finite) {
        Record(step_ + 1, "train_loss", loss_value);
        FlushMetrics();
        std::ostringstream why;
        why << "diverged at step " << step_ + 1 << ": "
            << (!std::isfinite(loss_value) ? "loss is " + FormatValue(loss_value) : "gradient norm is " + FormatValue(norm.norm))
            << " (lower optimizer.lr, or set train.grad_clip)";
        result_.outcome = TrainResult::Outcome::kDiverged;
        result_.message = why.str();
        Say(result_.message);
        return Finish();
      }
      RETURN_IF_ERROR(optimizer_->Step(lr, norm.scale));
      ++step_;
      const double seconds = std::chrono::duration<double>(Clock::now() - step_start).count();
      if (first) result_.first_train_loss = loss_value;
      // The first step pays for allocations and thread start-up; throughput excludes it.
      if (!first) measured_seconds += seconds, ++measured_steps;
      first = false;
      window_loss_ += loss_value, ++window_steps_;
      interval_seconds += seconds, ++interval_steps;
      last_grad_norm = norm.norm;

      const bool last = step_ == total_steps_;
      std::map<std::string, double> eval;
      if (last || (t.eval_interval > 0 && step_ % t.eval_interval == 0)) {
        ASSIGN_OR_RETURN(eval, Evaluate());
      }
      if (last || step_ % log_interval_ == 0 || !eval.empty()) {
        const double mean_loss = window_loss_ / static_cast<double>(window_steps_);
        const double step_ms = 1000.0 * interval_seconds / interval_steps;
        const double samples_per_second = samples_per_step / (interval_seconds / interval_steps);
        Record(step_, "train_loss", mean_loss);
        Record(step_, "lr", lr);
        Record(step_, "grad_norm", last_grad_norm);
        Record(step_, "samples_per_second", samples_per_second);
        Record(step_, "step_time_ms", step_ms);
        FlushMetrics();
        result_.final_train_loss = mean_loss;
        const double elapsed = std::chrono::duration<double>(Clock::now() - run_start).count();
        PrintProgress(mean_loss, eval, lr, samples_per_second, step_ms,
                      elapsed / (step_ - result_.start_step) * (total_steps_ - step_));
        window_loss_ = interval_seconds = 0, window_steps_ = interval_steps = 0;
      }
      if (!eval.empty()) result_.final_eval = eval, FlushMetrics();
      if (last || stop || (r_.checkpoint.interval > 0 && step_ % r_.checkpoint.interval == 0)) {
        RETURN_IF_ERROR(SaveCheckpoint());
      }
      if (stop && !last) {
        result_.outcome = TrainResult::Outcome::kPreempted;
        result_.message = "preempted at step " + std::to_string(step_) + "; checkpoint " + result_.last_checkpoint;
        Say(result_.message);
        break;
      }
    }
    if (measured_steps > 0) {
      result_.step_time_ms = 1000.0 * measured_seconds / measured_steps;
      result_.samples_per_second = samples_per_step * measured_steps / measured_seconds;
    }
    return Finish();
  }

  TrainResult Finish() {
    FlushMetrics();
    result_.steps = step_;
    result_.total_steps = total_steps_;
    uint32_t crc = 0;
    for (auto& [name, tensor] : model_->State()) {
      torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
      crc = Crc32cExtend(crc, name.data(), name.size());
      crc = Crc32cExtend(crc, cpu.data_ptr(), cpu.numel() * cpu.element_size());
    }
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", crc);
    result_.parameter_digest = hex;
    return result_;
  }

  static std::string FormatValue(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
  }

  void Say(const std::string& line) {
    if (o_.progress && rank_ == 0) *o_.progress << line << std::endl;
  }

  void PrintHeader() {
    std::ostringstream line;
    line << "orchard-train " << r_.name << ": model " << r_.model.type << " (" << result_.parameter_count
         << " parameters), data " << r_.data.type << " (" << data_.train.count << " train / "
         << data_.validation.count << " validation), " << total_steps_ << " steps of "
         << prefetcher_->batch_size() * r_.train.grad_accumulation * ranks_ << ", device " << device_.str();
    if (device_.is_cpu()) line << " (" << at::get_num_threads() << " threads)";
    if (ranks_ > 1) {
      line << ", " << ranks_ << " ranks (" << comm_->kind() << ") of batch " << prefetcher_->batch_size() << ", "
           << reducer_->buckets().size() << " gradient bucket(s)";
    }
    Say(line.str());
  }

  void PrintProgress(double loss, const std::map<std::string, double>& eval, double lr, double samples_per_second,
                     double step_ms, double eta_seconds) {
    char buf[512];
    int width = static_cast<int>(std::to_string(total_steps_).size());
    std::string line;
    std::snprintf(buf, sizeof buf, "step %*lld/%lld  loss %.4f", width, static_cast<long long>(step_),
                  static_cast<long long>(total_steps_), loss);
    line += buf;
    for (const auto& [name, value] : eval) {
      std::snprintf(buf, sizeof buf, "  %s %.4f", name.c_str(), value);
      line += buf;
    }
    std::snprintf(buf, sizeof buf, "  lr %.2e  %.0f samples/s  %.2f ms/step  eta %lds", lr, samples_per_second, step_ms,
                  std::lround(eta_seconds));
    Say(line + buf);
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
  std::unique_ptr<CheckpointStore> store_;
  std::unique_ptr<MetricsLog> metrics_;
  std::unique_ptr<BatchPrefetcher> prefetcher_;
  std::unique_ptr<comm::Communicator> own_comm_;  // the world of one when the caller gave none
  comm::Communicator* comm_ = nullptr;
  int rank_ = 0, ranks_ = 1;
  std::unique_ptr<GradientReducer> reducer_;
  int64_t step_ = 0;
  // The losses since train_loss was last logged; checkpointed, so a resumed run logs the same means.
  double window_loss_ = 0;
  int64_t window_steps_ = 0;
  int64_t total_steps_ = 0;
  int64_t log_interval_ = 1;
  TrainResult result_;
};

}  // namespace

StatusOr<TrainResult> Train(const Recipe& recipe, const TrainOptions& options) {
  try {
    return Run(recipe, options).Execute();
  } catch (const c10::Error& e) {
    return Internal("LibTorch error: " + std::string(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return Internal(std::string("training failed: ") + e.what());
  }
}

}  // namespace orchard::train
