#include "worker/comm/communicator.h"

namespace orchard::comm {
namespace {

class DoneOpImpl : public PendingOp {
 public:
  explicit DoneOpImpl(Status status) : status_(std::move(status)) {}
  Status Wait() override { return status_; }

 private:
  Status status_;
};

class WorldOfOne : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string kind() const override { return "single"; }
  std::unique_ptr<PendingOp> AllReduceAsync(Buffer buffer, ReduceOp op) override {
    return DoneOp(ValidateReduce(buffer, op));
  }
  Status Broadcast(Buffer buffer, int root) override {
    RETURN_IF_ERROR(ValidateBuffer(buffer));
    if (root != 0) return InvalidArgument("broadcast root " + std::to_string(root) + " is not a rank of a world of one");
    return OkStatus();
  }
  Status Barrier() override { return OkStatus(); }
};

}  // namespace

size_t SizeOf(DataType type) {
  switch (type) {
    case DataType::kUInt8: return 1;
    case DataType::kInt64: return 8;
    case DataType::kFloat32: return 4;
    case DataType::kFloat64: return 8;
  }
  return 0;
}

std::string Name(DataType type) {
  switch (type) {
    case DataType::kUInt8: return "uint8";
    case DataType::kInt64: return "int64";
    case DataType::kFloat32: return "float32";
    case DataType::kFloat64: return "float64";
  }
  return "unknown";
}

std::unique_ptr<Communicator> MakeWorldOfOne() { return std::make_unique<WorldOfOne>(); }

std::unique_ptr<PendingOp> DoneOp(Status status) { return std::make_unique<DoneOpImpl>(std::move(status)); }

Status ValidateBuffer(const Buffer& buffer) {
  if (buffer.count < 0) return InvalidArgument("collective on a buffer of negative length " + std::to_string(buffer.count));
  if (buffer.count > 0 && buffer.data == nullptr) return InvalidArgument("collective on a null buffer of " + std::to_string(buffer.count) + " elements");
  return OkStatus();
}

Status ValidateReduce(const Buffer& buffer, ReduceOp op) {
  RETURN_IF_ERROR(ValidateBuffer(buffer));
  const bool floating = buffer.type == DataType::kFloat32 || buffer.type == DataType::kFloat64;
  if (op == ReduceOp::kAverage && !floating) {
    return InvalidArgument("all-reduce average of " + Name(buffer.type) + " values: average is defined for float32 and float64 only; use sum");
  }
  return OkStatus();
}

}  // namespace orchard::comm
