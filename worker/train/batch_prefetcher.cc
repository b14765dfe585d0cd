#include "worker/train/batch_prefetcher.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "worker/train/datasets.h"

namespace orchard::train {

BatchPrefetcher::BatchPrefetcher(torch::Tensor inputs, torch::Tensor targets, bool language_model,
                                 int64_t batch_size, bool shuffle, uint64_t seed, Position start, bool pin,
                                 int rank, int ranks)
    : inputs_(std::move(inputs)), targets_(std::move(targets)), language_model_(language_model),
      batch_size_(std::min<int64_t>(batch_size, inputs_.size(0) / ranks)), shuffle_(shuffle), seed_(seed), pin_(pin),
      rank_(rank), ranks_(ranks), produce_at_(start), consumed_(start) {
  thread_ = std::thread([this] { Produce(); });
}

BatchPrefetcher::~BatchPrefetcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Batch BatchPrefetcher::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !queue_.empty() || error_; });
  if (error_) std::rethrow_exception(error_);
  Batch b = std::move(queue_.front());
  queue_.pop_front();
  cv_.notify_all();
  Advance(&consumed_);
  return b;
}

void BatchPrefetcher::Advance(Position* p) const {
  if (++p->batch == batches_per_epoch()) p->batch = 0, ++p->epoch;
}

void BatchPrefetcher::Produce() {
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

}  // namespace orchard::train
