// The NCCL communicator on a real GPU, as a world of one: collectives on device memory, and the
// failure path (a call NCCL refuses aborts the communicator; later calls fail at once without
// touching it; destruction is safe). Skipped, with a message, where no GPU is visible.
#include "worker/comm/nccl_communicator.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <vector>

namespace orchard::comm {
namespace {

class NcclGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (VisibleGpuCount() == 0) GTEST_SKIP() << "no CUDA GPU visible: the NCCL communicator is tested on a GPU machine";
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

TEST_F(NcclGpuTest, ARefusedCallAbortsAndLaterCallsFailAtOnce) {
  std::vector<float> host_memory(16, 1.0f);  // not device memory: NCCL refuses it
  const Status refused = nccl_->AllReduce({host_memory.data(), 16, DataType::kFloat32}, ReduceOp::kSum);
  ASSERT_FALSE(refused.ok());
  float* device = nullptr;
  ASSERT_EQ(cudaMalloc(&device, 16 * sizeof(float)), cudaSuccess);
  const Status later = nccl_->AllReduce({device, 16, DataType::kFloat32}, ReduceOp::kSum);
  EXPECT_EQ(later.code(), StatusCode::kFailedPrecondition) << later.message();
  EXPECT_NE(later.message().find("failed earlier"), std::string::npos) << later.message();
  nccl_.reset();  // the aborted communicator is not destroyed twice
  cudaFree(device);
}

}  // namespace
}  // namespace orchard::comm
