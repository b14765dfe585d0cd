// Training batches for the trainer (includes torch: used by trainer.cc and trainer_checkpoints.cc).
//
//   BatchPrefetcher batches(inputs, targets, /*language_model=*/false, 64, /*shuffle=*/true, seed,
//                           resumed_position, /*pin=*/false, comm.rank(), comm.size());
//   Batch b = batches.Next();
//   Position checkpointed = batches.position();
//
// Produces batches on a background thread, a few ahead of the training loop, in an order fixed by
// (seed, epoch) alone, so a resumed run sees exactly the batches the original would have. With
// several ranks each global batch of ranks x batch_size samples is cut into one consecutive slice
// per rank: the shards are disjoint, and their union is what one rank with the global batch would
// see. Call Next and position from one thread.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace orchard::train {

// Where the training data stands.
struct Position {
  int64_t epoch = 0;
  int64_t batch = 0;  // next batch within the epoch
};

struct Batch {
  torch::Tensor inputs;
  torch::Tensor targets;
};

class BatchPrefetcher {
 public:
  // A language model's `inputs` are token rows: a batch's inputs are all but the last token, its
  // targets all but the first (`targets` unused). `pin`: page-locked batches, for copies to a GPU.
  BatchPrefetcher(torch::Tensor inputs, torch::Tensor targets, bool language_model, int64_t batch_size,
                  bool shuffle, uint64_t seed, Position start, bool pin, int rank, int ranks);
  ~BatchPrefetcher();
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;

  // Full global batches per epoch (the remainder is dropped so every step sees the same batch size).
  int64_t batches_per_epoch() const { return inputs_.size(0) / (batch_size_ * ranks_); }
  // Per rank: the recipe's, or smaller when the training split cannot fill it on every rank.
  int64_t batch_size() const { return batch_size_; }
  // Of the next batch Next returns.
  Position position() const { return consumed_; }

  // Blocks until the next batch is ready; rethrows what the producer thread threw.
  Batch Next();

 private:
  static constexpr size_t kDepth = 4;

  void Advance(Position* p) const;
  void Produce();

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

}  // namespace orchard::train
