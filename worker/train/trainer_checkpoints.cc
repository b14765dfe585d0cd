#include "worker/train/trainer_checkpoints.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <mutex>
#include <sstream>
#include <vector>

namespace orchard::train {
namespace {

torch::Tensor GeneratorState(const torch::Device& device) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void SetGeneratorState(const torch::Device& device, const torch::Tensor& state) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state.to(torch::kCPU));
}

std::string RankFile(int rank) { return "rank-" + std::to_string(rank) + ".pt"; }

}  // namespace

TrainerCheckpoints::TrainerCheckpoints(const Recipe& recipe, const TrainOptions& options, const SplitDataset& data,
                                       Model& model, Optimizer& optimizer, torch::Device device,
                                       RankGathering& gathering, Progress& progress)
    : recipe_(recipe), options_(options), data_(data), model_(model), optimizer_(optimizer), device_(device),
      gathering_(gathering), progress_(progress),
      store_(std::filesystem::path(options.output_dir) / "checkpoints", recipe.checkpoint.keep, options.epoch) {}

Status TrainerCheckpoints::Claim() {
  if (gathering_.rank() != 0) return OkStatus();
  return store_.Claim();
}

StatusOr<std::optional<RestoredCheckpoint>> TrainerCheckpoints::Resume() {
  const int rank = gathering_.rank(), ranks = gathering_.ranks();
  std::vector<std::string> warnings;
  ASSIGN_OR_RETURN(std::optional<Checkpoint> latest, store_.Latest(&warnings));
  for (const std::string& w : warnings) progress_.Say("warning: " + w);
  if (!latest) {
    if (options_.resume) progress_.Say("no checkpoint to resume from in " + store_.root().string() + "; starting fresh");
    return std::optional<RestoredCheckpoint>();
  }
  if (!options_.resume) {
    return FailedPrecondition(options_.output_dir + " already holds checkpoints (latest: step " +
                              std::to_string(latest->step) + "); pass --resume to continue that run, or choose another --out");
  }
  const int64_t saved_ranks = latest->manifest.value("metadata", nlohmann::json::object()).value("ranks", int64_t{1});
  if (saved_ranks != ranks) {
    return FailedPrecondition(latest->dir.string() + " was written by " + std::to_string(saved_ranks) +
                              " rank(s); resume it with " + std::to_string(saved_ranks) + ", not " + std::to_string(ranks));
  }
  auto bytes = CheckpointStore::ReadFile(*latest, "rank-0.pt");
  if (!bytes.ok()) return bytes.status();
  std::string own_bytes;
  if (rank > 0) {
    ASSIGN_OR_RETURN(own_bytes, CheckpointStore::ReadFile(*latest, RankFile(rank)));
  }
  RestoredCheckpoint restored{latest->dir.string(), {}};
  RunPosition& position = restored.position;
  try {
    torch::serialize::InputArchive archive;
    std::istringstream in(*bytes);
    archive.load_from(in, device_);
    RETURN_IF_ERROR(RestoreModelState(model_, archive, restored.dir));
    torch::serialize::InputArchive optimizer_archive;
    if (!archive.try_read("optimizer", optimizer_archive)) {
      return DataLoss(restored.dir + " has no optimizer state");
    }
    if (Status s = optimizer_.Load(optimizer_archive); !s.ok()) {
      return FailedPrecondition(restored.dir + ": " + s.message());
    }
    // Each rank's own random state and data position (rank 0's live in rank-0.pt too).
    torch::serialize::InputArchive own_archive;
    if (rank > 0) {
      std::istringstream own(own_bytes);
      own_archive.load_from(own, device_);
    }
    torch::serialize::InputArchive& rank_state = rank > 0 ? own_archive : archive;
    torch::Tensor progress, cpu_rng;
    rank_state.read("progress", progress);
    torch::Tensor window;
    if (rank_state.try_read("train_loss_window", window)) {
      window = window.to(torch::kCPU);
      position.window_loss = window[0].item<double>();
      position.window_steps = static_cast<int64_t>(window[1].item<double>());
    }
    rank_state.read("rng/cpu", cpu_rng);
    auto p = progress.to(torch::kCPU);
    position.step = p[0].item<int64_t>();
    position.data.epoch = p[1].item<int64_t>();
    position.data.batch = p[2].item<int64_t>();
    SetGeneratorState(torch::Device(torch::kCPU), cpu_rng);
    if (device_.is_cuda()) {
      torch::Tensor cuda_rng;
      if (rank_state.try_read("rng/cuda", cuda_rng)) SetGeneratorState(device_, cuda_rng);
    }
  } catch (const c10::Error& e) {
    return DataLoss(restored.dir + ": cannot restore the checkpoint: " + e.what_without_backtrace());
  }
  progress_.Say("resumed from " + restored.dir + " at step " + std::to_string(position.step));
  return std::optional<RestoredCheckpoint>(std::move(restored));
}

