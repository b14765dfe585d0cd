#include "worker/comm/mpi_communicator.h"

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

namespace orchard::comm {
namespace {

MPI_Datatype ToMpi(DataType type) {
  switch (type) {
    case DataType::kUInt8: return MPI_UINT8_T;
    case DataType::kInt64: return MPI_INT64_T;
    case DataType::kFloat32: return MPI_FLOAT;
    case DataType::kFloat64: return MPI_DOUBLE;
  }
  return MPI_DATATYPE_NULL;
}

template <typename T>
void Scale(void* data, int64_t count, double factor) {
  T* values = static_cast<T*>(data);
  for (int64_t i = 0; i < count; ++i) values[i] = static_cast<T>(values[i] * factor);
}

// MPI counts are ints; larger buffers must be split by the caller (buckets are far smaller).
Status FitsMpiCount(const Buffer& buffer) {
  if (buffer.count <= INT32_MAX) return OkStatus();
  return InvalidArgument("MPI collective of " + std::to_string(buffer.count) + " elements exceeds MPI's count limit of 2^31-1; split the buffer");
}

// One queued operation and its outcome, shared by the communication thread and the waiter.
struct Work {
  std::function<Status()> run;
  std::string what;  // "all-reduce of 1024 float32", for errors
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  Status status;
};

// Set once any collective of this process failed: its MPI call may never return, and FinalizeMpi
// names it when MPI_Finalize then does not finish.
std::atomic<bool> collective_failed{false};
// MPI calls under way in communication threads (Serve, CallWithDeadline). MPI_Finalize must not run
// beside one: a timed-out all-reduce that completed once its late peers arrived crashed rank 0 at exit.
std::atomic<int> calls_in_flight{0};

// What the communication thread shares with the communicator and its pending operations. Held by
// shared pointers so that a thread stuck in MPI can outlive a destroyed communicator safely.
struct Shared {
  double timeout_seconds = 0;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Work>> queue;  // guarded by mu
  bool stopping = false;                    // guarded by mu
  std::string failure;                      // guarded by mu; set once an operation failed

  void MarkFailed(const std::string& why) {
    collective_failed.store(true);
    std::lock_guard<std::mutex> lock(mu);
    if (failure.empty()) failure = why;
  }
  bool Failed() {
    std::lock_guard<std::mutex> lock(mu);
    return !failure.empty();
  }
};

class MpiPendingOp : public PendingOp {
 public:
  MpiPendingOp(std::shared_ptr<Shared> shared, std::shared_ptr<Work> work)
      : shared_(std::move(shared)), work_(std::move(work)) {}

  Status Wait() override {
    std::unique_lock<std::mutex> lock(work_->mu);
    const auto timeout = std::chrono::duration<double>(shared_->timeout_seconds);
    if (!work_->done_cv.wait_for(lock, timeout, [this] { return work_->done; })) {
      std::ostringstream why;
      why << work_->what << " did not finish within " << shared_->timeout_seconds
          << " s: a peer rank is gone or stuck (see the other ranks' logs)";
      shared_->MarkFailed(why.str());
      return DeadlineExceeded(why.str());
    }
    if (!work_->status.ok()) shared_->MarkFailed(work_->status.message());
    return work_->status;
  }

 private:
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<Work> work_;
};

void Serve(std::shared_ptr<Shared> shared) {
  while (true) {
    std::shared_ptr<Work> work;
    {
      std::unique_lock<std::mutex> lock(shared->mu);
      shared->cv.wait(lock, [&] { return shared->stopping || !shared->queue.empty(); });
      if (shared->queue.empty()) return;
      work = shared->queue.front();
      shared->queue.pop_front();
    }
    ++calls_in_flight;
    Status status = work->run();
    --calls_in_flight;
    {
      std::lock_guard<std::mutex> lock(work->mu);
      work->status = std::move(status);
      work->done = true;
    }
    work->done_cv.notify_all();
  }
}

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, double timeout_seconds) : comm_(comm), shared_(std::make_shared<Shared>()) {
    shared_->timeout_seconds = timeout_seconds;
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    thread_ = std::thread(Serve, shared_);
  }

  ~MpiCommunicator() override {
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->stopping = true;
    }
    shared_->cv.notify_all();
    if (shared_->Failed()) {
      thread_.detach();  // it may be stuck inside MPI for good; the duplicated MPI_Comm leaks with it
      return;
    }
    thread_.join();
    MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string kind() const override { return "mpi"; }

  std::unique_ptr<PendingOp> AllReduceAsync(Buffer buffer, ReduceOp op) override {
    Status valid = ValidateReduce(buffer, op);
    if (valid.ok()) valid = FitsMpiCount(buffer);
    if (!valid.ok()) return DoneOp(valid);
    std::ostringstream what;
    what << "all-reduce of " << buffer.count << " " << Name(buffer.type);
    return Enqueue(what.str(), [comm = comm_, size = size_, buffer, op] {
      MPI_Op mpi_op = op == ReduceOp::kMax ? MPI_MAX : MPI_SUM;
      int rc = MPI_Allreduce(MPI_IN_PLACE, buffer.data, static_cast<int>(buffer.count), ToMpi(buffer.type), mpi_op, comm);
      if (rc != MPI_SUCCESS) return Internal("MPI_Allreduce failed: " + MpiErrorText(rc));
      if (op == ReduceOp::kAverage) {
        if (buffer.type == DataType::kFloat32) Scale<float>(buffer.data, buffer.count, 1.0 / size);
        else Scale<double>(buffer.data, buffer.count, 1.0 / size);
      }
      return OkStatus();
    });
  }

