#include "worker/comm/nccl_communicator.h"

#include <cstdlib>

#include "worker/comm/gpu_devices.h"

#ifdef ORCHARD_HAVE_NCCL

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>

#include "worker/comm/watchdog.h"

namespace orchard::comm {
namespace {

ncclDataType_t ToNccl(DataType type) {
  switch (type) {
    case DataType::kUInt8: return ncclUint8;
    case DataType::kInt64: return ncclInt64;
    case DataType::kFloat32: return ncclFloat32;
    case DataType::kFloat64: return ncclFloat64;
  }
  return ncclFloat32;
}

ncclRedOp_t ToNccl(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kAverage: return ncclAvg;
    case ReduceOp::kMax: return ncclMax;
  }
  return ncclSum;
}

std::string CudaText(cudaError_t e) { return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e); }
std::string NcclText(ncclResult_t r) { return ncclGetErrorString(r); }

class NcclCommunicator;

class NcclPendingOp : public PendingOp {
 public:
  NcclPendingOp(NcclCommunicator* owner, cudaEvent_t done, std::string what) : owner_(owner), done_(done), what_(std::move(what)) {}
  ~NcclPendingOp() override { cudaEventDestroy(done_); }
  Status Wait() override;

 private:
  NcclCommunicator* owner_;
  cudaEvent_t done_;
  std::string what_;
};

// A nonblocking NCCL communicator (so that joining it can time out too): a call may answer
// ncclInProgress, and the next waits until ncclCommGetAsyncError says it settled.
class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, cudaStream_t stream, int device, int rank, int size, double timeout_seconds)
      : comm_(comm), stream_(stream), device_(device), rank_(rank), size_(size),
        watchdog_({[comm] {
                     ncclResult_t state = ncclSuccess;
                     ncclCommGetAsyncError(comm, &state);
                     return state == ncclSuccess || state == ncclInProgress ? OkStatus()
                                                                            : Internal("NCCL error " + NcclText(state));
                   },
                   [comm] { ncclCommAbort(comm); }},
                  timeout_seconds) {}
  ~NcclCommunicator() override {
    if (watchdog_.failure().empty()) ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string kind() const override { return "nccl"; }

  std::unique_ptr<PendingOp> AllReduceAsync(Buffer buffer, ReduceOp op) override {
    Status valid = ValidateReduce(buffer, op);
    if (!valid.ok()) return DoneOp(valid);
    return Launch("all-reduce of " + std::to_string(buffer.count) + " " + Name(buffer.type), [&] {
      return ncclAllReduce(buffer.data, buffer.data, buffer.count, ToNccl(buffer.type), ToNccl(op), comm_, stream_);
    });
  }

  Status Broadcast(Buffer buffer, int root) override {
    RETURN_IF_ERROR(ValidateBuffer(buffer));
    if (root < 0 || root >= size_) return InvalidArgument("broadcast root " + std::to_string(root) + " is not a rank of " + std::to_string(size_));
    return Launch("broadcast of " + std::to_string(buffer.count) + " " + Name(buffer.type), [&] {
      return ncclBroadcast(buffer.data, buffer.data, buffer.count, ToNccl(buffer.type), root, comm_, stream_);
    })->Wait();
  }

  // NCCL has no barrier: an all-reduce of one value serves, as in other frameworks.
  Status Barrier() override {
    void* scratch = nullptr;
    cudaError_t e = cudaSetDevice(device_);
    if (e == cudaSuccess) e = cudaMalloc(&scratch, sizeof(float));
    if (e == cudaSuccess) e = cudaMemset(scratch, 0, sizeof(float));
    if (e != cudaSuccess) {
      if (scratch != nullptr) cudaFree(scratch);
      return Internal("barrier: " + CudaText(e));
    }
    Status status = AllReduce({scratch, 1, DataType::kFloat32}, ReduceOp::kSum);
    cudaFree(scratch);
    return status;
  }

  // Waits until `done` completes; see Watchdog::Wait.
  Status WaitFor(cudaEvent_t done, const std::string& what) {
    return watchdog_.Wait(
        [done]() -> StatusOr<bool> {
          const cudaError_t e = cudaEventQuery(done);
          if (e == cudaSuccess) return true;
          if (e == cudaErrorNotReady) return false;
          return Internal(CudaText(e));
        },
        what);
  }

  // Waits until the last call on the communicator settled (ncclInProgress no more).
  Status Settle(const std::string& what) {
    bool settled = false;
    return watchdog_.Wait(
        [&]() -> StatusOr<bool> {
          RETURN_IF_ERROR(watchdog_.Guarded([&] {
            ncclResult_t state = ncclSuccess;
            ncclCommGetAsyncError(comm_, &state);
            if (state != ncclSuccess && state != ncclInProgress) return Internal("NCCL error " + NcclText(state));
            settled = state == ncclSuccess;
            return OkStatus();
          }));
          return settled;
        },
        what);
  }

 private:
  template <typename Call>
  std::unique_ptr<PendingOp> Launch(const std::string& what, Call call) {
    // The collective starts after the work queued before it on the legacy default stream, where the
    // trainer's kernels run; a failed step here would let NCCL read buffers not yet written.
    cudaEvent_t ready = nullptr, done = nullptr;
    cudaError_t e = cudaSetDevice(device_);
    if (e == cudaSuccess) e = cudaEventCreateWithFlags(&ready, cudaEventDisableTiming);
    if (e == cudaSuccess) e = cudaEventRecord(ready, cudaStreamLegacy);
    if (e == cudaSuccess) e = cudaStreamWaitEvent(stream_, ready, 0);
    if (ready != nullptr) cudaEventDestroy(ready);
    if (e == cudaSuccess) e = cudaEventCreateWithFlags(&done, cudaEventDisableTiming);
    if (e != cudaSuccess) return DoneOp(Internal(what + ": " + CudaText(e) + " before the collective was issued"));
    ncclResult_t r = ncclSuccess;
    Status issued = watchdog_.Guarded([&] {
      r = call();
      return OkStatus();
    });
    if (issued.ok() && r == ncclInProgress) issued = Settle(what);
    else if (issued.ok() && r != ncclSuccess) issued = watchdog_.Fail(what + ": NCCL error " + NcclText(r));
    if (!issued.ok()) {
      cudaEventDestroy(done);
      return DoneOp(issued.code() == StatusCode::kFailedPrecondition
                        ? FailedPrecondition(what + ": " + issued.message() + "; the attempt must end")
                        : issued);
    }
    e = cudaEventRecord(done, stream_);
    if (e != cudaSuccess) {  // the collective is in flight but cannot be waited for: end the communicator
      cudaEventDestroy(done);
      return DoneOp(watchdog_.Fail(what + ": " + CudaText(e) + " after the collective was issued"));
    }
    return std::make_unique<NcclPendingOp>(this, done, what);
  }

  ncclComm_t comm_;
  cudaStream_t stream_;
  int device_, rank_, size_;
  Watchdog watchdog_;
};

