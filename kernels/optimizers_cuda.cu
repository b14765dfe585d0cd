// CUDA twin of the fused optimizers (optimizers.cc). The tensor and chunk tables go to device memory
// once per plan; each step copies the groups' coefficients into device memory (asynchronously, from a
// ring of pinned buffers) and launches one kernel in which each block takes whole chunks.
#include <array>

#include "kernels/cuda_util.h"

namespace orchard::kernels {
namespace detail {
namespace {

constexpr int kIlp = 4;  // elements in flight per thread: loads of all four are issued before the math

template <OptimizerKind kKind>
__global__ void StepKernel(const OptimizerTensor* tensors, const Chunk* chunks, int64_t chunk_count,
                           const GroupCoefficients* groups, const StepVerdict* verdicts) {
  constexpr bool kAdam = kKind != OptimizerKind::kSgd;
  for (int64_t c = blockIdx.x; c < chunk_count; c += gridDim.x) {
    const Chunk chunk = chunks[c];
    const OptimizerTensor t = tensors[chunk.tensor];
    // The whole block takes one chunk, so it skips or steps it together.
    if (verdicts != nullptr && verdicts[t.group].skip != 0) continue;
    GroupCoefficients k = groups[t.group];
    if (verdicts != nullptr) k.grad_scale *= verdicts[t.group].scale;
    const bool bf16 = t.param_type == ParamType::kBFloat16;
    float* p = bf16 ? t.master : static_cast<float*>(t.param);
    const bool momentum = !kAdam && k.momentum != 0.0f;
    const int64_t stride = static_cast<int64_t>(blockDim.x) * kIlp;
    for (int64_t base = chunk.begin + threadIdx.x; base < chunk.end; base += stride) {
      float pr[kIlp], gr[kIlp], mr[kIlp], vr[kIlp];
#pragma unroll
      for (int j = 0; j < kIlp; ++j) {
        const int64_t i = base + static_cast<int64_t>(j) * blockDim.x;
        pr[j] = gr[j] = mr[j] = vr[j] = 0.0f;
        if (i < chunk.end) {
          pr[j] = p[i];
          gr[j] = t.grad[i];
          if (kAdam || momentum) mr[j] = t.exp_avg[i];
          if (kAdam) vr[j] = t.exp_avg_sq[i];
        }
      }
#pragma unroll
      for (int j = 0; j < kIlp; ++j) {
        if (kAdam) AdamElement(kKind == OptimizerKind::kAdamW, k, pr[j], gr[j], mr[j], vr[j]);
        else SgdElement(momentum, k, pr[j], gr[j], mr[j]);
      }
#pragma unroll
      for (int j = 0; j < kIlp; ++j) {
        const int64_t i = base + static_cast<int64_t>(j) * blockDim.x;
        if (i < chunk.end) {
          p[i] = pr[j];
          if (bf16) static_cast<uint16_t*>(t.param)[i] = FloatToBf16(pr[j]);
          if (kAdam || momentum) t.exp_avg[i] = mr[j];
          if (kAdam) t.exp_avg_sq[i] = vr[j];
        }
      }
    }
  }
}

constexpr int kRing = 4;  // steps whose coefficients may be in flight at once

class CudaOptimizer final : public MultiTensorOptimizer {
 public:
  CudaOptimizer(OptimizerKind kind, std::vector<OptimizerTensor> tensors, size_t group_count)
      : MultiTensorOptimizer(kind, std::move(tensors), group_count) {}

  ~CudaOptimizer() override {
    // Steps still queued read the tables and coefficients freed below.
    for (int s = 0; s < kRing; ++s) {
      if (events_[s]) cudaEventSynchronize(events_[s]);
    }
    for (int s = 0; s < kRing; ++s) {
      if (events_[s]) cudaEventDestroy(events_[s]);
      if (pinned_[s]) cudaFreeHost(pinned_[s]);
    }
  }

  Status Init() {
    std::vector<int64_t> sizes;
    for (const OptimizerTensor& t : tensors_) sizes.push_back(t.size);
    const std::vector<Chunk> chunks = PlanChunks(sizes, kChunkElements);
    chunk_count_ = static_cast<int64_t>(chunks.size());
    tensor_table_ = DeviceBuffer<OptimizerTensor>(tensors_.size());
    chunk_table_ = DeviceBuffer<Chunk>(chunks.size());
    if (!tensor_table_.ok() || !chunk_table_.ok()) return Internal("fused optimizer: out of device memory for its tables");
    ORCHARD_CUDA_RETURN_IF_ERROR("fused optimizer: copying tables", tensor_table_.CopyFrom(tensors_));
    ORCHARD_CUDA_RETURN_IF_ERROR("fused optimizer: copying tables", chunk_table_.CopyFrom(chunks));
    for (int s = 0; s < kRing; ++s) {
      groups_[s] = DeviceBuffer<GroupCoefficients>(group_count_);
      if (!groups_[s].ok()) return Internal("fused optimizer: out of device memory for group coefficients");
      ORCHARD_CUDA_RETURN_IF_ERROR("fused optimizer: pinned memory",
                                   cudaMallocHost(reinterpret_cast<void**>(&pinned_[s]), std::max<size_t>(group_count_, 1) * sizeof(GroupCoefficients)));
      ORCHARD_CUDA_RETURN_IF_ERROR("fused optimizer: events", cudaEventCreateWithFlags(&events_[s], cudaEventDisableTiming));
    }
    return OkStatus();
  }

