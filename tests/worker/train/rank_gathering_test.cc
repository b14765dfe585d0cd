#include "worker/train/rank_gathering.h"

#include <gtest/gtest.h>

#include <barrier>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace orchard::train {
namespace {

// A world of `ranks` threads in one process: each sum waits for every rank's buffer, then every rank
// adds them all up into its own, as an all-reduce does.
class ThreadWorld {
 public:
  explicit ThreadWorld(int ranks) : buffers_(ranks), sync_(ranks) {}

  SumHostBuffer SumFor(int rank) {
    return [this, rank](comm::Buffer host) { return Sum(rank, host); };
  }

 private:
  Status Sum(int rank, comm::Buffer host) {
    buffers_[rank] = host;
    sync_.arrive_and_wait();  // every rank's buffer is in place
    std::vector<char> total(host.count * comm::SizeOf(host.type));
    for (const comm::Buffer& b : buffers_) {
      for (int64_t i = 0; i < host.count; ++i) Add(host.type, b.data, total.data(), i);
    }
    sync_.arrive_and_wait();  // every rank has read every buffer, so each may overwrite its own
    std::memcpy(host.data, total.data(), total.size());
    return OkStatus();
  }

  static void Add(comm::DataType type, const void* from, void* to, int64_t i) {
    switch (type) {
      case comm::DataType::kUInt8: static_cast<uint8_t*>(to)[i] += static_cast<const uint8_t*>(from)[i]; break;
      case comm::DataType::kInt64: static_cast<int64_t*>(to)[i] += static_cast<const int64_t*>(from)[i]; break;
      case comm::DataType::kFloat32: static_cast<float*>(to)[i] += static_cast<const float*>(from)[i]; break;
      case comm::DataType::kFloat64: static_cast<double*>(to)[i] += static_cast<const double*>(from)[i]; break;
    }
  }

  std::vector<comm::Buffer> buffers_;
  std::barrier<> sync_;
};

// Runs `body(rank, gathering)` on every rank of a ThreadWorld at once.
template <typename Body>
void OnEveryRank(int ranks, Body body) {
  ThreadWorld world(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&world, &body, r, ranks] {
      RankGathering gathering(r, ranks, world.SumFor(r));
      body(r, gathering);
    });
  }
  for (std::thread& t : threads) t.join();
}

SumHostBuffer NeverCalled() {
  return [](comm::Buffer) {
    ADD_FAILURE() << "a world of one needs no collective";
    return Internal("called");
  };
}

TEST(RankGatheringTest, AWorldOfOneKeepsItsValuesWithoutACollective) {
  RankGathering gathering(0, 1, NeverCalled());
  std::vector<double> values = {1.5, -2};
  ASSERT_TRUE(gathering.SumOverRanks(&values).ok());
  EXPECT_EQ(values, (std::vector<double>{1.5, -2}));
  auto all = gathering.AllGatherBytes("checkpoint bytes");
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(*all, std::vector<std::string>{"checkpoint bytes"});
}

TEST(RankGatheringTest, SumsOverEveryRank) {
  OnEveryRank(3, [](int rank, RankGathering& gathering) {
    std::vector<double> values = {static_cast<double>(rank), 0.5, rank == 2 ? 1.0 : 0.0};
    ASSERT_TRUE(gathering.SumOverRanks(&values).ok());
    EXPECT_EQ(values, (std::vector<double>{0 + 1 + 2, 1.5, 1})) << "rank " << rank;
  });
}

TEST(RankGatheringTest, EveryRankReceivesEveryRanksBytesInRankOrder) {
  // Different lengths, an empty one, and bytes that would overflow if slices overlapped.
  const std::vector<std::string> own = {std::string("rank zero\xff\0", 11), "", std::string(1000, '\x80')};
  OnEveryRank(3, [&own](int rank, RankGathering& gathering) {
    auto all = gathering.AllGatherBytes(own[rank]);
    ASSERT_TRUE(all.ok()) << all.status().message();
    EXPECT_EQ(*all, own) << "rank " << rank;
  });
}

}  // namespace
}  // namespace orchard::train
