// The scheduler: a pure function from free slots and pending trials to placements.
//
//   std::vector<Placement> placements = PlaceTrials(free_slots, pending, room_by_sweep);
//
// Trials are taken first in, first out across sweeps (the order of `pending`). A trial's gang of
// `slots` is placed all or nothing on one worker: the fitting worker with the fewest free slots,
// which keeps large holes for large gangs. A trial that fits nowhere now does not block smaller
// ones behind it (backfill). A sweep never has more trials running than its room allows. No clock,
// no I/O.
//
// On workers that report their GPUs, a trial that asks for a share of one GPU (GpuShare) is packed
// by memory: best fit (the GPU it leaves the least memory free on, a GPU already shared before an
// idle one), never past a GPU's memory; a trial of whole GPUs takes idle ones. On CPU slots a share
// is one slot.
//
// A sweep that fuses trials (sweep.fuse, docs/fusion.md) trains up to `fuse` of its fresh one-slot
// trials as one group on the slot of the first: the others join it without a slot of their own.
// With fuse auto a group is as large as spreads the sweep's waiting trials evenly over the free
// slots offered, at most AutoFuseLimit members.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace orchard::coordinator {

// One of a worker's GPUs as the worker sees it now.
struct GpuRoom {
  int32_t index = 0;        // the worker's ordinal
  int64_t total_bytes = 0;
  int64_t free_bytes = 0;   // total minus the shares on it; 0 when a trial holds it whole
  bool idle = true;         // no trial on it: it can be given whole
};

struct FreeSlots {
  std::string worker_id;
  int64_t free = 0;
  std::vector<GpuRoom> gpus = {};  // a GPU worker's GPUs; empty for CPU slots
  // CPU slots: the host memory available to each free one, and the threads a trial trains with; 0:
  // not known (the worker did not say).
  int64_t slot_memory_bytes = 0;
  int64_t slot_threads = 0;
};

// What share of one GPU a trial asks for (sweep.gpu_memory_gib or gpu_fraction); neither: whole GPUs.
struct GpuShare {
  int64_t bytes = 0;
  double fraction = 0;
  bool any() const { return bytes > 0 || fraction > 0; }
  // The memory it takes on a GPU of `total_bytes`.
  int64_t BytesOn(int64_t total_bytes) const;
};

struct PendingTrial {
  int64_t trial_id = 0;
  int64_t sweep_id = 0;
  int64_t slots = 1;
  GpuShare share = {};
  int64_t fuse = 1;    // the most trials of its sweep one group trains together; 1: none; kFuseAuto: auto
  bool fresh = true;   // no attempt yet: a requeued trial resumes its own checkpoint, alone
  // What each member of a fused group adds (EstimateFusedMemberCost); 0: not known.
  int64_t member_bytes = 0;
  double member_step_flops = 0;
};

// fuse auto's largest group on one of `slots`' slots, for members of `trial`'s size, at most
// kMaxAutoFuseMembers:
// - memory: the members fit in half of what the slot has (a CPU slot's share of the host's available
//   memory, a GPU's whole memory), leaving the rest to what they share: the data, the framework;
// - arithmetic: a group's step is at most kAutoFuseStepSeconds of the slot's arithmetic. Past that,
//   the fixed cost of a step that fusion shares out is a few percent of it, so more members gain
//   little and each waits longer for its results.
// What the worker or the recipe does not tell bounds nothing.
int64_t AutoFuseLimit(const PendingTrial& trial, const FreeSlots& slots);
inline constexpr double kAutoFuseStepSeconds = 0.025;
// A CPU thread's arithmetic in a fused step: 36-43 GFLOP/s measured for the quickstart mlp and the
// digits cnn fused 16 to a group on one thread of a 2-core Xeon (docs/fusion.md).
inline constexpr double kCpuFlopsPerThread = 40e9;
// A GPU's, taken low (about a third of an H100's fp32 without tensor cores): not yet measured.
inline constexpr double kGpuFlops = 20e12;

struct Placement {
  int64_t trial_id = 0;
  std::string worker_id;
  std::vector<int32_t> gpus = {};  // on a GPU worker: the GPUs it trains on
  int64_t gpu_share_bytes = 0;   // a shared GPU's memory it may use; 0: whole GPUs (or CPU slots)
  double gpu_share_fraction = 0; // that share of the GPU's memory
  int64_t fused_into = 0;        // the trial whose group (and slot) it joins; 0: it trains alone
  bool operator==(const Placement&) const = default;
};

// How many more trials each sweep may start now (max_concurrent minus running); sweeps absent from
// the map are unlimited.
using SweepRoom = std::map<int64_t, int64_t>;

std::vector<Placement> PlaceTrials(std::vector<FreeSlots> workers, const std::vector<PendingTrial>& pending,
                                   SweepRoom room);

// A live worker as the waiting check sees it: its slots, and each GPU's memory (empty for CPU slots).
struct WorkerCapacity {
  int64_t slots = 0;
  std::vector<int64_t> gpu_memory_bytes;
};

// Why `trial` cannot start even when every live worker is idle ("needs 4 slots on one worker; the
// largest has 2", "needs 24 GiB of one GPU; the largest has 16 GiB"); empty when one could hold it,
// and when no worker is live (a trial waits for workers to come).
std::string UnplaceableReason(const PendingTrial& trial, const std::vector<WorkerCapacity>& live_workers);

}  // namespace orchard::coordinator
