// Collective communication among the ranks of one attempt: all-reduce (blocking or asynchronous),
// broadcast and barrier over raw buffers, so this header needs neither torch nor MPI nor NCCL.
//
//   std::unique_ptr<Communicator> comm = MakeWorldOfOne();
//   RETURN_IF_ERROR(comm->AllReduce({grads.data(), n, DataType::kFloat32}, ReduceOp::kAverage));
//   std::unique_ptr<PendingOp> op = comm->AllReduceAsync(bucket, ReduceOp::kAverage);
//   ... more backward ...
//   RETURN_IF_ERROR(op->Wait());
//
// Implementations: a world of one (here), MPI for host memory (mpi_communicator.h) and NCCL for CUDA
// memory (nccl_communicator.h). Every rank must issue the same collectives in the same order. An
// operation that does not finish within the communicator's timeout fails with DEADLINE_EXCEEDED and
// leaves the communicator failed: every later operation fails at once, and the attempt must end (the
// buffer of the timed-out operation may still be written until the process exits).
// Issue operations from one thread at a time; PendingOp::Wait may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace orchard::comm {

enum class DataType { kUInt8, kInt64, kFloat32, kFloat64 };
enum class ReduceOp { kSum, kAverage, kMax };

size_t SizeOf(DataType type);
std::string Name(DataType type);

// Host memory for MPI and the world of one; device memory (of the communicator's GPU) for NCCL.
struct Buffer {
  void* data = nullptr;
  int64_t count = 0;  // elements
  DataType type = DataType::kFloat32;
};

class PendingOp {
 public:
  virtual ~PendingOp() = default;
  // Blocks until the operation finished (its buffer holds the result) or failed.
  virtual Status Wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string kind() const = 0;  // "single", "mpi", "nccl"

  // In place; kAverage divides the sum by size() (floating-point types only).
  virtual std::unique_ptr<PendingOp> AllReduceAsync(Buffer buffer, ReduceOp op) = 0;
  Status AllReduce(Buffer buffer, ReduceOp op) { return AllReduceAsync(buffer, op)->Wait(); }
  // Every rank's buffer ends up holding `root`'s.
  virtual Status Broadcast(Buffer buffer, int root) = 0;
  virtual Status Barrier() = 0;
};

// One rank: every collective is the identity (and validated like the others).
std::unique_ptr<Communicator> MakeWorldOfOne();

// A PendingOp that is already done, with `status`.
std::unique_ptr<PendingOp> DoneOp(Status status);

// Checks that `op` is defined for `type` (kAverage needs floating point) and that the buffer is
// well formed; shared by every implementation so they reject the same requests.
Status ValidateReduce(const Buffer& buffer, ReduceOp op);
Status ValidateBuffer(const Buffer& buffer);

}  // namespace orchard::comm
