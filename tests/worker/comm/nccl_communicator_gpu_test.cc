// The NCCL communicator on a real GPU, as a world of one: collectives on device memory, and the
// failure path (a collective that does not finish within the timeout aborts the communicator; later
// calls fail at once without touching it; destruction is safe). Skipped, with a message, where no
// GPU is visible (failed instead where ORCHARD_REQUIRE_GPU=1, as in scripts/gpu-check).
#include "worker/comm/nccl_communicator.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "tests/util/gpu_test.h"

namespace orchard::comm {
namespace {

class NcclGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ORCHARD_NEEDS_GPU(VisibleGpuCount() > 0, "no CUDA GPU visible: the NCCL communicator is tested on a GPU machine");
    bootstrap_ = MakeWorldOfOne();
    auto made = MakeNcclCommunicator(*bootstrap_, 0, 30);
    ASSERT_TRUE(made.ok()) << made.status().message();
    nccl_ = std::move(*made);
  }

  std::unique_ptr<Communicator> bootstrap_;
  std::unique_ptr<Communicator> nccl_;
};

TEST_F(NcclGpuTest, AllReduceAndBroadcastOnDeviceMemory) {
  const std::vector<float> host = {1, 2, 3, 4};
  float* device = nullptr;
  ASSERT_EQ(cudaMalloc(&device, host.size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_TRUE(nccl_->AllReduce({device, 4, DataType::kFloat32}, ReduceOp::kAverage).ok());
  EXPECT_TRUE(nccl_->Broadcast({device, 4, DataType::kFloat32}, 0).ok());
  EXPECT_TRUE(nccl_->Barrier().ok());
  std::vector<float> back(4);
  ASSERT_EQ(cudaMemcpy(back.data(), device, back.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, host);  // the average over one rank is the value
  cudaFree(device);
}

// A refused argument would be the obvious failure, but NCCL accepts host memory where the GPU can
// reach it (seen on an H200 host), so the test stalls the stream instead: the all-reduce waits behind
// a host function that sleeps past the communicator's timeout, as it would behind a hung peer.
TEST_F(NcclGpuTest, ACollectivePastItsTimeoutAbortsAndLaterCallsFailAtOnce) {
  auto made = MakeNcclCommunicator(*bootstrap_, 0, /*timeout_seconds=*/0.5);
  ASSERT_TRUE(made.ok()) << made.status().message();
  std::unique_ptr<Communicator> nccl = std::move(*made);
  float* device = nullptr;
  ASSERT_EQ(cudaMalloc(&device, 16 * sizeof(float)), cudaSuccess);
  const cudaHostFn_t sleep_three_seconds = [](void*) { std::this_thread::sleep_for(std::chrono::seconds(3)); };
  ASSERT_EQ(cudaLaunchHostFunc(/*legacy default stream=*/0, sleep_three_seconds, nullptr), cudaSuccess);
  // The abort itself lasts until the stalled stream reaches NCCL's kernel (which then sees the abort
  // and returns): with a hung peer the kernel is already running, here it starts after the stall.
  const Status stalled = nccl->AllReduce({device, 16, DataType::kFloat32}, ReduceOp::kSum);
  EXPECT_EQ(stalled.code(), StatusCode::kDeadlineExceeded) << stalled.message();
  const auto later_started = std::chrono::steady_clock::now();
  const Status later = nccl->AllReduce({device, 16, DataType::kFloat32}, ReduceOp::kSum);
  EXPECT_LT(std::chrono::steady_clock::now() - later_started, std::chrono::milliseconds(100)) << "not at once";
  EXPECT_EQ(later.code(), StatusCode::kFailedPrecondition) << later.message();
  EXPECT_NE(later.message().find("failed earlier"), std::string::npos) << later.message();
  nccl.reset();  // the aborted communicator is not destroyed twice
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  cudaFree(device);
}

}  // namespace
}  // namespace orchard::comm
