// Which GPU each trainer gets, as pure functions (the callers read the environment and the driver).
//
//   // A worker started with CUDA_VISIBLE_DEVICES=4,5 hands a trial its ordinal 1: that is GPU 5.
//   ChildVisibleDevices(std::getenv("CUDA_VISIBLE_DEVICES"), {1}) == "5"
//   // Under mpirun: one GPU per rank of a node, or a clear refusal.
//   GpuOfLocalRank("cuda", /*local_rank=*/1, /*local_size=*/2, /*visible_gpus=*/2) == 1
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace orchard::comm {

// The CUDA_VISIBLE_DEVICES of a trainer given the worker's own ordinals `ordinals` (0..n-1 of what
// the worker sees). `worker_visible` is the worker's own CUDA_VISIBLE_DEVICES, or null when unset
// (then ordinals are the machine's). Entries may be indices, GPU-UUIDs or MIG ids; they are passed on
// as written. An ordinal past the worker's list is an error.
StatusOr<std::string> ChildVisibleDevices(const char* worker_visible, const std::vector<int>& ordinals);

// The GPU a rank trains on under mpirun, where every rank of a node takes its own GPU: the rank's
// local index, or -1 to train on CPU (train.device cpu, or auto without a GPU). Refuses more ranks on
// a node than it sees GPUs (NCCL cannot put two ranks on one GPU) and a `cuda:N` that would put the
// model on another GPU than the rank's communicator. One exception: a rank that sees exactly one GPU
// through a CUDA_VISIBLE_DEVICES of its own (`visible_set_for_rank`) was given that GPU by its
// launcher or a wrapper (Slurm's --gpus-per-task=1, a script setting it per local rank), and takes
// it; NCCL still refuses ranks that were all given the same one.
StatusOr<int> GpuOfLocalRank(const std::string& device, int local_rank, int local_size, int visible_gpus,
                             bool visible_set_for_rank = false);

}  // namespace orchard::comm