  Status Broadcast(Buffer buffer, int root) override {
    RETURN_IF_ERROR(ValidateBuffer(buffer));
    RETURN_IF_ERROR(FitsMpiCount(buffer));
    if (root < 0 || root >= size_) return InvalidArgument("broadcast root " + std::to_string(root) + " is not a rank of " + std::to_string(size_));
    return Enqueue("broadcast of " + std::to_string(buffer.count) + " " + Name(buffer.type), [comm = comm_, buffer, root] {
      int rc = MPI_Bcast(buffer.data, static_cast<int>(buffer.count), ToMpi(buffer.type), root, comm);
      return rc == MPI_SUCCESS ? OkStatus() : Internal("MPI_Bcast failed: " + MpiErrorText(rc));
    })->Wait();
  }

  Status Barrier() override {
    return Enqueue("barrier", [comm = comm_] {
      int rc = MPI_Barrier(comm);
      return rc == MPI_SUCCESS ? OkStatus() : Internal("MPI_Barrier failed: " + MpiErrorText(rc));
    })->Wait();
  }

 private:
  std::unique_ptr<PendingOp> Enqueue(std::string what, std::function<Status()> run) {
    auto work = std::make_shared<Work>();
    work->run = std::move(run);
    work->what = std::move(what);
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      if (!shared_->failure.empty()) {
        return DoneOp(FailedPrecondition("communicator failed earlier (" + shared_->failure + "); the attempt must end"));
      }
      shared_->queue.push_back(work);
    }
    shared_->cv.notify_all();
    return std::make_unique<MpiPendingOp>(shared_, work);
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace

std::string MpiErrorText(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, length);
}

Status InitMpi() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return OkStatus();
  int provided = 0;
  int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
  if (rc != MPI_SUCCESS) return Internal("MPI_Init_thread failed: " + MpiErrorText(rc));
  std::atexit([] { FinalizeMpi(1); });
  if (provided < MPI_THREAD_MULTIPLE) {
    return FailedPrecondition("this MPI library does not provide MPI_THREAD_MULTIPLE (ompi_info | grep -i thread); "
                              "Orchard's communication threads need it");
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  return OkStatus();
}

void FinalizeMpi(int exit_code, double grace_seconds) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) return;
  const auto leave = [exit_code](const char* why) {
    std::cout.flush();
    std::cerr << "orchard: " << why << "; exiting with code " << exit_code << " without finalising MPI" << std::endl;
    std::_Exit(exit_code);
  };
  // mpirun counts a rank that leaves without MPI_Finalize as failed, so it is always tried; a
  // collective still stuck in another thread, or a stopped peer, can hold it up for good.
  std::thread([grace_seconds, leave, stuck = collective_failed.load()] {
    std::this_thread::sleep_for(std::chrono::duration<double>(grace_seconds));
    leave(stuck ? "MPI_Finalize did not finish in time behind a collective that failed"
                : "MPI_Finalize did not finish in time (a peer rank is stopped or unreachable)");
  }).detach();
  // A timed-out call may still finish (its peers were late, not gone): let it, within the grace.
  while (calls_in_flight.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  MPI_Finalize();
  // A thread of a collective that failed may still be running: leave now rather than destroy the
  // statics it may touch (seen as a segfault at exit after every test had passed).
  if (collective_failed.load()) {
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(exit_code);
  }
}

Status CallWithDeadline(const std::string& what, double timeout_seconds, std::function<int()> call) {
  struct Outcome {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    int rc = MPI_SUCCESS;
  };
  auto outcome = std::make_shared<Outcome>();
  ++calls_in_flight;
  std::thread([outcome, call = std::move(call)] {
    const int rc = call();
    --calls_in_flight;
    std::lock_guard<std::mutex> lock(outcome->mu);
    outcome->rc = rc;
    outcome->done = true;
    outcome->cv.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(outcome->mu);
  if (!outcome->cv.wait_for(lock, std::chrono::duration<double>(timeout_seconds), [&] { return outcome->done; })) {
    collective_failed.store(true);
    std::ostringstream why;
    why << what << " did not finish within " << timeout_seconds << " s: a peer rank is gone or stuck (see the other ranks' logs)";
    return DeadlineExceeded(why.str());
  }
  if (outcome->rc != MPI_SUCCESS) return Internal(what + " failed: " + MpiErrorText(outcome->rc));
  return OkStatus();
}

bool StartedByMpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr; }

StatusOr<std::unique_ptr<Communicator>> MakeMpiCommunicator(MPI_Comm comm, double timeout_seconds) {
  if (timeout_seconds <= 0) return InvalidArgument("communicator timeout must be positive, not " + std::to_string(timeout_seconds));
  auto own = std::make_shared<MPI_Comm>(MPI_COMM_NULL);  // shared: a timed-out call may still write it
  RETURN_IF_ERROR(CallWithDeadline("MPI_Comm_dup", timeout_seconds, [comm, own] { return MPI_Comm_dup(comm, own.get()); }));
  MPI_Comm_set_errhandler(*own, MPI_ERRORS_RETURN);
  return std::unique_ptr<Communicator>(std::make_unique<MpiCommunicator>(*own, timeout_seconds));
}

}  // namespace orchard::comm
