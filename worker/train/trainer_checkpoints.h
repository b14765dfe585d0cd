// The trainer's checkpoints (includes torch: used by trainer.cc only): what a run writes at a
// checkpoint, and how a resumed or --evaluate-only run restores it, on top of checkpoint_store.h.
//
//   TrainerCheckpoints checkpoints(recipe, options, data, *model, *optimizer, device, gathering, progress);
//   RETURN_IF_ERROR(checkpoints.Claim());
//   ASSIGN_OR_RETURN(std::optional<RestoredCheckpoint> resumed, checkpoints.Resume());
//   ...
//   ASSIGN_OR_RETURN(std::string dir, checkpoints.Save({step, batches.position(), window_loss, window_steps}));
//
// The model and optimizer are replicated, so rank 0 writes them once (rank-0.pt); every rank's
// random state and data position go to rank-<r>.pt, gathered across the ranks (rank_gathering.h)
// for rank 0 to commit them all. Save is a collective. Not thread-safe.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>

#include "core/recipe.h"
#include "core/status.h"
#include "worker/train/batch_prefetcher.h"
#include "worker/train/checkpoint_store.h"
#include "worker/train/datasets.h"
#include "worker/train/models.h"
#include "worker/train/optimizers.h"
#include "worker/train/progress.h"
#include "worker/train/rank_gathering.h"
#include "worker/train/trainer.h"

namespace orchard::train {

// Where a run stands, as a checkpoint records it besides the model and the optimizer.
struct RunPosition {
  int64_t step = 0;  // optimizer steps done
  Position data;
  // The losses since train_loss was last logged, so a resumed run logs the same means.
  double window_loss = 0;
  int64_t window_steps = 0;
};

struct RestoredCheckpoint {
  std::string dir;
  RunPosition position;  // --evaluate-only: the step alone
};

class TrainerCheckpoints {
 public:
  // Checkpoints go to <options.output_dir>/checkpoints, fenced by options.epoch. Every reference
  // must outlive this.
  TrainerCheckpoints(const Recipe& recipe, const TrainOptions& options, const SplitDataset& data, Model& model,
                     Optimizer& optimizer, torch::Device device, RankGathering& gathering,
                     Progress& progress);

  // Rank 0 claims the checkpoint directory for this attempt's epoch (CheckpointStore::Claim).
  Status Claim();

  // Restores the model, the optimizer and this rank's random state from the latest checkpoint when
  // options.resume is set; nullopt when there is none (a fresh start). FailedPrecondition when
  // checkpoints exist but options.resume is not set, or they were written by another number of
  // ranks; DataLoss when the checkpoint cannot be restored.
  StatusOr<std::optional<RestoredCheckpoint>> Resume();

  // --evaluate-only: restores the latest checkpoint's model (every rank reads rank 0's file, which
  // holds it) and re-standardises `*validation_inputs` as that model's training data was.
  // FailedPrecondition when there is no checkpoint; DataLoss when it cannot be restored.
  StatusOr<RestoredCheckpoint> LoadForEvaluation(torch::Tensor* validation_inputs);

  // Writes the checkpoint of `position.step` and returns its directory (on every rank). kAborted when
  // a newer attempt owns the checkpoint directory (CheckpointStore::Commit).
  StatusOr<std::string> Save(const RunPosition& position);

 private:
  torch::Tensor Restandardise(const torch::Tensor& inputs, const torch::Tensor& mean,
                              const torch::Tensor& inv_std) const;
  void WriteStandardisation(torch::serialize::OutputArchive& archive) const;

  const Recipe& recipe_;
  const TrainOptions& options_;
  const SplitDataset& data_;
  Model& model_;
  Optimizer& optimizer_;
  torch::Device device_;
  RankGathering& gathering_;
  Progress& progress_;
  CheckpointStore store_;
};

}  // namespace orchard::train
