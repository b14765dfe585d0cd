// orchard-train: trains one configuration of a recipe, with no coordinator.
//
//   orchard-train recipes/digits.yaml --set optimizer.lr=0.01 --out runs/digits
//   mpirun -np 2 orchard-train recipes/digits.yaml --out runs/digits-2   # data-parallel, 2 ranks
//
// Exit codes (trainer.h): 0 completed, 1 failed, 2 bad input, 3 diverged, 4 preempted.
//
//   orchard-train --zygote [--with-cuda]
// is the warm trainer the worker agent keeps: LibTorch loaded once (with its CUDA library on GPU
// slots), one forked child per trial (zygote.h).
//
//   orchard-train export --recipe registry/digits/v3/recipe.yaml --checkpoint registry/digits/v3/step-675 --out model.pt
// writes a checkpoint's model as a TorchScript file (torchscript_export.h).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "worker/comm/gpu_devices.h"
#include "worker/comm/nccl_communicator.h"
#include "worker/train/train_command.h"
#include "worker/train/trainer.h"
#include "worker/train/zygote.h"
#ifdef ORCHARD_HAVE_MPI
#include "worker/comm/mpi_communicator.h"
#endif

namespace {

std::atomic<bool> stop_requested{false};

void RequestStop(int) { stop_requested.store(true); }

// Under mpirun every rank trains its shard: MPI among the ranks for CPU tensors, NCCL (its unique id
// sent over MPI) when the recipe trains on GPUs, one GPU per rank of a node.
orchard::StatusOr<std::unique_ptr<orchard::comm::Communicator>> RanksOfMpirun(const orchard::Recipe& recipe,
                                                                              int* cuda_device) {
#ifdef ORCHARD_HAVE_MPI
  namespace comm = orchard::comm;
  RETURN_IF_ERROR(comm::InitMpi());
  ASSIGN_OR_RETURN(std::unique_ptr<comm::Communicator> mpi,
                   comm::MakeMpiCommunicator(MPI_COMM_WORLD, recipe.distributed.timeout_seconds));
  ASSIGN_OR_RETURN(const int gpu, comm::GpuOfThisMpiRank(recipe.train.device));
  if (gpu < 0) return mpi;
  *cuda_device = gpu;
  return comm::MakeNcclCommunicator(*mpi, gpu, recipe.distributed.timeout_seconds);
#else
  return orchard::FailedPrecondition("this orchard-train was built without MPI; it cannot run as several ranks");
#endif
}

int RunStandalone(const std::vector<std::string>& args) {
  struct sigaction action = {};
  action.sa_handler = RequestStop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  orchard::train::TrainCommandEnv env;
  env.stop_requested = &stop_requested;
  const char* world = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!world || std::atoi(world) <= 1) return orchard::train::RunTrainCommand(args, env);
  env.make_communicator = RanksOfMpirun;
  const int code = orchard::train::RunTrainCommand(args, env);
#ifdef ORCHARD_HAVE_MPI
  orchard::comm::FinalizeMpi(code);  // exits with `code` even when a stuck peer would hold MPI up
#endif
  return code;
}

// Leaves without running static destructors: LibTorch's and the CUDA libraries' took about 0.1 s at
// every exit (the warm trainer's too, which `orchard run` waits for at its end), and nothing of ours
// needs them: every file is closed and MPI finalised by then.
[[noreturn]] void Leave(int code) {
  std::cout.flush();
  std::fflush(nullptr);
  std::_Exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "--zygote") {
    // On GPU slots: LibTorch's CUDA library loaded once here, for every trial forked after. Loading
    // it starts no CUDA context, so the children may still use CUDA; a failure is told by the first
    // trial that needs the GPU (each calls LoadLibTorchCuda again and gets the same answer).
    if (argc == 3 && std::string(argv[2]) == "--with-cuda") (void)orchard::train::LoadLibTorchCuda();
    Leave(orchard::train::ServeZygote(RunStandalone));
  }
  if (argc >= 2 && std::string(argv[1]) == "export")
    Leave(orchard::train::RunExportCommand(std::vector<std::string>(argv + 2, argv + argc), {}));
  Leave(RunStandalone(std::vector<std::string>(argv + 1, argv + argc)));
}