Status NcclPendingOp::Wait() { return owner_->WaitFor(done_, what_); }

}  // namespace

bool NcclAvailable() { return true; }

std::string NcclVersion() {
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess) return "unknown";
  return std::to_string(code / 10000) + "." + std::to_string(code % 10000 / 100) + "." + std::to_string(code % 100);
}

int VisibleGpuCount() {
  int devices = 0;
  return cudaGetDeviceCount(&devices) == cudaSuccess ? devices : 0;
}

StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(Communicator& bootstrap, int device, double timeout_seconds) {
  if (timeout_seconds <= 0) return InvalidArgument("communicator timeout must be positive");
  int devices = 0;
  cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) return FailedPrecondition("NCCL needs a CUDA GPU, and none is visible");
  if (device < 0 || device >= devices) {
    return InvalidArgument("CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(devices) + " visible)");
  }
  ncclUniqueId id;
  std::memset(&id, 0, sizeof id);
  if (bootstrap.rank() == 0) {
    ncclResult_t r = ncclGetUniqueId(&id);
    if (r != ncclSuccess) return Internal("ncclGetUniqueId: " + NcclText(r));
  }
  RETURN_IF_ERROR(bootstrap.Broadcast({&id, sizeof id, DataType::kUInt8}, 0));
  e = cudaSetDevice(device);
  if (e != cudaSuccess) return Internal("cudaSetDevice(" + std::to_string(device) + "): " + CudaText(e));
  cudaStream_t stream;
  e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  if (e != cudaSuccess) return Internal("cudaStreamCreate: " + CudaText(e));
  // Nonblocking, so that a peer that died after the id was sent cannot hold this rank here for good.
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  ncclResult_t r = ncclCommInitRankConfig(&comm, bootstrap.size(), id, bootstrap.rank(), &config);
  if (r != ncclSuccess && r != ncclInProgress) {
    if (comm) ncclCommAbort(comm);
    cudaStreamDestroy(stream);
    return Internal("ncclCommInitRankConfig: " + NcclText(r));
  }
  auto communicator =
      std::make_unique<NcclCommunicator>(comm, stream, device, bootstrap.rank(), bootstrap.size(), timeout_seconds);
  RETURN_IF_ERROR(communicator->Settle("joining the NCCL communicator of " + std::to_string(bootstrap.size()) + " ranks"));
  return std::unique_ptr<Communicator>(std::move(communicator));
}

}  // namespace orchard::comm

#else

namespace orchard::comm {

bool NcclAvailable() { return false; }

std::string NcclVersion() { return ""; }

int VisibleGpuCount() { return 0; }

StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(Communicator&, int, double) {
  return FailedPrecondition("this build has no NCCL (nccl.h and libnccl were not found at configure time); "
                            "GPU trials with several ranks need it");
}

}  // namespace orchard::comm

#endif

namespace orchard::comm {

StatusOr<int> GpuOfThisMpiRank(const std::string& device) {
  const char* local_rank = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  const char* local_size = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  return GpuOfLocalRank(device, local_rank ? std::atoi(local_rank) : 0, local_size ? std::atoi(local_size) : 1,
                        VisibleGpuCount(), std::getenv("CUDA_VISIBLE_DEVICES") != nullptr);
}

}  // namespace orchard::comm
