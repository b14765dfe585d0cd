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

// Records the coordinator would refuse are dropped here, so they cannot take a report's good
// points down with them; fields of the wrong type are not records (a string "time" once threw).
TEST(MetricsTail, SkipsRecordsTheCoordinatorWouldRefuseAndNeverThrows) {
  orchard::testing::TempDir dir;
  const std::string path = dir / "metrics.jsonl";
  orchard::testing::WriteFile(path,
      R"({"step": 1, "name": "ok", "value": 1, "time": "noon"})" "\n"       // a bad time is dropped, not the record
      R"({"step": 2, "name": "bad name!", "value": 1})" "\n"
      R"({"step": -3, "name": "loss", "value": 1})" "\n"
      R"({"step": 4, "name": ")" + std::string(200, 'n') + R"(", "value": 1})" "\n"
      R"({"step": 5.5, "name": "loss", "value": 1})" "\n"
      R"({"step": 6, "name": 7, "value": 1})" "\n"
      R"({"step": 7, "name": "loss", "value": "1"})" "\n"
      R"([1, 2, 3])" "\n"
      "\xff\xfe binary \x01 line\n"
      R"({"step": 8, "name": "loss", "value": 0.25, "time": 3})" "\n");
  MetricsTail tail(path);
  const auto records = tail.Poll();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].name, "ok");
  EXPECT_EQ(records[0].time, 0);
  EXPECT_EQ(records[1].step, 8);
  EXPECT_DOUBLE_EQ(records[1].value, 0.25);
}

TEST(MetricsTail, AnOverlongLineIsSkippedWholeAndABigBacklogComesOverSeveralPolls) {
  orchard::testing::TempDir dir;
  const std::string path = dir / "metrics.jsonl";
  MetricsTail tail(path);
  {
    std::ofstream out(path);
    out << std::string(100 << 10, 'x');  // 100 KiB without a newline yet: no record can be that long
  }
  EXPECT_TRUE(tail.Poll().empty());
  size_t written = 1;
  {
    std::ofstream out(path, std::ios::app);
    out << std::string(10, 'x') << "\n" << R"({"step": 1, "name": "loss", "value": 1})" << "\n";
    // 10 MB of records: more than one poll reads.
    const std::string record = R"({"step": 2, "name": "loss", "value": 2, "time": 1})";
    for (size_t bytes = 0; bytes < (10u << 20); bytes += record.size() + 1, ++written) out << record << "\n";
  }
  size_t total = 0, polls = 0;
  for (std::vector<MetricRecord> got; !(got = tail.Poll()).empty(); ++polls) {
    if (total == 0) {
      EXPECT_EQ(got.front().step, 1) << "the record after the overlong line is read";
    }
    total += got.size();
  }
  EXPECT_GE(polls, 3u);
  EXPECT_EQ(total, written);
}

}  // namespace
}  // namespace orchard::worker
