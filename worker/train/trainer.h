// The training runtime's entry point: trains one configuration of a recipe with LibTorch on CPU or
// GPU, with evaluation, checkpoints, exact resume, metrics and preemption. No torch types here, so
// callers (the orchard-train binary, the worker, tests) need not include torch.
//
//   TrainOptions options;
//   options.output_dir = "runs/digits";
//   StatusOr<TrainResult> result = Train(recipe, options);
//
// One call trains one run; calls may not share an output directory concurrently, except the ranks
// of one data-parallel run (TrainOptions::communicator).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>

#include "core/provenance.h"
#include "core/recipe.h"
#include "core/status.h"
#include "core/trainer_exit_codes.h"
#include "worker/comm/communicator.h"

namespace orchard::train {

struct TrainOptions {
  std::string output_dir;           // metrics file, TensorBoard event files and checkpoints/ go here
  bool resume = false;              // continue from the latest complete checkpoint, if any
  // Do not train: judge the model of the latest checkpoint (which must exist) once on the recipe's
  // validation split, standardised as that model was trained, and record the metrics at its step.
  // The model registry evaluates a champion on a challenger's data this way.
  bool evaluate_only = false;
  int64_t epoch = 0;                // the coordinator's attempt number: fences checkpoints against stale
                                    // attempts (checkpoint_store.h); 0: unfenced
  std::ostream* progress = nullptr; // human progress lines; nullptr: none
  // When set, a checkpoint is written and Train returns kPreempted: a world of one sees it after the
  // step it is in, several ranks at their next logged step (they agree on it there). Typically set
  // by a SIGTERM handler.
  const std::atomic<bool>* stop_requested = nullptr;
  // Where the sweep's strategy answers (core/strategy_answer.h), for attempt `epoch`: at each
  // evaluation it judges, rank 0 waits up to recipe.sweep.decision_timeout_seconds for the decision,
  // and a stop or pause ends the run there as a stop request would. Empty: never waits. Every rank
  // is given the same.
  std::string decision_file;
  // The ranks of this attempt (data parallelism); nullptr: a world of one. Every rank calls Train
  // with the same recipe and output_dir on shared storage; rank 0 writes metrics and checkpoints,
  // and a stop requested on any rank stops them all at the same step.
  comm::Communicator* communicator = nullptr;
  int cuda_device = 0;  // this rank's GPU when train.device is auto or cuda
  // The share of its GPU's memory this run may use (0: all): the caller has capped LibTorch's CUDA
  // allocator there (ApplyGpuMemoryShare); running out of it ends the run with an error that says so.
  double gpu_memory_fraction = 0;
  // What this run trains from, as the caller knows it (recipe, data, build); Train adds the
  // libraries, device, world size and start step, and rank 0 writes it to
  // <output_dir>/provenance.json before the first step. nullptr: none is written.
  Provenance* provenance = nullptr;
};

struct TrainResult {
  enum class Outcome { kCompleted, kPreempted, kDiverged };
  Outcome outcome = Outcome::kCompleted;
  std::string message;                    // e.g. "diverged at step 12: loss is nan"
  int64_t start_step = 0;                 // > 0 when resumed
  int64_t steps = 0;                      // optimizer steps done, in total
  int64_t total_steps = 0;                // steps the recipe asks for
  double first_train_loss = 0;            // of this run's first step
  double final_train_loss = 0;            // mean over the last log interval
  std::map<std::string, double> final_eval;  // val_loss, val_accuracy / val_perplexity
  double samples_per_second = 0;          // training throughput, eval excluded
  double step_time_ms = 0;                // mean wall time of an optimizer step
  int64_t parameter_count = 0;
  std::string device;                     // "cpu", "cuda:0"
  std::string parameter_digest;           // SHA-256 of all parameters and buffers with their names,
                                          // hex: equal digests mean bit-identical models
  std::string last_checkpoint;            // directory of the newest checkpoint written or resumed
  int ranks = 1;                          // data-parallel world size
  int64_t buckets = 0;                    // gradient buckets all-reduced per step
};

// Caps this process's CUDA allocator at `fraction` of each GPU's memory (LibTorch's
// per_process_memory_fraction, added to PYTORCH_CUDA_ALLOC_CONF): call it before anything touches
// CUDA. Several trials can then share one GPU without one taking its neighbours' memory.
void ApplyGpuMemoryShare(double fraction);

StatusOr<TrainResult> Train(const Recipe& recipe, const TrainOptions& options);

// Loads LibTorch's CUDA library (libtorch_cuda.so, beside libtorch_cpu.so), which orchard-train does
// not link (cmake/OrchardDependencies.cmake); loading it registers LibTorch's CUDA side as linking
// would. LibTorch settles whether it has CUDA at its first question about it, for the life of the
// process, so this must come first: a run calls it from ResolveDevice, and a process that trains
// trial after trial calls it at its start where a GPU is visible. Internal when it came too late;
// Unavailable when this LibTorch has no CUDA library or it does not load. Once per process: later
// calls return the first result.
Status LoadLibTorchCuda();

}  // namespace orchard::train
