// Values gathered across the ranks of a data-parallel attempt, in host memory: sums of a few numbers
// (a step's loss and stop flag, evaluation sums) and every rank's bytes (the per-rank files of a
// checkpoint, which rank 0 writes). No torch here.
//
//   RankGathering gathering(comm.rank(), comm.size(),
//                           [&](comm::Buffer host) { return comm.AllReduce(host, comm::ReduceOp::kSum); });
//   std::vector<double> sums = {loss, stop ? 1.0 : 0.0};
//   RETURN_IF_ERROR(gathering.SumOverRanks(&sums));
//   ASSIGN_OR_RETURN(std::vector<std::string> per_rank, gathering.AllGatherBytes(own_bytes));
//
// These are collectives: every rank makes the same calls in the same order. With one rank they
// return at once, without a collective. Not thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "worker/comm/communicator.h"

namespace orchard::train {

// Sums a host buffer in place over the ranks. MPI and the world of one reduce host memory directly;
// NCCL reduces device memory only, so there the trainer stages the buffer through its GPU.
using SumHostBuffer = std::function<Status(comm::Buffer host)>;

class RankGathering {
 public:
  // This is rank `rank` of `ranks`.
  RankGathering(int rank, int ranks, SumHostBuffer sum);

  int rank() const { return rank_; }
  int ranks() const { return ranks_; }

  // Sums `values` over the ranks, in place (float64).
  Status SumOverRanks(std::vector<double>* values);

  // Every rank's `own` bytes, indexed by rank, on every rank. Two sums, of the sizes and of a zeroed
  // buffer in which each rank fills its own slice: used only at checkpoints, so simplicity wins
  // over bandwidth.
  StatusOr<std::vector<std::string>> AllGatherBytes(std::string own);

 private:
  int rank_;
  int ranks_;
  SumHostBuffer sum_;
};

}  // namespace orchard::train