  Status Step(const std::vector<OptimizerGroup>& groups, const StepVerdict* verdicts, Stream stream) override {
    if (groups.size() != group_count_) {
      return InvalidArgument("optimizer step: " + std::to_string(groups.size()) + " groups given, the optimizer has " +
                             std::to_string(group_count_));
    }
    for (size_t i = 0; i < groups.size(); ++i) RETURN_IF_ERROR(ValidateGroup(kind_, groups[i], i));
    RETURN_IF_ERROR(CheckMomentumBuffers(kind_, tensors_, groups));
    if (chunk_count_ == 0) return OkStatus();
    const int slot = next_slot_;
    next_slot_ = (next_slot_ + 1) % kRing;
    // The slot's previous copy and launch must be done before its buffers are reused.
    ORCHARD_CUDA_RETURN_IF_ERROR("fused optimizer: waiting for an earlier step", cudaEventSynchronize(events_[slot]));
    for (size_t i = 0; i < groups.size(); ++i) pinned_[slot][i] = Coefficients(kind_, groups[i]);
    ORCHARD_CUDA_RETURN_IF_ERROR("fused optimizer: copying coefficients",
                                 cudaMemcpyAsync(groups_[slot].get(), pinned_[slot], groups.size() * sizeof(GroupCoefficients),
                                                 cudaMemcpyHostToDevice, AsCuda(stream)));
    // A launch error must be this launch's, not one left behind by other CUDA work.
    cudaGetLastError();
    const unsigned blocks = BlocksFor(static_cast<size_t>(chunk_count_));
    switch (kind_) {
      case OptimizerKind::kAdamW:
        StepKernel<OptimizerKind::kAdamW><<<blocks, kBlockThreads, 0, AsCuda(stream)>>>(tensor_table_.get(), chunk_table_.get(), chunk_count_,
                                                                                    groups_[slot].get(), verdicts);
        break;
      case OptimizerKind::kAdam:
        StepKernel<OptimizerKind::kAdam><<<blocks, kBlockThreads, 0, AsCuda(stream)>>>(tensor_table_.get(), chunk_table_.get(), chunk_count_,
                                                                                    groups_[slot].get(), verdicts);
        break;
      case OptimizerKind::kSgd:
        StepKernel<OptimizerKind::kSgd><<<blocks, kBlockThreads, 0, AsCuda(stream)>>>(tensor_table_.get(), chunk_table_.get(), chunk_count_,
                                                                                    groups_[slot].get(), verdicts);
        break;
    }
    const cudaError_t launched = cudaGetLastError();
    // Recorded even after a failed launch, so the slot's event still marks its latest use.
    ORCHARD_CUDA_RETURN_IF_ERROR("fused optimizer: events", cudaEventRecord(events_[slot], AsCuda(stream)));
    ORCHARD_CUDA_RETURN_IF_ERROR("fused optimizer: launch", launched);
    return OkStatus();
  }

 private:
  DeviceBuffer<OptimizerTensor> tensor_table_;
  DeviceBuffer<Chunk> chunk_table_;
  int64_t chunk_count_ = 0;
  std::array<DeviceBuffer<GroupCoefficients>, kRing> groups_;
  std::array<GroupCoefficients*, kRing> pinned_{};
  std::array<cudaEvent_t, kRing> events_{};
  int next_slot_ = 0;
};

}  // namespace

StatusOr<std::unique_ptr<MultiTensorOptimizer>> CreateCudaOptimizer(OptimizerKind kind, std::vector<OptimizerTensor> tensors,
                                                                    size_t group_count) {
  if (!CudaKernelsAvailable()) return FailedPrecondition("fused optimizer: no CUDA device is visible");
  auto optimizer = std::make_unique<CudaOptimizer>(kind, std::move(tensors), group_count);
  RETURN_IF_ERROR(optimizer->Init());
  return std::unique_ptr<MultiTensorOptimizer>(std::move(optimizer));
}

}  // namespace detail
}  // namespace orchard::kernels
