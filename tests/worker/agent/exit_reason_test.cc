#include "worker/agent/exit_reason.h"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

#include "core/trainer_exit_codes.h"
#include "tests/util/test_util.h"

namespace orchard::worker {
namespace {

using orchard::testing::TempDir;
using orchard::testing::WriteFile;

bool IsPrintableUtf8(const std::string& text) { return PrintableUtf8(text) == text; }

TrainerExit Exited(int code) { return {42, code, 0, ""}; }

// What a trainer may leave in its log, and the reason the worker makes of it: none of these may
// throw (an empty log once aborted the whole worker), and every reason is printable UTF-8.
TEST(ExitReason, AnyLogGivesAReasonAndNeverThrows) {
  TempDir dir;
  struct Case {
    std::string name;
    std::string log;  // "<none>": no file at all
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"missing", "<none>", "the trainer wrote nothing to its log"},
      {"empty", "", "the trainer wrote nothing to its log"},
      {"blank lines only", "\n\n \r\n", "the trainer wrote nothing to its log"},
      {"one line without newline", "boom", "boom"},
      {"leading newline", "\nboom\n", "boom"},
      {"last five lines", "1\n2\n3\n4\n5\n6\n7\n", "3\n4\n5\n6\n7"},
      {"binary", std::string("\xff\xfe\x00\x01 bad \xc3\x28 end\n", 16), "??   bad ?( end"},
      {"control characters", "a\x1b[31mred\x7f\n", "a [31mred "},
      {"valid multibyte kept", "loss \xe2\x88\x9e \xf0\x9f\x8c\xb3\n", "loss \xe2\x88\x9e \xf0\x9f\x8c\xb3"},
      {"truncated multibyte at the end", "cut \xe2\x88", "cut ??"},
      {"surrogate and overlong refused", "\xed\xa0\x80 \xc0\xaf", "??? ??"},
  };
  for (const Case& c : cases) {
    const std::string path = dir / (c.name + ".log");
    if (c.log != "<none>") WriteFile(path, c.log);
    const std::string reason = ExitReason(Exited(train::kExitFailed), path);
    EXPECT_NE(reason.find(c.expected), std::string::npos) << c.name << ": " << reason;
    EXPECT_EQ(reason.rfind("failed (exit 1): ", 0), 0u) << c.name << ": " << reason;
    EXPECT_TRUE(IsPrintableUtf8(reason)) << c.name;
  }
}

TEST(ExitReason, AHugeLogIsReadOnlyAtItsEnd) {
  TempDir dir;
  const std::string path = dir / "huge.log";
  {
    std::ofstream out(path, std::ios::binary);
    const std::string line(1000, 'x');
    for (int i = 0; i < 20000; ++i) out << line << "\n";  // 20 MB
    out << "orchard-train: the last words\n";
  }
  const std::string reason = ExitReason(Exited(train::kExitFailed), path);
  EXPECT_EQ(reason, "failed (exit 1): orchard-train: the last words");
  // A single line longer than the tail window is cut to the window.
  WriteFile(path, std::string(100000, 'y'));
  EXPECT_LE(LogTail(path, 5).size(), 4096u);
}

TEST(ExitReason, ADirectoryInsteadOfALogIsNoLog) {
  TempDir dir;
  EXPECT_EQ(LogTail(dir.path().string(), 5), "");
  EXPECT_NE(ExitReason(Exited(train::kExitBadInput), dir.path().string()).find("wrote nothing"), std::string::npos);
}

// Under mpirun the trainer's own words come before mpirun's banner; they are the reason.
TEST(ExitReason, TheTrainersMessageComesBeforeMpirunsBanner) {
  TempDir dir;
  const std::string path = dir / "attempt.log";
  WriteFile(path,
            "step 100 train_loss 0.5\n"
            "orchard-train: all-reduce of 1187 float32 did not finish within 5 s: a peer rank is gone or stuck\n"
            "orchard: MPI_Finalize did not finish in time behind a collective that failed; exiting with code 1 without finalising MPI\n"
            "--------------------------------------------------------------------------\n"
            "mpirun has exited due to process rank 0 with PID 0 on\n"
            "node x exiting improperly. There are three reasons this could occur:\n"
            "--------------------------------------------------------------------------\n");
  const std::string reason = ExitReason(Exited(train::kExitFailed), path);
  EXPECT_NE(reason.find("all-reduce of 1187 float32 did not finish within 5 s"), std::string::npos) << reason;
  EXPECT_EQ(reason.find("mpirun has exited"), std::string::npos) << reason;
}

TEST(ExitReason, ExitStatusesWithoutALog) {
  EXPECT_EQ(ExitReason(Exited(train::kExitCompleted), "/nonexistent"), "completed");
  EXPECT_EQ(ExitReason(Exited(train::kExitPreempted), "/nonexistent").rfind("preempted", 0), 0u);
  EXPECT_EQ(ExitReason(Exited(127), "/nonexistent"), "cannot run the trainer binary");
  EXPECT_EQ(ExitReason({42, -1, SIGKILL, ""}, "/nonexistent"), "killed by signal 9 (Killed); out of memory?");
  EXPECT_EQ(ExitReason({42, -1, 0, "the warm trainer \xff exited"}, "/nonexistent"), "the warm trainer ? exited");
}


// A fused group's members end each as its own summary says (docs/fusion.md).
TEST(ExitReason, AFusedMemberEndsAsItsSummarySays) {
  const auto completed = FusedMemberEnd(R"({"outcome": "completed", "message": ""})");
  ASSERT_TRUE(completed.has_value());
  EXPECT_EQ(completed->exit_code, 0);
  EXPECT_EQ(completed->reason, "completed");
  const auto stopped =
      FusedMemberEnd(R"({"outcome": "preempted", "message": "the sweep's strategy stopped it at step 20; checkpoint c"})");
  ASSERT_TRUE(stopped.has_value());
  EXPECT_EQ(stopped->exit_code, 4);
  EXPECT_EQ(stopped->reason, "the sweep's strategy stopped it at step 20; checkpoint c");
  const auto diverged = FusedMemberEnd(R"({"outcome": "diverged", "message": "diverged at step 7: loss is nan \u0001"})");
  ASSERT_TRUE(diverged.has_value());
  EXPECT_EQ(diverged->exit_code, 3);
  EXPECT_EQ(diverged->reason, "diverged at step 7: loss is nan  ");
  // No summary, or not one: the trainer's own exit says why.
  for (const char* text : {"", "{", "[]", R"({"outcome": 3})", R"({"outcome": "exploded"})"})
    EXPECT_FALSE(FusedMemberEnd(text).has_value()) << text;
}

}  // namespace
}  // namespace orchard::worker
