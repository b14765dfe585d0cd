// Which GPU each trainer gets: the worker's own CUDA_VISIBLE_DEVICES translated for its trainers, and
// one GPU per rank of a node under mpirun.
#include "worker/comm/gpu_devices.h"

#include <gtest/gtest.h>

namespace orchard::comm {
namespace {

TEST(ChildVisibleDevicesTest, TranslatesOrdinalsThroughTheWorkersOwnList) {
  EXPECT_EQ(ChildVisibleDevices(nullptr, {0, 1}).value(), "0,1");  // unset: the machine's ordinals
  EXPECT_EQ(ChildVisibleDevices("4,5", {0}).value(), "4");
  EXPECT_EQ(ChildVisibleDevices("4,5", {1}).value(), "5");
  EXPECT_EQ(ChildVisibleDevices("4, 5,7", {2, 0}).value(), "7,4");
  EXPECT_EQ(ChildVisibleDevices("GPU-8f2a1c3e,MIG-0e4b", {1}).value(), "MIG-0e4b");
  EXPECT_EQ(ChildVisibleDevices("4,5", {}).value(), "");
}

TEST(ChildVisibleDevicesTest, AnOrdinalPastTheWorkersListIsAnError) {
  const auto past = ChildVisibleDevices("4,5", {2});
  ASSERT_FALSE(past.ok());
  EXPECT_NE(past.status().message().find("CUDA_VISIBLE_DEVICES=\"4,5\""), std::string::npos) << past.status().message();
  EXPECT_FALSE(ChildVisibleDevices("", {0}).ok());
  EXPECT_FALSE(ChildVisibleDevices(nullptr, {-1}).ok());
}

TEST(GpuOfLocalRankTest, EachRankOfANodeTakesItsOwnGpu) {
  EXPECT_EQ(GpuOfLocalRank("cuda", 0, 2, 2).value(), 0);
  EXPECT_EQ(GpuOfLocalRank("auto", 1, 2, 4).value(), 1);
  EXPECT_EQ(GpuOfLocalRank("cpu", 1, 2, 4).value(), -1);
  EXPECT_EQ(GpuOfLocalRank("auto", 1, 4, 0).value(), -1);  // no GPU: CPU
  EXPECT_EQ(GpuOfLocalRank("cuda:1", 0, 1, 2).value(), 1);  // one rank on the node may name its GPU
}

TEST(GpuOfLocalRankTest, MoreRanksThanGpusOrAConflictingDeviceAreRefused) {
  const auto crowded = GpuOfLocalRank("cuda", 2, 3, 2);
  ASSERT_FALSE(crowded.ok());
  EXPECT_EQ(crowded.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(crowded.status().message().find("ppr:2:node"), std::string::npos) << crowded.status().message();
  // Rank 0 alone would fit, but its neighbours would share: every rank of the node is refused.
  EXPECT_FALSE(GpuOfLocalRank("auto", 0, 3, 2).ok());

  const auto named = GpuOfLocalRank("cuda:1", 0, 2, 2);
  ASSERT_FALSE(named.ok());
  EXPECT_EQ(named.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(named.status().message().find("use train.device: cuda"), std::string::npos);
  EXPECT_FALSE(GpuOfLocalRank("cuda:3", 0, 1, 2).ok());
  EXPECT_FALSE(GpuOfLocalRank("cuda:x", 0, 1, 2).ok());
  EXPECT_FALSE(GpuOfLocalRank("cuda", 2, 2, 4).ok());  // not a local rank
}

TEST(GpuOfLocalRankTest, ARankGivenOneGpuOfItsOwnTakesIt) {
  // Slurm's --gpus-per-task=1, or a wrapper setting CUDA_VISIBLE_DEVICES per local rank: each of the
  // node's 4 ranks sees one GPU, its own.
  for (int rank = 0; rank < 4; ++rank) EXPECT_EQ(GpuOfLocalRank("cuda", rank, 4, 1, true).value(), 0);
  EXPECT_EQ(GpuOfLocalRank("auto", 3, 4, 1, true).value(), 0);
  EXPECT_EQ(GpuOfLocalRank("cuda:0", 1, 4, 1, true).value(), 0);
  EXPECT_EQ(GpuOfLocalRank("cpu", 1, 4, 1, true).value(), -1);
  EXPECT_EQ(GpuOfLocalRank("cuda:1", 1, 4, 1, true).status().code(), StatusCode::kInvalidArgument);
  // Without a CUDA_VISIBLE_DEVICES of its own the one GPU is the node's, and the ranks would share it.
  const auto shared = GpuOfLocalRank("cuda", 1, 4, 1, false);
  ASSERT_FALSE(shared.ok());
  EXPECT_NE(shared.status().message().find("--gpus-per-task=1"), std::string::npos) << shared.status().message();
  // Two GPUs for four ranks stays a refusal, whoever set them.
  EXPECT_FALSE(GpuOfLocalRank("cuda", 1, 4, 2, true).ok());
}

}  // namespace
}  // namespace orchard::comm
