// TensorBoardWriter in a build without Protobuf (ORCHARD_TRAINER_ONLY): no file can be created, so
// the trainer warns once and trains without TensorBoard files. The real one: tensorboard_writer.cc.
#include "worker/train/tensorboard_writer.h"

namespace orchard::train {

StatusOr<std::unique_ptr<TensorBoardWriter>> TensorBoardWriter::Create(const std::string& dir, double wall_time) {
  return OpenWithFlags(dir, 0, wall_time);
}

StatusOr<std::unique_ptr<TensorBoardWriter>> TensorBoardWriter::Open(const std::string& path, double wall_time) {
  return OpenWithFlags(path, 0, wall_time);
}

StatusOr<std::unique_ptr<TensorBoardWriter>> TensorBoardWriter::OpenWithFlags(const std::string&, int, double) {
  return FailedPrecondition("this build has no Protobuf (ORCHARD_TRAINER_ONLY), so it writes no TensorBoard files");
}

TensorBoardWriter::TensorBoardWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
TensorBoardWriter::~TensorBoardWriter() = default;
void TensorBoardWriter::AddScalar(int64_t, const std::string&, double, double) {}
void TensorBoardWriter::AddRestart(int64_t, double) {}
void TensorBoardWriter::AddExperiment(const TensorBoardExperiment&, double) {}
void TensorBoardWriter::AddSessionStart(const std::vector<TensorBoardHParam>&, const std::string&, double) {}
void TensorBoardWriter::AddSessionEnd(SessionStatus, double) {}
Status TensorBoardWriter::Flush() { return OkStatus(); }

}  // namespace orchard::train
