// GPU discovery's stand-in (ORCHARD_GPU_INVENTORY) and how a worker divides its cores.
#include "worker/agent/slots.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace orchard::worker {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

TEST(GpuInventoryTest, EachEntryIsOneGpusMemoryInGiB) {
  const StatusOr<Slots> slots = ParseGpuInventory("80, 40,0.5");
  ASSERT_TRUE(slots.ok()) << slots.status().message();
  EXPECT_EQ(slots->kind, "gpu");
  EXPECT_EQ(slots->count, 3);
  EXPECT_EQ(slots->gpu_memory_bytes, (std::vector<int64_t>{80 * kGiB, 40 * kGiB, kGiB / 2}));
}

TEST(GpuInventoryTest, ABadEntryIsNamed) {
  for (const char* bad : {"80,,80", "80,big", "-1", "0", ""}) {
    const StatusOr<Slots> slots = ParseGpuInventory(bad);
    ASSERT_FALSE(slots.ok()) << bad;
    EXPECT_NE(slots.status().message().find("ORCHARD_GPU_INVENTORY"), std::string::npos) << slots.status().message();
  }
  EXPECT_NE(ParseGpuInventory("80,big").status().message().find("entry 2 (\"big\")"), std::string::npos);
}

TEST(GpuInventoryTest, DiscoveryUsesItUnlessTheWorkerIsToldToUseCpus) {
  setenv("ORCHARD_GPU_INVENTORY", "24,24", 1);
  const StatusOr<Slots> gpus = DetectSlots(0, /*force_cpu=*/false);
  const StatusOr<Slots> cpus = DetectSlots(3, /*force_cpu=*/true);
  setenv("ORCHARD_GPU_INVENTORY", "24,x", 1);
  const StatusOr<Slots> broken = DetectSlots(0, false);
  unsetenv("ORCHARD_GPU_INVENTORY");
  ASSERT_TRUE(gpus.ok());
  EXPECT_EQ(gpus->count, 2);
  EXPECT_EQ(gpus->gpu_memory_bytes[1], 24 * kGiB);
  ASSERT_TRUE(cpus.ok());
  EXPECT_EQ(cpus->kind, "cpu");
  EXPECT_EQ(cpus->count, 3);
  EXPECT_FALSE(broken.ok());
}

TEST(AllocatorFractionTest, AShareLessTheCudaContextIsTheCap) {
  EXPECT_EQ(AllocatorFraction(4 * kGiB, 16 * kGiB).value(), 3.5 / 16);
  EXPECT_EQ(AllocatorFraction(kGiB, 2 * kGiB).value(), 0.25);
  const StatusOr<double> tiny = AllocatorFraction(256 << 20, 16 * kGiB);
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.status().message().find("raise sweep.gpu_memory_gib or sweep.gpu_fraction"), std::string::npos);
}

TEST(GpuTrialThreadsTest, CoresAreDividedBetweenGpusAndTheirShares) {
  EXPECT_EQ(GpuTrialThreads(16, 1, 0), 16);
  EXPECT_EQ(GpuTrialThreads(16, 4, 0), 4);
  EXPECT_EQ(GpuTrialThreads(16, 4, 0.5), 2);
  EXPECT_EQ(GpuTrialThreads(16, 1, 0.25), 4);
  EXPECT_EQ(GpuTrialThreads(16, 8, 0.25), 1) << "never below one thread";
  EXPECT_EQ(GpuTrialThreads(2, 8, 0), 1);
}

}  // namespace
}  // namespace orchard::worker
