#include "coordinator/placement/scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "core/search_space.h"

namespace orchard::coordinator {
namespace {

// The GPU where a share fits best: the least memory left over, then one already shared (idle GPUs
// stay whole for trials that need them), then the worker with the fewest free slots.
struct ShareFit {
  FreeSlots* worker = nullptr;
  GpuRoom* gpu = nullptr;
  int64_t need = 0;
};

bool Better(const ShareFit& a, const ShareFit& b) {
  if (b.gpu == nullptr) return true;
  const int64_t left_a = a.gpu->free_bytes - a.need, left_b = b.gpu->free_bytes - b.need;
  if (left_a != left_b) return left_a < left_b;
  if (a.gpu->idle != b.gpu->idle) return !a.gpu->idle;
  return a.worker->free < b.worker->free;
}

std::string GiB(int64_t bytes) {
  std::ostringstream out;
  out.precision(3);
  out << static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0) << " GiB";
  return out.str();
}

}  // namespace

int64_t GpuShare::BytesOn(int64_t total_bytes) const {
  if (bytes > 0) return bytes;
  return static_cast<int64_t>(std::ceil(fraction * static_cast<double>(total_bytes)));
}

namespace {

// Whether `trial` may join a group: fresh, one slot, no share of a GPU, and its sweep fuses.
bool MayFuse(const PendingTrial& trial) { return trial.fuse != 1 && trial.fresh && trial.slots == 1 && !trial.share.any(); }

// For sweeps with fuse auto, the group size that spreads the fusable trials they may start now (their
// pending ones, at most their room) over the free slots: in as few rounds of groups as AutoFuseLimit
// allows, as even as can be.
std::map<int64_t, int64_t> AutoGroupSizes(const std::vector<FreeSlots>& workers, const std::vector<PendingTrial>& pending,
                                          const SweepRoom& room) {
  int64_t free = 0;
  for (const FreeSlots& worker : workers) free += std::max<int64_t>(0, worker.free);
  free = std::max<int64_t>(1, free);
  std::map<int64_t, int64_t> fusable, limits;
  for (const PendingTrial& trial : pending) {
    if (trial.fuse != kFuseAuto || !MayFuse(trial)) continue;
    if (!fusable[trial.sweep_id]++) {
      int64_t& limit = limits[trial.sweep_id] = kMaxAutoFuseMembers;
      for (const FreeSlots& worker : workers) limit = std::min(limit, AutoFuseLimit(trial, worker));
    }
  }
  std::map<int64_t, int64_t> sizes;
  for (auto [sweep, count] : fusable) {
    if (const auto limit = room.find(sweep); limit != room.end()) count = std::min(count, limit->second);
    const int64_t per_slot = (count + free - 1) / free;
    const int64_t rounds = std::max<int64_t>(1, (per_slot + limits[sweep] - 1) / limits[sweep]);
    sizes[sweep] = std::clamp<int64_t>((count + free * rounds - 1) / (free * rounds), 1, limits[sweep]);
  }
  return sizes;
}

}  // namespace

int64_t AutoFuseLimit(const PendingTrial& trial, const FreeSlots& slots) {
  int64_t memory = slots.slot_memory_bytes;
  double flops_per_second = static_cast<double>(slots.slot_threads) * kCpuFlopsPerThread;
  if (!slots.gpus.empty()) {
    memory = std::numeric_limits<int64_t>::max();  // a group takes a whole GPU: the smallest bounds it
    for (const GpuRoom& gpu : slots.gpus) memory = std::min(memory, gpu.total_bytes);
    flops_per_second = kGpuFlops;
  }
  int64_t limit = kMaxAutoFuseMembers;
  if (trial.member_bytes > 0 && memory > 0) limit = std::min(limit, memory / 2 / trial.member_bytes);
  if (trial.member_step_flops > 0 && flops_per_second > 0) {
    const double members = flops_per_second * kAutoFuseStepSeconds / trial.member_step_flops;
    limit = std::min<int64_t>(limit, static_cast<int64_t>(std::min(members, static_cast<double>(kMaxAutoFuseMembers))));
  }
  return std::max<int64_t>(1, limit);
}

