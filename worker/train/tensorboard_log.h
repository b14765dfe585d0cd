// A training run's TensorBoard event file as the trainer keeps it beside its metrics file: the
// scalar curves, and the run as a session of TensorBoard's HParams tab. Each attempt writes a file
// of its own (tensorboard_writer.h) into the run's output directory, so `tensorboard --logdir
// <storage>/<sweep>-<id>` shows every trial of a sweep.
//
//   TensorBoardLog tb = TensorBoardLog::Start(TensorBoardWriter::Create(dir, now),
//                                             TensorBoardRunOf(recipe, dir), resumed_step, now);
//   tb.Record(100, "train_loss", 0.42, now);
//   tb.Flush();
//   tb.End(SessionStatus::kSuccess, now);
//
// TensorBoard files are a convenience, never a reason to stop training: the first failure (the
// file cannot be created or written) prints one warning and turns the log off for good. Not
// thread-safe.
#pragma once

#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"
#include "worker/train/tensorboard_writer.h"

namespace orchard::train {

// What TensorBoard shows of one run besides its curves.
struct TensorBoardRun {
  std::string group_name;                          // the session's row in the HParams tab
  std::vector<TensorBoardHParam> hparams;          // the session's hyperparameters
  std::optional<TensorBoardExperiment> experiment; // the sweep's columns; none without a sweep
};

// The number a YAML flow value denotes ("32", "0.01", "1.0e-4"); nullopt for anything else (text,
// lists, booleans, non-finite values).
std::optional<double> YamlNumber(const std::string& value);

// The run of `recipe` in `output_dir`, as TensorBoard shows it:
//   hparams: with a sweep block, each sweep parameter as the overrides set it (the last override of
//     its path wins; a trial's hyperparameters come after the sweep's overrides), in the sweep's
//     order; without one, every overridden path. Numbers (YamlNumber) as numbers, else the text.
//   experiment (with a sweep block): those parameters, typed as number when every value they can
//     take is one, text when none is; and the metrics: the sweep's, then val_loss and train_loss.
//   group_name: the output directory's last two names ("quickstart-1/trial-3"), so that trials of
//     different sweeps in one storage root are never grouped together.
TensorBoardRun TensorBoardRunOf(const Recipe& recipe, const std::string& output_dir);

class TensorBoardLog {
 public:
  // Takes `writer` (a failed one: the log is off, with a warning) and adds the run's opening
  // records: a restart at *resumed_step + 1 when resuming (the interrupted attempt's points after
  // the checkpoint are dropped), the experiment, the session's start; then flushes. Warnings go to
  // `warnings` (nullptr: nowhere).
  static TensorBoardLog Start(StatusOr<std::unique_ptr<TensorBoardWriter>> writer, const TensorBoardRun& run,
                              std::optional<int64_t> resumed_step, double wall_time,
                              std::ostream* warnings = &std::cerr);

  // One point of a curve; reaches the file on Flush.
  void Record(int64_t step, const std::string& tag, double value, double wall_time);
  void Flush();
  // The session's end, flushed. A run that will resume (preempted, or failed and retried) should
  // not end its session: TensorBoard keeps the first end it reads.
  void End(SessionStatus status, double wall_time);

  // False once a failure turned the log off.
  bool on() const { return writer_ != nullptr; }

 private:
  TensorBoardLog(std::unique_ptr<TensorBoardWriter> writer, std::ostream* warnings)
      : writer_(std::move(writer)), warnings_(warnings) {}
  void TurnOff(const Status& why);

  std::unique_ptr<TensorBoardWriter> writer_;  // nullptr: off
  std::ostream* warnings_;
};

}  // namespace orchard::train
