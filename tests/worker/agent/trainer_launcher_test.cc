// The warm launcher against a stand-in for orchard-train: a script that notes each start with its
// arguments and, as the real warm trainer does, serves until its input ends.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/util/test_util.h"
#include "worker/agent/trainer_launcher.h"

namespace orchard::worker {
namespace {

using orchard::testing::ReadFile;
using orchard::testing::TempDir;
using orchard::testing::WaitFor;

std::string StandIn(const TempDir& dir) {
  const std::string script = (dir.path() / "orchard-train").string();
  std::ofstream(script) << "#!/bin/sh\necho \"$@\" >> '" << (dir.path() / "starts").string() << "'\ncat > /dev/null\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  return script;
}

TEST(TrainerLauncherTest, APrewarmedWarmLauncherStartsOneWarmTrainerBeforeAnyTrial) {
  TempDir dir;
  const std::string starts = (dir.path() / "starts").string();
  {
    auto launcher = MakeTrainerLauncher(StandIn(dir), /*warm=*/true, /*gpu=*/false, [] {});
    launcher->Prewarm();
    EXPECT_TRUE(WaitFor([&] { return ReadFile(starts) == "--zygote\n"; }, 10));
    launcher->Prewarm();  // already warm
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(ReadFile(starts), "--zygote\n");
  }  // its end of input ends the warm trainer
}

TEST(TrainerLauncherTest, AColdLauncherStartsNothingAhead) {
  TempDir dir;
  auto launcher = MakeTrainerLauncher(StandIn(dir), /*warm=*/false, /*gpu=*/false, [] {});
  launcher->Prewarm();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "starts"));
}

}  // namespace
}  // namespace orchard::worker
