// One TensorBoard event file, written without TensorFlow: scalar curves and the HParams plugin's
// records (an experiment's columns, a session's hyperparameters and its end).
//
//   ASSIGN_OR_RETURN(std::unique_ptr<TensorBoardWriter> tb, TensorBoardWriter::Create("runs/x", now));
//   tb->AddSessionStart({{"optimizer.lr", 0.01}, {"model.hidden", "[64, 64]"}}, "sweep-1/trial-3", now);
//   tb->AddScalar(100, "train_loss", 0.42, now);
//   RETURN_IF_ERROR(tb->Flush());            // a live TensorBoard sees the points from here on
//   tb->AddSessionEnd(SessionStatus::kSuccess, now);
//   RETURN_IF_ERROR(tb->Flush());
//
// Records go to memory and reach the file on Flush, each framed as a TFRecord (tfrecord.h) holding
// a serialized Event (proto/tensorboard/). The file is never rewritten, only appended to; a failed
// write may leave a torn last record, which TensorBoard's readers skip. No protobuf or torch types
// in this header. Not thread-safe; copy deleted (owns a file descriptor).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/status.h"

namespace orchard::train {

// A hyperparameter of a session: a dotted recipe path and its value, a number or text.
struct TensorBoardHParam {
  std::string name;
  std::variant<double, std::string> value;
};

// The columns of TensorBoard's HParams tab, for a whole sweep.
struct TensorBoardExperiment {
  enum class Type { kUnset, kNumber, kString };  // kUnset: values of both kinds
  struct HParam {
    std::string name;
    Type type = Type::kUnset;
  };
  std::vector<HParam> hparams;
  std::vector<std::string> metrics;  // scalar tags of each session's own run, e.g. "val_loss"
};

// How a session ended. TensorBoard has no "stopped": kStopped is written as its STATUS_UNKNOWN.
enum class SessionStatus { kSuccess, kFailure, kStopped };

class TensorBoardWriter {
 public:
  // "events.out.tfevents.<unix seconds, 10 digits>.<host>.<microseconds, 6 digits>.<pid>.<sequence>
  // .orchard". TensorBoard reads the files whose name holds "tfevents" in name order, so a run's
  // later attempt must sort after its earlier one even within one second (hence the microseconds);
  // pid and sequence (a counter within the process) keep any two writers apart.
  static std::string FileName(double wall_time, const std::string& host, long pid, int sequence);

  // Creates `dir` (and its parents) if needed and a new event file named by FileName in it.
  // Internal when the directory or the file cannot be created; FailedPrecondition, always, in a
  // build without Protobuf (tensorboard_writer_disabled.cc).
  static StatusOr<std::unique_ptr<TensorBoardWriter>> Create(const std::string& dir, double wall_time);
  // Opens exactly `path` for appending (created if missing). Internal when it cannot be opened.
  // Either way the file_version record is the first one added.
  static StatusOr<std::unique_ptr<TensorBoardWriter>> Open(const std::string& path, double wall_time);

  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One point of the scalar curve `tag` (stored as a 32-bit float, as TensorBoard does).
  void AddScalar(int64_t step, const std::string& tag, double value, double wall_time);
  // A restart from a checkpoint: TensorBoard's Python loader drops this run's earlier points from
  // `step` on (those of the interrupted attempt past its checkpoint).
  void AddRestart(int64_t step, double wall_time);
  // The HParams plugin's records: the experiment (the sweep's columns), the start of a session
  // (`group_name`: sessions of one group are shown as one row) and its end.
  void AddExperiment(const TensorBoardExperiment& experiment, double wall_time);
  void AddSessionStart(const std::vector<TensorBoardHParam>& hparams, const std::string& group_name,
                       double wall_time);
  void AddSessionEnd(SessionStatus status, double wall_time);

  // Writes the records added since the last Flush. Internal, naming the file and the system's
  // error, when the write fails; the records are then dropped.
  Status Flush();

  const std::string& path() const { return path_; }

 private:
  TensorBoardWriter(int fd, std::string path);
  // Opens `path` with open(2)'s O_WRONLY | O_CREAT | O_APPEND | `flags` and adds the file_version record.
  static StatusOr<std::unique_ptr<TensorBoardWriter>> OpenWithFlags(const std::string& path, int flags,
                                                                    double wall_time);

  int fd_;
  std::string path_;
  std::string pending_;  // framed records not yet written
};

}  // namespace orchard::train
