#include "coordinator/placement/scheduler.h"

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

}  // namespace orchard::coordinator
