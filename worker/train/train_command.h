// The orchard-train command line as a function, shared by the orchard-train binary (standalone, as
// the worker's warm trainer, or as ranks started by mpirun) and by orchard-worker --mpi, whose ranks
// train in-process.
//
//   TrainCommandEnv env;
//   env.stop_requested = &stop_flag;
//   int exit_code = RunTrainCommand({"recipes/digits.yaml", "--out", "runs/d"}, env);
//
// Returns the exit code (trainer.h).
#pragma once

#include <atomic>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"
#include "worker/comm/communicator.h"

namespace orchard::train {

struct TrainCommandEnv {
  std::ostream* out = &std::cout;  // progress
  std::ostream* err = &std::cerr;  // errors
  const std::atomic<bool>* stop_requested = nullptr;  // set: checkpoint and exit 4
  // Makes the ranks' communicator once the recipe is known (it decides CPU or GPU) and sets this
  // rank's GPU; unset: a world of one.
  std::function<StatusOr<std::unique_ptr<comm::Communicator>>(const Recipe&, int* cuda_device)> make_communicator;
};

int RunTrainCommand(const std::vector<std::string>& args, const TrainCommandEnv& env);

// `orchard-train export --recipe R --checkpoint DIR --out FILE` (the arguments after "export"):
// a checkpoint's model as a TorchScript file (torchscript_export.h). Returns the exit code.
int RunExportCommand(const std::vector<std::string>& args, const TrainCommandEnv& env);

}  // namespace orchard::train