std::vector<Placement> PlaceTrials(std::vector<FreeSlots> workers, const std::vector<PendingTrial>& pending,
                                   SweepRoom room) {
  std::vector<Placement> placements;
  const std::map<int64_t, int64_t> auto_sizes = AutoGroupSizes(workers, pending, room);
  struct OpenGroup {
    size_t first;  // the index of its first member's placement
    int64_t members;
  };
  std::map<int64_t, OpenGroup> open_groups;  // by sweep: the group its next fusable trial joins
  for (const PendingTrial& trial : pending) {
    auto limit = room.find(trial.sweep_id);
    if (limit != room.end() && limit->second <= 0) continue;
    const int64_t group_size = trial.fuse == kFuseAuto && auto_sizes.count(trial.sweep_id) ? auto_sizes.at(trial.sweep_id)
                                                                                           : trial.fuse;
    const bool fusable = MayFuse(trial) && group_size > 1;
    const auto group = open_groups.find(trial.sweep_id);
    if (fusable && group != open_groups.end() && group->second.members < group_size) {
      Placement joined = placements[group->second.first];
      joined.trial_id = trial.trial_id;
      joined.fused_into = placements[group->second.first].trial_id;
      ++group->second.members;
      if (limit != room.end()) --limit->second;
      placements.push_back(std::move(joined));
      continue;
    }
    Placement placement{trial.trial_id, ""};
    if (trial.share.any()) {
      ShareFit best;
      for (FreeSlots& worker : workers) {
        for (GpuRoom& gpu : worker.gpus) {
          const ShareFit fit{&worker, &gpu, trial.share.BytesOn(gpu.total_bytes)};
          if (fit.need <= gpu.free_bytes && (gpu.idle ? worker.free > 0 : true) && Better(fit, best)) best = fit;
        }
      }
      if (best.gpu != nullptr) {
        if (best.gpu->idle) --best.worker->free;  // a shared GPU is no longer a free slot
        best.gpu->idle = false;
        best.gpu->free_bytes -= best.need;
        placement.worker_id = best.worker->worker_id;
        placement.gpus = {best.gpu->index};
        placement.gpu_share_bytes = best.need;
        placement.gpu_share_fraction = static_cast<double>(best.need) / static_cast<double>(best.gpu->total_bytes);
      }
    }
    const bool whole = placement.worker_id.empty();
    if (whole) {
      const int64_t slots = trial.share.any() ? 1 : trial.slots;  // a share on CPU slots is one slot
      FreeSlots* best = nullptr;
      for (FreeSlots& worker : workers) {
        // A share goes on CPU slots only; it was offered every GPU above.
        if (trial.share.any() && !worker.gpus.empty()) continue;
        const int64_t idle = std::count_if(worker.gpus.begin(), worker.gpus.end(), [](const GpuRoom& g) { return g.idle; });
        const bool fits = worker.free >= slots && (worker.gpus.empty() || idle >= slots);
        if (fits && (best == nullptr || worker.free < best->free)) best = &worker;
      }
      if (best == nullptr) continue;
      best->free -= slots;
      for (GpuRoom& gpu : best->gpus) {
        if (static_cast<int64_t>(placement.gpus.size()) == slots) break;
        if (!gpu.idle) continue;
        gpu.idle = false, gpu.free_bytes = 0;
        placement.gpus.push_back(gpu.index);
      }
      placement.worker_id = best->worker_id;
    }
    if (limit != room.end()) --limit->second;
    if (fusable) open_groups[trial.sweep_id] = {placements.size(), 1};
    placements.push_back(std::move(placement));
  }
  return placements;
}

std::string UnplaceableReason(const PendingTrial& trial, const std::vector<WorkerCapacity>& live_workers) {
  if (live_workers.empty()) return "";
  int64_t largest_slots = 0, largest_gpu = 0;
  bool cpu_worker = false;
  for (const WorkerCapacity& w : live_workers) {
    largest_slots = std::max(largest_slots, w.slots);
    cpu_worker = cpu_worker || w.gpu_memory_bytes.empty();
    for (int64_t bytes : w.gpu_memory_bytes) {
      largest_gpu = std::max(largest_gpu, bytes);
    }
  }
  if (trial.share.any()) {
    // A fraction fits every GPU; memory in bytes fits GPUs at least that large (or any CPU slot).
    if (cpu_worker || trial.share.bytes <= largest_gpu) return "";
    return "needs " + GiB(trial.share.bytes) + " of one GPU (sweep.gpu_memory_gib); the largest has " + GiB(largest_gpu);
  }
  if (trial.slots <= largest_slots) return "";
  return "needs " + std::to_string(trial.slots) + " slots on one worker; the largest has " + std::to_string(largest_slots);
}

}  // namespace orchard::coordinator
