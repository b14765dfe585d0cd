// A training run's output: human lines on the progress stream, records in the metrics file and the
// same records in a TensorBoard event file, all written by rank 0 alone, so a data-parallel run
// reports once. No torch here.
//
//   Progress progress(options.progress, rank);
//   progress.Say("resumed from ...");
//   RETURN_IF_ERROR(progress.OpenMetrics("runs/x/metrics.jsonl", resumed_step));
//   progress.OpenTensorBoard("runs/x", TensorBoardRunOf(recipe, "runs/x"), resumed_step);
//   progress.Report({.step = 100, .total_steps = 800, .train_loss = 0.42, ...});
//   progress.EndTensorBoard(SessionStatus::kSuccess);
//
// The line formats are pure functions below. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "core/status.h"
#include "worker/train/metrics_log.h"
#include "worker/train/tensorboard_log.h"

namespace orchard::train {

// What the run's first line describes.
struct RunDescription {
  std::string recipe;
  std::string model_type;
  int64_t parameters = 0;
  std::string data_type;
  int64_t train_samples = 0;
  int64_t validation_samples = 0;
  int64_t total_steps = 0;
  int64_t global_batch = 0;  // samples per optimizer step over all ranks and micro-batches
  std::string device;        // "cpu", "cuda:0"
  int cpu_threads = 0;       // training on the CPU: its threads; 0 (on a GPU): not shown
  int ranks = 1;
  std::string communicator;  // "mpi", "nccl"; shown with more than one rank, as are the two below
  int64_t rank_batch = 0;
  int64_t gradient_buckets = 0;
};

// One logged step: the means over the steps since the last one logged, and the evaluation (if any)
// done at this step.
struct StepReport {
  int64_t step = 0;
  int64_t total_steps = 0;
  double train_loss = 0;
  std::map<std::string, double> eval;
  double lr = 0;
  double grad_norm = 0;  // of the step's last optimizer step
  double samples_per_second = 0;
  double step_ms = 0;
  double eta_seconds = 0;
};

// "orchard-train digits: model mlp (1234 parameters), data digits (...), 800 steps of 64, device cpu (2 threads)".
std::string HeaderLine(const RunDescription& run);
// Fills the report's step_ms, samples_per_second and eta_seconds (from its step and total_steps): the
// last `interval_steps` steps, of `samples_per_step` samples each, took `interval_seconds`, and the
// `steps_run` steps since the run (re)started took `elapsed_seconds`.
void SetPace(StepReport& report, double interval_seconds, int64_t interval_steps, int64_t samples_per_step,
             double elapsed_seconds, int64_t steps_run);
// "step  40/800  loss 0.4200  val_loss 0.4000  lr 3.00e-03  9000 samples/s  7.11 ms/step  eta 12s";
// the step is padded to the width of the total.
std::string StepLine(const StepReport& report);
// "evaluated at step 30: val_accuracy 0.875 val_loss 0.757785".
std::string EvaluationLine(int64_t step, const std::map<std::string, double>& metrics);
// Said once when the strategy's decision for `step` did not come within `seconds`.
std::string NoDecisionLine(int64_t step, double seconds);
// The message of a run that diverged at `step`: the loss when it is not finite, else the gradient norm.
std::string DivergenceMessage(int64_t step, double loss, double grad_norm);

class Progress {
 public:
  // `lines`: the progress stream (nullptr: none); only rank 0 writes to it.
  Progress(std::ostream* lines, int rank);

  // Rank 0 opens the metrics file (MetricsLog::Open); on other ranks a no-op. Until it is open,
  // records go nowhere.
  Status OpenMetrics(const std::string& path, std::optional<int64_t> resumed_step);

  // Rank 0 starts the run's TensorBoard event file in `dir` (TensorBoardLog); on other ranks a
  // no-op. Its failures are one warning on `warnings`, never an error: training goes on without it.
  void OpenTensorBoard(const std::string& dir, const TensorBoardRun& run, std::optional<int64_t> resumed_step,
                       std::ostream* warnings = &std::cerr);
  // Ends the run's TensorBoard session (TensorBoardLog::End), when one is open.
  void EndTensorBoard(SessionStatus status);

  // One line on the progress stream, flushed.
  void Say(const std::string& line);
  // One metric record, in the metrics file and the TensorBoard file; Flush makes the records visible
  // to readers of the files.
  void Record(int64_t step, const std::string& name, double value);
  void Flush();
  // Records train_loss, lr, grad_norm, samples_per_second and step_time_ms at the step, flushes, and
  // says the step's line.
  void Report(const StepReport& report);

 private:
  std::ostream* lines_;
  bool rank_zero_;
  std::unique_ptr<MetricsLog> metrics_;
  std::unique_ptr<TensorBoardLog> tensorboard_;
};

}  // namespace orchard::train
