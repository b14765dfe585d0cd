// CUDA twin of the gradient judgement (grad_norm_cpu.cc): one launch reduces every chunk of every
// buffer of every group to a per-chunk partial sum, a second (one thread a group) adds each group's in
// chunk order, as the CPU twin does, and writes its verdict. Nothing comes back to the host. The
// tables are planned once and kept while the same buffers and clip norms come back on the same device
// and stream (every step of a run), so a step allocates nothing and copies no table.
#include <cmath>
#include <memory>

#include "kernels/cuda_util.h"

namespace orchard::kernels {
namespace detail {
namespace {

__global__ void SumSquaresKernel(const FloatSpan* spans, const Chunk* chunks, int64_t chunk_count, double* partials) {
  __shared__ double shared[kBlockThreads];
  for (int64_t c = blockIdx.x; c < chunk_count; c += gridDim.x) {
    const Chunk chunk = chunks[c];
    const float* data = spans[chunk.tensor].data;
    double acc = 0;
    for (int64_t i = chunk.begin + threadIdx.x; i < chunk.end; i += blockDim.x) {
      const double v = data[i];
      acc += v * v;
    }
    shared[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
      __syncthreads();
    }
    if (threadIdx.x == 0) partials[c] = shared[0];
    __syncthreads();
  }
}

// A group's chunks and its clip norm, as the verdict kernel reads them.
struct JudgedGroup {
  int64_t begin, end;  // its chunks
  double max_norm;
};

// One thread a group: its partial sums in chunk order (so the norm does not depend on the launch shape).
__global__ void VerdictKernel(const double* partials, const JudgedGroup* groups, int64_t group_count, const float* losses,
                              StepVerdict* verdicts) {
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < group_count;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double sum = 0;
    for (int64_t c = groups[g].begin; c < groups[g].end; ++c) sum += partials[c];
    RecordJudgement(verdicts[g], sum, losses != nullptr ? losses + g : nullptr, groups[g].max_norm);
  }
}

// The device tables for one set of groups of gradient buffers, on one device and stream (its partial
// sums are reused by every judgement queued with it).
struct GradNormPlan {
  std::vector<GradientGroup> groups;  // what it was planned for
  int device = -1;
  Stream stream = nullptr;
  int64_t chunk_count = 0;
  DeviceBuffer<FloatSpan> spans;
  DeviceBuffer<Chunk> chunks;
  DeviceBuffer<double> partials;
  DeviceBuffer<JudgedGroup> group_table;

  bool Fits(const std::vector<GradientGroup>& other, int other_device, Stream other_stream) const {
    if (other.size() != groups.size() || other_device != device || other_stream != stream) return false;
    for (size_t g = 0; g < other.size(); ++g) {
      const std::vector<FloatSpan>& mine = groups[g].grads;
      const std::vector<FloatSpan>& theirs = other[g].grads;
      if (other[g].max_norm != groups[g].max_norm || theirs.size() != mine.size()) return false;
      for (size_t i = 0; i < theirs.size(); ++i)
        if (theirs[i].data != mine[i].data || theirs[i].size != mine[i].size) return false;
    }
    return true;
  }
};

// One per thread that trains (a trainer has one); replanned when its gradient buffers, clip norms,
// device or stream change.
StatusOr<GradNormPlan*> PlanFor(const std::vector<GradientGroup>& groups, Stream stream) {
  thread_local std::unique_ptr<GradNormPlan> plan;
  int device = -1;
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: current device", cudaGetDevice(&device));
  if (plan && plan->Fits(groups, device, stream)) return plan.get();
  plan.reset();  // frees the old tables first (cudaFree waits for the kernels that read them)
  auto fresh = std::make_unique<GradNormPlan>();
  fresh->groups = groups;
  fresh->device = device;
  fresh->stream = stream;
  const GroupChunks layout = PlanGroupChunks(groups);
  std::vector<JudgedGroup> table;
  for (size_t g = 0; g < groups.size(); ++g) table.push_back({layout.group_begin[g], layout.group_begin[g + 1], groups[g].max_norm});
  fresh->chunk_count = static_cast<int64_t>(layout.chunks.size());
  fresh->spans = DeviceBuffer<FloatSpan>(layout.spans.size());
  fresh->chunks = DeviceBuffer<Chunk>(layout.chunks.size());
  fresh->partials = DeviceBuffer<double>(layout.chunks.size());
  fresh->group_table = DeviceBuffer<JudgedGroup>(table.size());
  if (!fresh->spans.ok() || !fresh->chunks.ok() || !fresh->partials.ok() || !fresh->group_table.ok())
    return Internal("gradient norm: out of device memory for its tables");
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: copying tables", fresh->spans.CopyFrom(layout.spans));
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: copying tables", fresh->chunks.CopyFrom(layout.chunks));
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: copying tables", fresh->group_table.CopyFrom(table));
  return (plan = std::move(fresh)).get();
}

}  // namespace

Status JudgeGradientsCuda(const std::vector<GradientGroup>& groups, const float* losses, StepVerdict* verdicts,
                          Stream stream) {
  if (groups.empty()) return OkStatus();
  ASSIGN_OR_RETURN(GradNormPlan* plan, PlanFor(groups, stream));
  const auto count = plan->chunk_count;
  cudaGetLastError();  // a launch error must be this launch's, not one left by other CUDA work
  if (count > 0) {
    SumSquaresKernel<<<BlocksFor(static_cast<size_t>(count)), kBlockThreads, 0, AsCuda(stream)>>>(
        plan->spans.get(), plan->chunks.get(), count, plan->partials.get());
    ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: launch", cudaGetLastError());
  }
  const auto group_count = static_cast<int64_t>(groups.size());
  const unsigned blocks = BlocksFor((groups.size() + kBlockThreads - 1) / kBlockThreads);
  VerdictKernel<<<blocks, kBlockThreads, 0, AsCuda(stream)>>>(plan->partials.get(), plan->group_table.get(), group_count,
                                                             losses, verdicts);
  ORCHARD_CUDA_RETURN_IF_ERROR("gradient norm: verdict launch", cudaGetLastError());
  return OkStatus();
}

}  // namespace detail

bool CudaKernelsAvailable() {
  int count = 0;
  // No driver or no device reads as "none", not as an error.
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

}  // namespace orchard::kernels
