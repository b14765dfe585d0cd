#include "coordinator/placement/scheduler.h"

#include <gtest/gtest.h>

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

TEST(UnplaceableReasonTest, AGangLargerThanEveryLiveWorkerSaysWhy) {
  EXPECT_EQ(UnplaceableReason(4, {2, 1}), "needs 4 slots on one worker; the largest has 2");
  EXPECT_EQ(UnplaceableReason(3, {2, 4}), "");  // the 4-slot worker can hold it once free
  EXPECT_EQ(UnplaceableReason(2, {2}), "");
  EXPECT_EQ(UnplaceableReason(8, {}), "");  // no live worker: it waits for workers to come
}

}  // namespace
}  // namespace orchard::coordinator
