#include "coordinator/placement/scheduler.h"

#include <algorithm>

namespace orchard::coordinator {

std::vector<Placement> PlaceTrials(std::vector<FreeSlots> workers, const std::vector<PendingTrial>& pending,
                                   SweepRoom room) {
  std::vector<Placement> placements;
  for (const PendingTrial& trial : pending) {
    auto limit = room.find(trial.sweep_id);
    if (limit != room.end() && limit->second <= 0) continue;
    FreeSlots* best = nullptr;
    for (FreeSlots& worker : workers) {
      if (worker.free >= trial.slots && (best == nullptr || worker.free < best->free)) best = &worker;
    }
    if (best == nullptr) continue;
    best->free -= trial.slots;
    if (limit != room.end()) --limit->second;
    placements.push_back({trial.trial_id, best->worker_id});
  }
  return placements;
}

std::string UnplaceableReason(int64_t slots, const std::vector<int64_t>& live_worker_slots) {
  if (live_worker_slots.empty()) return "";
  const int64_t largest = *std::max_element(live_worker_slots.begin(), live_worker_slots.end());
  if (slots <= largest) return "";
  return "needs " + std::to_string(slots) + " slots on one worker; the largest has " + std::to_string(largest);
}

}  // namespace orchard::coordinator
