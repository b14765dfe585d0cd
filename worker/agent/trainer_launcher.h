// Starts orchard-train processes for attempts and reports how they end.
//
//   auto launcher = MakeTrainerLauncher("build/bin/orchard-train", /*warm=*/true, /*gpu=*/false,
//                                       [&] { wake.notify_one(); });
//   ASSIGN_OR_RETURN(int pid, launcher->Launch({{"recipe.yaml", "--out", dir}, dir + "/attempt-1.log", {}}));
//   for (const TrainerExit& exit : launcher->TakeExits()) ...
//
// Cold: fork and exec orchard-train for each trial (pays LibTorch's load time every time).
// Warm: one `orchard-train --zygote` with LibTorch loaded forks each trial (zygote.h); if it dies,
// its trials are reported ended and the next launch starts a new one.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace orchard::worker {

struct LaunchRequest {
  std::vector<std::string> args;  // orchard-train's arguments, without the program name
  std::string log_path;           // stdout and stderr are appended here
  std::map<std::string, std::string> env;  // set in the trainer's environment
  int64_t ranks = 1;              // >1: started as that many MPI ranks through mpirun
};

struct TrainerExit {
  int pid = 0;
  int exit_code = -1;  // -1 when killed by a signal or lost
  int signal = 0;
  std::string note;    // set when the exit was not observed (the warm trainer died)
};

class TrainerLauncher {
 public:
  virtual ~TrainerLauncher() = default;
  // Gets ready for the first trial ahead of it: a warm launcher starts its warm trainer now, so that
  // the first lease does not wait for LibTorch to load (about 0.4 s). Launch works without it, and
  // reports any failure to start.
  virtual void Prewarm() {}
  // Starts a trainer and returns its process id.
  virtual StatusOr<int> Launch(const LaunchRequest& request) = 0;
  // Trainers that ended since the last call.
  virtual std::vector<TrainerExit> TakeExits() = 0;
  // SIGTERM: checkpoint and stop; SIGKILL: stop now (where the trainer is a process of its own).
  virtual void Signal(int pid, int signal) = 0;
  // Where a launched trainer runs, for the worker's log: "as pid 4242".
  virtual std::string Describe(int pid) const { return "as pid " + std::to_string(pid); }
  // Slots that no trainer of an ended attempt has given back yet (a rank still stuck in a
  // collective after its trial was reported ended); the agent leases none of them.
  virtual int64_t HeldSlots() const { return 0; }
};

// `on_exit` is called (from any thread) whenever a trainer ends, to wake the caller. `gpu`: the
// worker's slots are GPUs, so the warm trainer loads LibTorch's CUDA library before it forks trials
// (`orchard-train --zygote --with-cuda`); elsewhere only a trial that may use a GPU loads it.
std::unique_ptr<TrainerLauncher> MakeTrainerLauncher(const std::string& trainer_binary, bool warm, bool gpu,
                                                     std::function<void()> on_exit);

}  // namespace orchard::worker
