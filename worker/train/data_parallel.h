// Synchronous data parallelism for the training runtime (includes torch: used by trainer.cc and
// tests only).
//
//   RETURN_IF_ERROR(BroadcastTensors(comm, model_state, /*root=*/0));   // same start on every rank
//   GradientReducer reducer(params, &comm, 25 << 20, /*overlap=*/true);
//   reducer.ZeroGrad();
//   reducer.BeginBackward(/*last_micro_batch=*/true);
//   loss.backward();                     // full buckets start their all-reduce as autograd fills them
//   RETURN_IF_ERROR(reducer.FinishBackward());   // every gradient now holds the mean over the ranks
//
// The reducer lays the parameters' gradients out in flat fp32 buckets (each gradient a view into
// its bucket), filled in reverse parameter order (roughly the order backward produces them), each
// closed once it reaches the bucket size. A hook after gradient accumulation counts each bucket's
// gradients; once a bucket is complete it is all-reduced (average) asynchronously, while backward
// goes on. Buckets start strictly in index order, so every rank issues the same collectives in the
// same order. Not thread-safe apart from the hooks, which autograd may call from its own thread.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/status.h"
#include "worker/comm/communicator.h"

namespace orchard::train {

// Parameter indices per bucket: the parameters taken last to first, a bucket closed as soon as it
// holds at least `bucket_bytes`. Pure; every parameter lands in exactly one bucket.
std::vector<std::vector<size_t>> PlanBuckets(const std::vector<int64_t>& parameter_bytes, int64_t bucket_bytes);

// The communicator's view of a contiguous tensor (float32, float64, int64 or uint8).
StatusOr<comm::Buffer> BufferOf(const torch::Tensor& tensor);

// Copies `root`'s values of every tensor into the others' (in place, in order).
Status BroadcastTensors(comm::Communicator& comm, const std::vector<torch::Tensor>& tensors, int root);

class GradientReducer {
 public:
  // Parameters must be float32 and on one device. `overlap` false: every bucket is all-reduced in
  // FinishBackward, after backward (the baseline the overlap is measured against).
  GradientReducer(std::vector<torch::Tensor> parameters, comm::Communicator* comm, int64_t bucket_bytes, bool overlap);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Zeroes every gradient (the buckets) in place.
  void ZeroGrad();
  // Before each backward of a step. With gradient accumulation only the last micro-batch's backward
  // communicates; earlier ones just accumulate into the buckets.
  void BeginBackward(bool last_micro_batch);
  // Starts the buckets not started yet (parameters that got no gradient keep zeros), in order, and
  // waits for all of them.
  Status FinishBackward();

  const std::vector<std::vector<size_t>>& buckets() const { return buckets_; }
  // Bucket indices in the order their all-reduce started during the last step, and how many had
  // started before backward returned (the overlapped ones).
  const std::vector<size_t>& launch_order() const { return launch_order_; }
  size_t launched_during_backward() const { return launched_during_backward_; }

 private:
  class Hook;
  void OnGradientAccumulated(size_t parameter);
  void LaunchReadyBuckets();  // requires mu_

  std::vector<torch::Tensor> parameters_;
  comm::Communicator* comm_;
  bool overlap_;
  std::vector<std::vector<size_t>> buckets_;
  std::vector<size_t> bucket_of_;           // parameter index -> bucket index
  std::vector<torch::Tensor> flat_;         // one fp32 buffer per bucket

  std::mutex mu_;
  bool armed_ = false;                      // hooks count only during the last micro-batch
  std::vector<size_t> pending_count_;       // gradients still missing per bucket
  size_t next_bucket_ = 0;                  // the next bucket to start
  std::vector<std::unique_ptr<comm::PendingOp>> in_flight_;
  std::vector<size_t> launch_order_;
  size_t launched_during_backward_ = 0;
};

}  // namespace orchard::train
