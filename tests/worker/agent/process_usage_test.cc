#include "worker/agent/process_usage.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/util/test_util.h"

namespace orchard::worker {
namespace {

using orchard::testing::TempDir;
using orchard::testing::WriteFile;

// A /proc of three processes: 100 with a child 101 (whose name has spaces and a parenthesis) and an
// unrelated 200. Fields 14-17 are utime stime cutime cstime in ticks, field 24 rss in pages.
void WriteStat(const TempDir& proc, int pid, const std::string& name, int parent, int utime, int rss_pages) {
  std::filesystem::create_directories(proc / std::to_string(pid));
  std::string stat = std::to_string(pid) + " (" + name + ") S " + std::to_string(parent) + " 1 1 0 -1 0 0 0 0 0 " +
                     std::to_string(utime) + " " + std::to_string(utime) + " 0 0 20 0 1 0 100 1000000 " +
                     std::to_string(rss_pages) + " 0 0 0 0\n";
  WriteFile(proc / (std::to_string(pid) + "/stat"), stat);
}

TEST(ProcessUsageTest, SumsATreeAndLeavesOthersOut) {
  TempDir proc;
  WriteStat(proc, 100, "mpirun", 1, 100, 10);
  WriteStat(proc, 101, "orchard-train) (rank 0", 100, 300, 30);
  WriteStat(proc, 200, "bash", 1, 5000, 500);
  std::filesystem::create_directories(proc / "self");
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const int64_t page = sysconf(_SC_PAGESIZE);
  const auto usage = SampleProcessTrees({100, 101, 999}, proc.path().string());
  EXPECT_DOUBLE_EQ(usage.at(100).cpu_seconds, (200 + 600) / ticks);
  EXPECT_EQ(usage.at(100).resident_bytes, 40 * page);
  EXPECT_DOUBLE_EQ(usage.at(101).cpu_seconds, 600 / ticks);
  EXPECT_EQ(usage.at(999).cpu_seconds, 0);  // gone: nothing
  EXPECT_EQ(usage.at(999).resident_bytes, 0);
}

TEST(ProcessUsageTest, AvailableMemoryIsMemAvailable) {
  TempDir proc;
  WriteFile(proc / "meminfo", "MemTotal:       24731444 kB\nMemFree:        14021568 kB\n"
                              "MemAvailable:   23998712 kB\nBuffers:          120304 kB\n");
  EXPECT_EQ(AvailableMemoryBytes(proc.path().string()), int64_t{23998712} * 1024);
  TempDir empty;
  EXPECT_EQ(AvailableMemoryBytes(empty.path().string()), 0);
  EXPECT_GT(AvailableMemoryBytes(), 0);  // this machine's
}

TEST(ProcessUsageTest, PeaksKeepTheLargestFigures) {
  UsagePeak peak;
  peak.Add({1.5, 100});
  peak.Add({2.0, 50});
  peak.Add({0.0, 0});  // the process ended between samples
  EXPECT_EQ(peak.cpu_seconds, 2.0);
  EXPECT_EQ(peak.peak_memory_bytes, 100);
}

TEST(ProcessUsageTest, MeasuresARealBusyProcess) {
  const pid_t child = fork();
  if (child == 0) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    volatile double sink = 0;
    while (std::chrono::steady_clock::now() < end) sink = sink + 1;
    _exit(0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  const ProcessUsage usage = SampleProcessTrees({child}).at(child);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_GT(usage.cpu_seconds, 0.2);
  EXPECT_GT(usage.resident_bytes, 100 << 10);
}

}  // namespace
}  // namespace orchard::worker