StatusOr<RestoredCheckpoint> TrainerCheckpoints::LoadForEvaluation(torch::Tensor* validation_inputs) {
  std::vector<std::string> warnings;
  ASSIGN_OR_RETURN(std::optional<Checkpoint> latest, store_.Latest(&warnings));
  for (const std::string& w : warnings) progress_.Say("warning: " + w);
  if (!latest) {
    return FailedPrecondition("--evaluate-only needs a checkpoint to evaluate in " + store_.root().string() +
                              ", and there is none");
  }
  ASSIGN_OR_RETURN(std::string bytes, CheckpointStore::ReadFile(*latest, "rank-0.pt"));
  RestoredCheckpoint restored{latest->dir.string(), {}};
  try {
    torch::serialize::InputArchive archive;
    std::istringstream in(bytes);
    archive.load_from(in, device_);
    RETURN_IF_ERROR(RestoreModelState(model_, archive, restored.dir));
    torch::Tensor progress, mean, inv_std;
    archive.read("progress", progress);
    restored.position.step = progress.to(torch::kCPU)[0].item<int64_t>();
    if (archive.try_read("data/mean", mean) && archive.try_read("data/inv_std", inv_std)) {
      *validation_inputs = Restandardise(*validation_inputs, mean.to(torch::kCPU), inv_std.to(torch::kCPU));
    } else if (!data_.mean.empty()) {
      progress_.Say("note: " + restored.dir + " does not record how its training data was standardised (written by " +
                    "an older orchard-train); the validation data is standardised with its own training split's statistics");
    }
  } catch (const c10::Error& e) {
    return DataLoss(restored.dir + ": cannot restore the model: " + e.what_without_backtrace());
  }
  progress_.Say("evaluating " + restored.dir + " (step " + std::to_string(restored.position.step) + ") on " +
                std::to_string(data_.validation.count) + " validation samples");
  return restored;
}

// `inputs` as standardised by this recipe's data, standardised instead by (`mean`, `inv_std`).
torch::Tensor TrainerCheckpoints::Restandardise(const torch::Tensor& inputs, const torch::Tensor& mean,
                                                const torch::Tensor& inv_std) const {
  torch::Tensor raw = inputs;
  if (!data_.mean.empty()) {
    const auto width = static_cast<int64_t>(data_.mean.size());
    const auto own_mean = torch::from_blob(const_cast<float*>(data_.mean.data()), {width}, torch::kFloat32);
    const auto own_inv_std = torch::from_blob(const_cast<float*>(data_.inv_std.data()), {width}, torch::kFloat32);
    raw = inputs.reshape({inputs.size(0), width}) / own_inv_std + own_mean;
  }
  return ((raw.reshape({inputs.size(0), -1}) - mean.reshape(-1)) * inv_std.reshape(-1)).reshape(inputs.sizes());
}

StatusOr<std::string> TrainerCheckpoints::Save(const RunPosition& position) {
  const int rank = gathering_.rank(), ranks = gathering_.ranks();
  torch::serialize::OutputArchive archive;
  archive.write("progress", torch::tensor({position.step, position.data.epoch, position.data.batch}, torch::kInt64));
  archive.write("train_loss_window",
                torch::tensor({position.window_loss, static_cast<double>(position.window_steps)}, torch::kFloat64));
  archive.write("rng/cpu", GeneratorState(torch::Device(torch::kCPU)));
  if (device_.is_cuda()) archive.write("rng/cuda", GeneratorState(device_));
  if (rank == 0) {
    for (auto& [name, tensor] : model_.State()) {
      // A fused member's tensors are views into the whole group's: the archive would hold all of it.
      const bool part_of_larger = tensor.storage().nbytes() != static_cast<size_t>(tensor.nbytes());
      archive.write("model/" + name, part_of_larger ? tensor.detach().clone() : tensor.detach());
    }
    WriteStandardisation(archive);
    torch::serialize::OutputArchive optimizer_archive;
    optimizer_.Save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  std::ostringstream out;
  archive.save_to(out);
  ASSIGN_OR_RETURN(std::vector<std::string> per_rank, gathering_.AllGatherBytes(out.str()));
  const std::string dir = (store_.root() / ("step-" + std::to_string(position.step))).string();
  if (rank != 0) return dir;
  std::vector<CheckpointFile> files;
  for (int r = 0; r < ranks; ++r) files.push_back({RankFile(r), std::move(per_rank[r])});
  nlohmann::json metadata = {{"recipe", recipe_.name}, {"recipe_file", recipe_.file}, {"overrides", recipe_.overrides},
                             {"ranks", ranks}, {"device", device_.str()}};
  RETURN_IF_ERROR(store_.Commit(position.step, files, metadata));
  return dir;
}

// How the model's inputs were standardised, shaped as one sample (identity when data.normalize is
// off), so that an evaluation on other data or an exported model prepares inputs the same way.
void TrainerCheckpoints::WriteStandardisation(torch::serialize::OutputArchive& archive) const {
  if (data_.task == "language_model") return;
  const std::vector<int64_t>& shape = data_.sample_shape;
  torch::Tensor mean = torch::zeros(shape, torch::kFloat32), inv_std = torch::ones(shape, torch::kFloat32);
  if (!data_.mean.empty()) {
    const auto width = static_cast<int64_t>(data_.mean.size());
    mean = torch::from_blob(const_cast<float*>(data_.mean.data()), {width}, torch::kFloat32).reshape(shape).clone();
    inv_std = torch::from_blob(const_cast<float*>(data_.inv_std.data()), {width}, torch::kFloat32).reshape(shape).clone();
  }
  archive.write("data/mean", mean);
  archive.write("data/inv_std", inv_std);
}

}  // namespace orchard::train
