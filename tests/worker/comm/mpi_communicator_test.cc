// The MPI communicator among real MPI ranks (run by ctest under mpirun with 2 and 3 ranks).
#include "worker/comm/mpi_communicator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

namespace orchard::comm {
namespace {

std::unique_ptr<Communicator> World(double timeout_seconds = 30) {
  auto comm = MakeMpiCommunicator(MPI_COMM_WORLD, timeout_seconds);
  EXPECT_TRUE(comm.ok()) << comm.status().message();
  return std::move(*comm);
}

TEST(MpiCommunicatorTest, AllReduceSumsAndAverages) {
  auto comm = World();
  const int n = comm->size();
  std::vector<float> values = {1.0f * comm->rank(), 2.0f, -1.0f};
  ASSERT_TRUE(comm->AllReduce({values.data(), 3, DataType::kFloat32}, ReduceOp::kSum).ok());
  EXPECT_FLOAT_EQ(values[0], n * (n - 1) / 2.0f);
  EXPECT_FLOAT_EQ(values[1], 2.0f * n);
  EXPECT_FLOAT_EQ(values[2], -1.0f * n);

  std::vector<double> mean = {static_cast<double>(comm->rank())};
  ASSERT_TRUE(comm->AllReduce({mean.data(), 1, DataType::kFloat64}, ReduceOp::kAverage).ok());
  EXPECT_DOUBLE_EQ(mean[0], (n - 1) / 2.0);

  std::vector<int64_t> biggest = {int64_t{1} << 40 | comm->rank()};
  ASSERT_TRUE(comm->AllReduce({biggest.data(), 1, DataType::kInt64}, ReduceOp::kMax).ok());
  EXPECT_EQ(biggest[0], int64_t{1} << 40 | (n - 1));
}

TEST(MpiCommunicatorTest, AsynchronousAllReducesRunInIssueOrderWhileTheCallerWorks) {
  auto comm = World();
  const int n = comm->size();
  std::vector<std::vector<float>> buckets(4, std::vector<float>(100000));
  std::vector<std::unique_ptr<PendingOp>> pending;
  for (size_t b = 0; b < buckets.size(); ++b) {
    for (float& v : buckets[b]) v = static_cast<float>(b + 1) * (comm->rank() + 1);
    pending.push_back(comm->AllReduceAsync({buckets[b].data(), 100000, DataType::kFloat32}, ReduceOp::kAverage));
  }
  for (auto it = pending.rbegin(); it != pending.rend(); ++it) ASSERT_TRUE((*it)->Wait().ok());
  for (size_t b = 0; b < buckets.size(); ++b) {
    const float expected = static_cast<float>(b + 1) * (n + 1) / 2.0f;
    EXPECT_FLOAT_EQ(buckets[b].front(), expected);
    EXPECT_FLOAT_EQ(buckets[b].back(), expected);
  }
}

TEST(MpiCommunicatorTest, BroadcastCopiesTheRootsBuffer) {
  auto comm = World();
  const int root = comm->size() - 1;
  std::vector<uint8_t> bytes(300, static_cast<uint8_t>(comm->rank()));
  ASSERT_TRUE(comm->Broadcast({bytes.data(), 300, DataType::kUInt8}, root).ok());
  for (uint8_t b : bytes) ASSERT_EQ(b, root);
  EXPECT_TRUE(comm->Barrier().ok());
}

TEST(MpiCommunicatorTest, BadRequestsAreRejectedWithoutCommunicating) {
  auto comm = World();
  std::vector<int64_t> ints(2);
  Status average = comm->AllReduce({ints.data(), 2, DataType::kInt64}, ReduceOp::kAverage);
  EXPECT_EQ(average.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(average.message().find("float32 and float64 only"), std::string::npos) << average.message();
  EXPECT_EQ(comm->Broadcast({ints.data(), 2, DataType::kInt64}, comm->size()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comm->AllReduce({nullptr, 5, DataType::kFloat32}, ReduceOp::kSum).code(), StatusCode::kInvalidArgument);
  // Still usable: nothing was sent.
  EXPECT_TRUE(comm->Barrier().ok());
}

// Rank 0 gives up on a late peer with a clear error instead of hanging, and its communicator stays
// failed; the late ranks still complete the collective that rank 0 had started.
TEST(MpiCommunicatorTest, ALatePeerFailsTheWaiterAfterTheTimeout) {
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  auto comm = World(world_rank == 0 ? 0.3 : 30);
  // Static: rank 0's timed-out all-reduce still writes into it once the late ranks arrive.
  static float value[1] = {1.0f};
  if (comm->rank() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const auto start = std::chrono::steady_clock::now();
  Status status = comm->AllReduce({value, 1, DataType::kFloat32}, ReduceOp::kSum);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (comm->rank() == 0) {
    EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status.message();
    EXPECT_NE(status.message().find("did not finish within 0.3 s"), std::string::npos) << status.message();
    EXPECT_LT(waited, 1.2);
    Status after = comm->Barrier();
    EXPECT_EQ(after.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(after.message().find("failed earlier"), std::string::npos) << after.message();
  } else {
    EXPECT_TRUE(status.ok()) << status.message();
    EXPECT_FLOAT_EQ(value[0], static_cast<float>(comm->size()));
  }
}

}  // namespace
}  // namespace orchard::comm
