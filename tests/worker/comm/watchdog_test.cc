// The NCCL communicator's waiting and failure logic, driven by a test double of its two NCCL calls
// (ncclCommGetAsyncError and ncclCommAbort): the abort happens once, and nothing touches the
// communicator after it (the use-after-free of the earlier code).
#include "worker/comm/watchdog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace orchard::comm {
namespace {

// Stands in for an NCCL communicator: reports an error after `healthy_polls` polls, counts aborts and
// every call made after one.
struct FakeCommunicator {
  std::atomic<int> polls{0};
  int healthy_polls = 1 << 30;
  std::atomic<int> aborts{0};
  std::atomic<int> touched_after_abort{0};

  Watchdog::Calls Calls() {
    return {[this]() -> Status {
              if (aborts.load() > 0) touched_after_abort++;
              return ++polls > healthy_polls ? Internal("NCCL error: remote process exited or there was a network error")
                                             : OkStatus();
            },
            [this] {
              if (aborts.load() > 0) touched_after_abort++;
              aborts++;
            }};
  }
};

std::function<StatusOr<bool>()> DoneAfter(int polls) {
  auto left = std::make_shared<int>(polls);
  return [left]() -> StatusOr<bool> { return --*left <= 0; };
}

std::function<StatusOr<bool>()> Never() {
  return []() -> StatusOr<bool> { return false; };
}

TEST(WatchdogTest, AFinishedOperationLeavesTheCommunicatorAlone) {
  FakeCommunicator nccl;
  Watchdog watchdog(nccl.Calls(), 10);
  EXPECT_TRUE(watchdog.Wait(DoneAfter(5), "all-reduce").ok());
  EXPECT_EQ(nccl.aborts, 0);
  EXPECT_EQ(watchdog.failure(), "");
}

TEST(WatchdogTest, AnAsynchronousErrorAbortsOnceAndLaterWaitsNeverTouchTheCommunicator) {
  FakeCommunicator nccl;
  nccl.healthy_polls = 3;
  Watchdog watchdog(nccl.Calls(), 10);
  const Status failed = watchdog.Wait(Never(), "all-reduce of 10 float32");
  EXPECT_EQ(failed.code(), StatusCode::kInternal);
  EXPECT_NE(failed.message().find("remote process exited"), std::string::npos) << failed.message();
  EXPECT_EQ(nccl.aborts, 1);
  const int polls = nccl.polls;

  // The next bucket's wait: at once, without asking the freed communicator anything.
  const Status later = watchdog.Wait(Never(), "all-reduce of 20 float32");
  EXPECT_EQ(later.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(later.message().find("failed earlier"), std::string::npos);
  EXPECT_EQ(nccl.polls, polls);
  EXPECT_EQ(nccl.aborts, 1);
  EXPECT_EQ(nccl.touched_after_abort, 0);
}

TEST(WatchdogTest, AnOperationPastTheTimeoutAbortsWithDeadlineExceeded) {
  FakeCommunicator nccl;
  Watchdog watchdog(nccl.Calls(), 0.05);
  const Status late = watchdog.Wait(Never(), "broadcast");
  EXPECT_EQ(late.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(late.message().find("did not finish within"), std::string::npos);
  EXPECT_EQ(nccl.aborts, 1);
}

TEST(WatchdogTest, AFailedOperationAbortsToo) {
  FakeCommunicator nccl;
  Watchdog watchdog(nccl.Calls(), 10);
  const Status failed = watchdog.Wait([]() -> StatusOr<bool> { return Internal("cudaErrorLaunchFailure"); }, "all-reduce");
  EXPECT_EQ(failed.code(), StatusCode::kInternal);
  EXPECT_EQ(nccl.aborts, 1);
  EXPECT_EQ(watchdog.Fail("again").code(), StatusCode::kInternal);
  EXPECT_EQ(nccl.aborts, 1);
  EXPECT_EQ(watchdog.failure(), "all-reduce: cudaErrorLaunchFailure");
}

TEST(WatchdogTest, GuardedCallsRunOnlyWhileTheCommunicatorLives) {
  FakeCommunicator nccl;
  Watchdog watchdog(nccl.Calls(), 10);
  int calls = 0;
  EXPECT_TRUE(watchdog.Guarded([&] { ++calls; return OkStatus(); }).ok());
  (void)watchdog.Fail("a peer is gone");
  EXPECT_EQ(watchdog.Guarded([&] { ++calls; return OkStatus(); }).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(calls, 1);
}

TEST(WatchdogTest, WaitersOnSeveralThreadsAbortOnceAndNeverTouchItAfter) {
  FakeCommunicator nccl;
  nccl.healthy_polls = 200;
  Watchdog watchdog(nccl.Calls(), 10);
  std::vector<std::thread> waiters;
  std::atomic<int> failed{0};
  for (int i = 0; i < 4; ++i)
    waiters.emplace_back([&] {
      if (!watchdog.Wait(Never(), "bucket").ok()) failed++;
    });
  for (auto& waiter : waiters) waiter.join();
  EXPECT_EQ(failed, 4);
  EXPECT_EQ(nccl.aborts, 1);
  EXPECT_EQ(nccl.touched_after_abort, 0);
}

}  // namespace
}  // namespace orchard::comm
