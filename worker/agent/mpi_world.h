// mpirun mode: `mpirun -np N orchard-worker --mpi ...` makes the MPI world one worker whose N slots
// are its ranks. Rank 0 is the world's agent (the only process that talks to the coordinator, so
// only rank 0's node needs to reach it); every rank, rank 0 included, serves one slot and trains
// in-process. A trial placed on k slots runs on k free ranks, which form a communicator of their
// own with MPI_Comm_create_group (only the members call it), train together, and free it.
//
//   RETURN_IF_ERROR(comm::InitMpi());
//   MpiWorld world;                                   // every rank
//   if (world.rank() == 0) { options.slots = world.slots(); options.make_launcher = world.LauncherFactory(); run agent }
//   world.Serve(stop);                                // every rank, until rank 0 calls Shutdown()
//
// Control messages (start, stop, done, shutdown) are small JSON texts on MPI_COMM_WORLD.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "worker/agent/slots.h"
#include "worker/agent/trainer_launcher.h"

namespace orchard::worker {

class MpiWorld {
 public:
  MpiWorld();  // MPI must be initialised (comm::InitMpi)
  ~MpiWorld();
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // One slot per rank: GPUs when rank 0 sees one, else CPU.
  Slots slots() const;

  // Rank 0: launchers that place trials on free ranks (AgentOptions::make_launcher).
  std::function<std::unique_ptr<TrainerLauncher>(std::function<void()>)> LauncherFactory();

  // Every rank: trains what rank 0 sends, one trial at a time, until Shutdown. On rank 0 call it
  // from a thread of its own (StartServing) since the agent runs there too.
  void Serve();
  void StartServing();
  // Rank 0: tells every rank to stop serving (after the agent drained) and waits for its own.
  void Shutdown();

 private:
  int rank_ = 0, size_ = 1;
  std::thread serving_;
};

}  // namespace orchard::worker
