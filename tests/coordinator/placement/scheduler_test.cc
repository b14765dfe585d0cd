#include "coordinator/placement/scheduler.h"

#include <gtest/gtest.h>

#include <map>

#include "core/search_space.h"

namespace orchard::coordinator {
namespace {

struct Case {
  std::string name;
  std::vector<FreeSlots> workers;
  std::vector<PendingTrial> pending;
  SweepRoom room;
  std::vector<Placement> expected;
};

class PlaceTrialsTest : public ::testing::TestWithParam<Case> {};

TEST_P(PlaceTrialsTest, Places) {
  const Case& c = GetParam();
  EXPECT_EQ(PlaceTrials(c.workers, c.pending, c.room), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Table, PlaceTrialsTest,
    ::testing::Values(
        Case{"NothingFree", {{"w1", 0}}, {{1, 1, 1}}, {}, {}},
        Case{"FifoAcrossSweeps", {{"w1", 2}}, {{1, 1, 1}, {2, 2, 1}, {3, 1, 1}}, {}, {{1, "w1"}, {2, "w1"}}},
        Case{"GangIsAllOrNothingOnOneWorker", {{"w1", 1}, {"w2", 1}}, {{1, 1, 2}}, {}, {}},
        Case{"GangFitsOnTheWorkerWithRoom", {{"w1", 1}, {"w2", 3}}, {{1, 1, 2}}, {}, {{1, "w2"}}},
        Case{"BestFitKeepsTheLargeHole", {{"w1", 4}, {"w2", 1}}, {{1, 1, 1}, {2, 1, 4}}, {}, {{1, "w2"}, {2, "w1"}}},
        Case{"BackfillPastABlockedGang", {{"w1", 2}}, {{1, 1, 4}, {2, 2, 1}}, {}, {{2, "w1"}}},
        Case{"MaxConcurrentLimitsASweep", {{"w1", 4}}, {{1, 1, 1}, {2, 1, 1}, {3, 2, 1}}, {{1, 1}}, {{1, "w1"}, {3, "w1"}}},
        Case{"NoRoomLeft", {{"w1", 4}}, {{1, 1, 1}}, {{1, 0}}, {}}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

constexpr int64_t kGiB = int64_t{1} << 30;

PendingTrial Share(int64_t trial_id, double gib, double fraction = 0) {
  return {trial_id, 1, 1, GpuShare{static_cast<int64_t>(gib * kGiB), fraction}};
}

// A GPU worker: each GPU's (total, free) memory in GiB; a GPU is idle when all of it is free.
FreeSlots GpuWorker(const std::string& id, std::vector<std::pair<double, double>> gpus) {
  FreeSlots worker{id, 0, {}};
  for (size_t g = 0; g < gpus.size(); ++g) {
    const bool idle = gpus[g].first == gpus[g].second;
    worker.gpus.push_back({static_cast<int32_t>(g), static_cast<int64_t>(gpus[g].first * kGiB),
                           static_cast<int64_t>(gpus[g].second * kGiB), idle});
    worker.free += idle ? 1 : 0;
  }
  return worker;
}

Placement OnGpu(int64_t trial_id, const std::string& worker, int32_t gpu, double gib, double of_gib) {
  return {trial_id, worker, {gpu}, static_cast<int64_t>(gib * kGiB), gib / of_gib};
}

INSTANTIATE_TEST_SUITE_P(
    GpuShares, PlaceTrialsTest,
    ::testing::Values(
        // Four 20 GiB trials fill one 80 GiB GPU; the fifth goes to the next GPU.
        Case{"SharesPackOneGpuBeforeTheNext", {GpuWorker("w1", {{80, 80}, {80, 80}})},
             {Share(1, 20), Share(2, 20), Share(3, 20), Share(4, 20), Share(5, 20)}, {},
             {OnGpu(1, "w1", 0, 20, 80), OnGpu(2, "w1", 0, 20, 80), OnGpu(3, "w1", 0, 20, 80), OnGpu(4, "w1", 0, 20, 80),
              OnGpu(5, "w1", 1, 20, 80)}},
        // Best fit: the GPU the share leaves the least memory free on, across workers.
        Case{"BestFitAcrossWorkers", {GpuWorker("w1", {{80, 50}}), GpuWorker("w2", {{40, 25}})}, {Share(1, 20)}, {},
             {OnGpu(1, "w2", 0, 20, 40)}},
        // Never past a GPU's memory: 30 GiB does not fit in 25 free on either GPU.
        Case{"NoOvercommit", {GpuWorker("w1", {{80, 25}, {40, 25}})}, {Share(1, 30), Share(2, 25)}, {},
             {OnGpu(2, "w1", 0, 25, 80)}},
        // A share goes to an already shared GPU before an idle one of the same fit, keeping it whole.
        Case{"SharedGpuBeforeAnIdleOne", {GpuWorker("w1", {{40, 40}, {40, 40}, {60, 40}})}, {Share(1, 10)}, {},
             {OnGpu(1, "w1", 2, 10, 60)}},
        // A fraction is of the GPU it lands on.
        Case{"FractionOfTheGpu", {GpuWorker("w1", {{16, 16}})}, {Share(1, 0, 0.25), Share(2, 0, 0.5), Share(3, 0, 0.5)}, {},
             {OnGpu(1, "w1", 0, 4, 16), OnGpu(2, "w1", 0, 8, 16)}},
        // A whole-GPU trial takes idle GPUs only; the shared one is not a free slot.
        Case{"WholeTrialsTakeIdleGpus", {GpuWorker("w1", {{80, 60}, {80, 80}, {80, 80}})},
             {{1, 1, 2}, {2, 1, 1}}, {},
             {Placement{1, "w1", {1, 2}}}},
        Case{"AShareTakesAnIdleGpuOutOfTheFreeSlots", {GpuWorker("w1", {{80, 80}})}, {Share(1, 10), {2, 1, 1}}, {},
             {OnGpu(1, "w1", 0, 10, 80)}},
        // On CPU slots a share is one slot; a GPU worker's slot is never given to it whole.
        Case{"AShareOnCpuSlotsIsOneSlot", {{"cpu", 1}}, {Share(1, 20), Share(2, 20)}, {}, {{1, "cpu"}}},
        Case{"ShareRespectsMaxConcurrent", {GpuWorker("w1", {{80, 80}})}, {Share(1, 10), Share(2, 10)}, {{1, 1}},
             {OnGpu(1, "w1", 0, 10, 80)}}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

PendingTrial Fusing(int64_t trial_id, int64_t sweep_id, int64_t fuse, bool fresh = true) {
  PendingTrial trial{trial_id, sweep_id, 1};
  trial.fuse = fuse, trial.fresh = fresh;
  return trial;
}

Placement Joins(int64_t trial_id, const std::string& worker, int64_t first, std::vector<int32_t> gpus = {}) {
  Placement placement{trial_id, worker, std::move(gpus)};
  placement.fused_into = first;
  return placement;
}

INSTANTIATE_TEST_SUITE_P(
    FusedGroups, PlaceTrialsTest,
    ::testing::Values(
        // Up to `fuse` fresh trials of a sweep share the first one's slot; the next group takes a slot.
        Case{"GroupsOfFuseOnOneSlotEach", {{"w1", 2}},
             {Fusing(1, 1, 3), Fusing(2, 1, 3), Fusing(3, 1, 3), Fusing(4, 1, 3), Fusing(5, 1, 3)}, {},
             {{1, "w1"}, Joins(2, "w1", 1), Joins(3, "w1", 1), {4, "w1"}, Joins(5, "w1", 4)}},
        // Groups never mix sweeps, and a requeued trial (it resumes its own checkpoint) trains alone.
        Case{"OneSweepPerGroupAndRequeuedTrialsAlone", {{"w1", 3}},
             {Fusing(1, 1, 4), Fusing(2, 2, 4), Fusing(3, 1, 4, /*fresh=*/false), Fusing(4, 1, 4)}, {},
             {{1, "w1"}, {2, "w1"}, {3, "w1"}, Joins(4, "w1", 1)}},
        // Members count against max_concurrent like any running trial.
        Case{"MembersCountAgainstMaxConcurrent", {{"w1", 4}}, {Fusing(1, 1, 8), Fusing(2, 1, 8), Fusing(3, 1, 8)},
             {{1, 2}}, {{1, "w1"}, Joins(2, "w1", 1)}},
        // With no free slot nothing starts, fused or not.
        Case{"NoSlotNoGroup", {{"w1", 0}}, {Fusing(1, 1, 4), Fusing(2, 1, 4)}, {}, {}},
        // Auto spreads a sweep's waiting trials over the free slots: 6 over 2 slots, groups of 3.
        Case{"AutoSpreadsTheTrialsOverTheFreeSlots", {{"w1", 2}},
             {Fusing(1, 1, kFuseAuto), Fusing(2, 1, kFuseAuto), Fusing(3, 1, kFuseAuto), Fusing(4, 1, kFuseAuto),
              Fusing(5, 1, kFuseAuto), Fusing(6, 1, kFuseAuto)},
             {},
             {{1, "w1"}, Joins(2, "w1", 1), Joins(3, "w1", 1), {4, "w1"}, Joins(5, "w1", 4), Joins(6, "w1", 4)}},
        // With a slot for each, auto trains them alone.
        Case{"AutoWithASlotForEachTrialFusesNothing", {{"w1", 4}},
             {Fusing(1, 1, kFuseAuto), Fusing(2, 1, kFuseAuto), Fusing(3, 1, kFuseAuto)}, {},
             {{1, "w1"}, {2, "w1"}, {3, "w1"}}},
        // Auto spreads only what max_concurrent lets start: 4 of 8 over 4 slots, each alone.
        Case{"AutoSpreadsOnlyWhatMaxConcurrentLetsStart", {{"w1", 4}},
             {Fusing(1, 1, kFuseAuto), Fusing(2, 1, kFuseAuto), Fusing(3, 1, kFuseAuto), Fusing(4, 1, kFuseAuto),
              Fusing(5, 1, kFuseAuto), Fusing(6, 1, kFuseAuto), Fusing(7, 1, kFuseAuto), Fusing(8, 1, kFuseAuto)},
             {{1, 4}},
             {{1, "w1"}, {2, "w1"}, {3, "w1"}, {4, "w1"}}},
        // On a GPU worker the group shares its first member's GPU.
        Case{"AGroupSharesItsFirstMembersGpu", {GpuWorker("w1", {{80, 80}})}, {Fusing(1, 1, 2), Fusing(2, 1, 2)}, {},
             {Placement{1, "w1", {0}}, Joins(2, "w1", 1, {0})}}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// An auto-fused trial whose members each take `gib` GiB and `mflop` MFLOP a step (0: not known).
PendingTrial Sized(int64_t trial_id, double gib, double mflop) {
  PendingTrial trial = Fusing(trial_id, 1, kFuseAuto);
  trial.member_bytes = static_cast<int64_t>(gib * kGiB);
  trial.member_step_flops = mflop * 1e6;
  return trial;
}

FreeSlots CpuSlots(int64_t free, double gib_each, int64_t threads) {
  return {"w1", free, {}, static_cast<int64_t>(gib_each * kGiB), threads};
}

TEST(AutoFuseLimitTest, MembersFillHalfTheSlotsMemory) {
  EXPECT_EQ(AutoFuseLimit(Sized(1, 1, 0), CpuSlots(2, 6, 1)), 3);
  EXPECT_EQ(AutoFuseLimit(Sized(1, 0.25, 0), CpuSlots(2, 6, 1)), 12);
  EXPECT_EQ(AutoFuseLimit(Sized(1, 4, 0), CpuSlots(2, 6, 1)), 1);  // too large to share: alone
  // A group takes a whole GPU; the worker's smallest bounds it.
  EXPECT_EQ(AutoFuseLimit(Sized(1, 10, 0), GpuWorker("w1", {{80, 80}, {40, 40}})), 2);
}

TEST(AutoFuseLimitTest, AGroupsStepIsAt25MillisecondsOfTheSlotsArithmeticAtMost) {
  // About digits' cnn (103 MFLOP a member's step) on one thread: 40 GFLOP/s * 25 ms / 103 MFLOP.
  EXPECT_EQ(AutoFuseLimit(Sized(1, 0, 103), CpuSlots(2, 6, 1)), 9);
  EXPECT_EQ(AutoFuseLimit(Sized(1, 0, 103), CpuSlots(2, 6, 2)), 16);  // twice the threads, capped at 16
  EXPECT_EQ(AutoFuseLimit(Sized(1, 0, 2.6), CpuSlots(2, 6, 1)), 16);  // quickstart's mlp
  EXPECT_EQ(AutoFuseLimit(Sized(1, 0, 2000), CpuSlots(2, 6, 1)), 1);  // fills a thread alone
}

TEST(AutoFuseLimitTest, WhatNobodyToldBoundsNothing) {
  EXPECT_EQ(AutoFuseLimit(Sized(1, 0, 0), CpuSlots(2, 6, 1)), kMaxAutoFuseMembers);
  EXPECT_EQ(AutoFuseLimit(Sized(1, 100, 1e6), CpuSlots(2, 0, 0)), kMaxAutoFuseMembers);
}

// 32 waiting trials on 2 slots would be groups of 16, but 9 is the limit: two rounds of groups of 8
// (not 9, 9, 9 and 5). This lease starts the first round; the rest wait.
TEST(AutoFuseLimitTest, ALimitedSweepGoesInEvenRounds) {
  std::vector<PendingTrial> pending;
  for (int64_t id = 1; id <= 32; ++id) pending.push_back(Sized(id, 0, 103));
  const std::vector<Placement> placements = PlaceTrials({CpuSlots(2, 6, 1)}, pending, {});
  ASSERT_EQ(placements.size(), 16u);
  std::map<int64_t, int64_t> members;  // by the group's first trial
  for (const Placement& p : placements) ++members[p.fused_into == 0 ? p.trial_id : p.fused_into];
  EXPECT_EQ(members, (std::map<int64_t, int64_t>{{1, 8}, {9, 8}}));
}

TEST(UnplaceableReasonTest, AGangLargerThanEveryLiveWorkerSaysWhy) {
  const PendingTrial gang{1, 1, 4};
  EXPECT_EQ(UnplaceableReason(gang, {{2, {}}, {1, {}}}), "needs 4 slots on one worker; the largest has 2");
  EXPECT_EQ(UnplaceableReason({1, 1, 3}, {{2, {}}, {4, {}}}), "");  // the 4-slot worker can hold it once free
  EXPECT_EQ(UnplaceableReason({1, 1, 2}, {{2, {}}}), "");
  EXPECT_EQ(UnplaceableReason({1, 1, 8}, {}), "");  // no live worker: it waits for workers to come
}

TEST(UnplaceableReasonTest, AShareLargerThanEveryGpuSaysWhy) {
  const std::vector<WorkerCapacity> gpus = {{2, {16 * kGiB, 16 * kGiB}}, {1, {24 * kGiB}}};
  EXPECT_EQ(UnplaceableReason(Share(1, 40), gpus), "needs 40 GiB of one GPU (sweep.gpu_memory_gib); the largest has 24 GiB");
  EXPECT_EQ(UnplaceableReason(Share(1, 24), gpus), "");
  EXPECT_EQ(UnplaceableReason(Share(1, 0, 1.0), gpus), "");  // a fraction fits any GPU
  EXPECT_EQ(UnplaceableReason(Share(1, 40), {{2, {16 * kGiB}}, {4, {}}}), "");  // CPU slots take it as one slot
}

}  // namespace
}  // namespace orchard::coordinator
