#include "worker/agent/metrics_tail.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/util/test_util.h"

namespace orchard::worker {
namespace {

TEST(MetricsTail, ReturnsCompleteNewRecordsOnly) {
  orchard::testing::TempDir dir;
  const std::string path = dir / "metrics.jsonl";
  MetricsTail tail(path);
  EXPECT_TRUE(tail.Poll().empty());  // no file yet
  {
    std::ofstream out(path);
    out << R"({"step": 1, "name": "train_loss", "value": 0.5, "time": 10.5})" << "\n"
        << R"({"step": 2, "name": "train_loss", "val)";  // a line being written
  }
  auto first = tail.Poll();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].name, "train_loss");
  EXPECT_DOUBLE_EQ(first[0].time, 10.5);
  {
    std::ofstream out(path, std::ios::app);
    out << R"(ue": 0.4, "time": 11})" << "\n" << "not json\n" << R"({"step": 2, "name": "val_loss", "value": null})" << "\n";
  }
  auto second = tail.Poll();
  ASSERT_EQ(second.size(), 1u);  // the garbage line and the null value are skipped
  EXPECT_EQ(second[0].step, 2);
  EXPECT_DOUBLE_EQ(second[0].value, 0.4);
  EXPECT_TRUE(tail.Poll().empty());
  // A resumed run truncates the file: read from the start again.
  std::ofstream(path) << R"({"step": 1, "name": "lr", "value": 0.1})" << "\n";
  auto third = tail.Poll();
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].name, "lr");
}

}  // namespace
}  // namespace orchard::worker
