#include "worker/train/rank_gathering.h"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace orchard::train {

RankGathering::RankGathering(int rank, int ranks, SumHostBuffer sum)
    : rank_(rank), ranks_(ranks), sum_(std::move(sum)) {}

Status RankGathering::SumOverRanks(std::vector<double>* values) {
  if (ranks_ == 1) return OkStatus();
  return sum_({values->data(), static_cast<int64_t>(values->size()), comm::DataType::kFloat64});
}

StatusOr<std::vector<std::string>> RankGathering::AllGatherBytes(std::string own) {
  std::vector<std::string> all(ranks_);
  if (ranks_ == 1) {
    all[0] = std::move(own);
    return all;
  }
  std::vector<int64_t> sizes(ranks_, 0);
  sizes[rank_] = static_cast<int64_t>(own.size());
  RETURN_IF_ERROR(sum_({sizes.data(), ranks_, comm::DataType::kInt64}));
  std::vector<int64_t> offsets(ranks_ + 1, 0);
  for (int r = 0; r < ranks_; ++r) offsets[r + 1] = offsets[r] + sizes[r];
  std::vector<uint8_t> bytes(offsets[ranks_], 0);
  std::copy(own.begin(), own.end(), bytes.begin() + offsets[rank_]);
  RETURN_IF_ERROR(sum_({bytes.data(), offsets[ranks_], comm::DataType::kUInt8}));
  for (int r = 0; r < ranks_; ++r) {
    all[r].assign(reinterpret_cast<const char*>(bytes.data()) + offsets[r], offsets[r + 1] - offsets[r]);
  }
  return all;
}

}  // namespace orchard::train
