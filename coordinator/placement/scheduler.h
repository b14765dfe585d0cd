// The scheduler: a pure function from free slots and pending trials to placements.
//
//   std::vector<Placement> placements = PlaceTrials(free_slots, pending, room_by_sweep);
//
// Trials are taken first in, first out across sweeps (the order of `pending`). A trial's gang of
// `slots` is placed all or nothing on one worker: the fitting worker with the fewest free slots,
// which keeps large holes for large gangs. A trial that fits nowhere now does not block smaller
// ones behind it (backfill). A sweep never has more trials running than its room allows. No clock,
// no I/O.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace orchard::coordinator {

struct FreeSlots {
  std::string worker_id;
  int64_t free = 0;
};

struct PendingTrial {
  int64_t trial_id = 0;
  int64_t sweep_id = 0;
  int64_t slots = 1;
};

struct Placement {
  int64_t trial_id = 0;
  std::string worker_id;
  bool operator==(const Placement&) const = default;
};

// How many more trials each sweep may start now (max_concurrent minus running); sweeps absent from
// the map are unlimited.
using SweepRoom = std::map<int64_t, int64_t>;

std::vector<Placement> PlaceTrials(std::vector<FreeSlots> workers, const std::vector<PendingTrial>& pending,
                                   SweepRoom room);

// Why a trial of `slots` slots cannot start even when every live worker is idle ("needs 4 slots on
// one worker; the largest has 2"), given each live worker's slots; empty when one could hold it, and
// when no worker is live (a trial waits for workers to come).
std::string UnplaceableReason(int64_t slots, const std::vector<int64_t>& live_worker_slots);

}  // namespace orchard::coordinator
