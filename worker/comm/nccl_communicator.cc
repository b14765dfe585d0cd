#include "worker/comm/nccl_communicator.h"

#ifdef ORCHARD_HAVE_NCCL

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

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

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, cudaStream_t stream, int device, int rank, int size, double timeout_seconds)
      : comm_(comm), stream_(stream), device_(device), rank_(rank), size_(size), timeout_seconds_(timeout_seconds) {}
  ~NcclCommunicator() override {
    if (failure_.empty()) ncclCommDestroy(comm_);
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
    cudaError_t e = cudaMalloc(&scratch, sizeof(float));
    if (e != cudaSuccess) return Internal("barrier: " + CudaText(e));
    cudaMemset(scratch, 0, sizeof(float));
    Status status = AllReduce({scratch, 1, DataType::kFloat32}, ReduceOp::kSum);
    cudaFree(scratch);
    return status;
  }

  // Polls until `done` completes, NCCL reports an error, or the timeout passes (then aborts).
  Status WaitFor(cudaEvent_t done, const std::string& what) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds_);
    while (true) {
      cudaError_t e = cudaEventQuery(done);
      if (e == cudaSuccess) return OkStatus();
      if (e != cudaErrorNotReady) return Fail(what + ": " + CudaText(e));
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) return Fail(what + ": NCCL error " + NcclText(async));
      if (std::chrono::steady_clock::now() > deadline) {
        std::ostringstream why;
        why << what << " did not finish within " << timeout_seconds_ << " s: a peer rank is gone or stuck";
        return Fail(why.str(), /*timed_out=*/true);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

 private:
  template <typename Call>
  std::unique_ptr<PendingOp> Launch(const std::string& what, Call call) {
    if (!failure_.empty()) return DoneOp(FailedPrecondition("communicator failed earlier (" + failure_ + "); the attempt must end"));
    cudaSetDevice(device_);
    cudaEvent_t ready, done;
    cudaEventCreateWithFlags(&ready, cudaEventDisableTiming);
    cudaEventCreateWithFlags(&done, cudaEventDisableTiming);
    cudaEventRecord(ready, cudaStreamLegacy);
    cudaStreamWaitEvent(stream_, ready, 0);
    cudaEventDestroy(ready);
    ncclResult_t r = call();
    if (r != ncclSuccess) {
      cudaEventDestroy(done);
      return DoneOp(Fail(what + ": NCCL error " + NcclText(r)));
    }
    cudaEventRecord(done, stream_);
    return std::make_unique<NcclPendingOp>(this, done, what);
  }

  Status Fail(const std::string& why, bool timed_out = false) {
    if (failure_.empty()) {
      failure_ = why;
      ncclCommAbort(comm_);
    }
    return timed_out ? DeadlineExceeded(why) : Internal(why);
  }

  ncclComm_t comm_;
  cudaStream_t stream_;
  int device_, rank_, size_;
  double timeout_seconds_;
  std::string failure_;
};

Status NcclPendingOp::Wait() { return owner_->WaitFor(done_, what_); }

}  // namespace

bool NcclAvailable() { return true; }

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
  ncclComm_t comm;
  ncclResult_t r = ncclCommInitRank(&comm, bootstrap.size(), id, bootstrap.rank());
  if (r != ncclSuccess) return Internal("ncclCommInitRank: " + NcclText(r));
  cudaStream_t stream;
  e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  if (e != cudaSuccess) {
    ncclCommDestroy(comm);
    return Internal("cudaStreamCreate: " + CudaText(e));
  }
  return std::unique_ptr<Communicator>(
      std::make_unique<NcclCommunicator>(comm, stream, device, bootstrap.rank(), bootstrap.size(), timeout_seconds));
}

}  // namespace orchard::comm

#else

namespace orchard::comm {

bool NcclAvailable() { return false; }

int VisibleGpuCount() { return 0; }

StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(Communicator&, int, double) {
  return FailedPrecondition("this build has no NCCL (nccl.h and libnccl were not found at configure time); "
                            "GPU trials with several ranks need it");
}

}  // namespace orchard::comm

#endif
