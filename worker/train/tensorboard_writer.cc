#include "worker/train/tensorboard_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "tensorboard/event.pb.h"
#include "tensorboard/hparams.pb.h"
#include "worker/train/tfrecord.h"

namespace orchard::train {
namespace {

namespace tb = orchard::tensorboard;
namespace hp = orchard::tensorboard::hparams;

// As TensorBoard's hparams plugin names them (tensorboard/plugins/hparams/metadata.py).
constexpr char kPluginName[] = "hparams";
constexpr int kPluginDataVersion = 0;
constexpr char kExperimentTag[] = "_hparams_/experiment";
constexpr char kSessionStartTag[] = "_hparams_/session_start_info";
constexpr char kSessionEndTag[] = "_hparams_/session_end_info";

std::atomic<int> next_sequence{0};

tb::Event NewEvent(int64_t step, double wall_time) {
  tb::Event event;
  event.set_wall_time(wall_time);
  event.set_step(step);
  return event;
}

// A summary value of the hparams plugin: the content in its metadata, and the empty float tensor
// TensorBoard's own writer puts beside it (readers that keep only valued summaries keep this one).
tb::Event PluginEvent(const char* tag, const hp::HParamsPluginData& data, double wall_time) {
  tb::Event event = NewEvent(0, wall_time);
  tb::Summary::Value* value = event.mutable_summary()->add_value();
  value->set_tag(tag);
  tb::SummaryMetadata::PluginData* plugin = value->mutable_metadata()->mutable_plugin_data();
  plugin->set_plugin_name(kPluginName);
  plugin->set_content(data.SerializeAsString());
  tb::TensorProto* tensor = value->mutable_tensor();
  tensor->set_dtype(tb::DT_FLOAT);
  tensor->mutable_tensor_shape()->add_dim()->set_size(0);
  return event;
}

hp::DataType ToProto(TensorBoardExperiment::Type type) {
  switch (type) {
    case TensorBoardExperiment::Type::kNumber: return hp::DATA_TYPE_FLOAT64;
    case TensorBoardExperiment::Type::kString: return hp::DATA_TYPE_STRING;
    case TensorBoardExperiment::Type::kUnset: break;
  }
  return hp::DATA_TYPE_UNSET;
}

hp::Status ToProto(SessionStatus status) {
  switch (status) {
    case SessionStatus::kSuccess: return hp::STATUS_SUCCESS;
    case SessionStatus::kFailure: return hp::STATUS_FAILURE;
    case SessionStatus::kStopped: break;
  }
  return hp::STATUS_UNKNOWN;
}

std::string HostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "localhost";
  return host;
}

}  // namespace

std::string TensorBoardWriter::FileName(double wall_time, const std::string& host, long pid, int sequence) {
  const double seconds = std::floor(wall_time);
  const long long micros = std::min(999999LL, static_cast<long long>((wall_time - seconds) * 1e6));
  char seconds_text[32], micros_text[32];
  std::snprintf(seconds_text, sizeof seconds_text, "%010lld", static_cast<long long>(seconds));
  std::snprintf(micros_text, sizeof micros_text, "%06lld", micros);
  return std::string("events.out.tfevents.") + seconds_text + "." + host + "." + micros_text + "." +
         std::to_string(pid) + "." + std::to_string(sequence) + ".orchard";
}

StatusOr<std::unique_ptr<TensorBoardWriter>> TensorBoardWriter::Create(const std::string& dir, double wall_time) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return Internal("cannot create the directory " + dir + " for TensorBoard files: " + error.message());
  const std::string name = FileName(wall_time, HostName(), ::getpid(), next_sequence++);
  return OpenWithFlags((std::filesystem::path(dir) / name).string(), O_EXCL, wall_time);
}

StatusOr<std::unique_ptr<TensorBoardWriter>> TensorBoardWriter::Open(const std::string& path, double wall_time) {
  return OpenWithFlags(path, 0, wall_time);
}

StatusOr<std::unique_ptr<TensorBoardWriter>> TensorBoardWriter::OpenWithFlags(const std::string& path, int flags,
                                                                              double wall_time) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | flags, 0644);
  if (fd < 0) return Internal("cannot create the TensorBoard file " + path + ": " + std::strerror(errno));
  std::unique_ptr<TensorBoardWriter> writer(new TensorBoardWriter(fd, path));
  tb::Event version = NewEvent(0, wall_time);
  version.set_file_version("brain.Event:2");
  AppendRecord(version.SerializeAsString(), &writer->pending_);
  return writer;
}

TensorBoardWriter::TensorBoardWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

TensorBoardWriter::~TensorBoardWriter() { ::close(fd_); }

void TensorBoardWriter::AddScalar(int64_t step, const std::string& tag, double value, double wall_time) {
  tb::Event event = NewEvent(step, wall_time);
  tb::Summary::Value* point = event.mutable_summary()->add_value();
  point->set_tag(tag);
  point->set_simple_value(static_cast<float>(value));
  AppendRecord(event.SerializeAsString(), &pending_);
}

void TensorBoardWriter::AddRestart(int64_t step, double wall_time) {
  tb::Event event = NewEvent(step, wall_time);
  event.mutable_session_log()->set_status(tb::SessionLog::START);
  AppendRecord(event.SerializeAsString(), &pending_);
}

void TensorBoardWriter::AddExperiment(const TensorBoardExperiment& experiment, double wall_time) {
  hp::HParamsPluginData data;
  data.set_version(kPluginDataVersion);
  hp::Experiment* columns = data.mutable_experiment();
  for (const TensorBoardExperiment::HParam& h : experiment.hparams) {
    hp::HParamInfo* info = columns->add_hparam_infos();
    info->set_name(h.name);
    info->set_type(ToProto(h.type));
  }
  for (const std::string& metric : experiment.metrics) {
    // group "": the scalars are in the session's own run (its folder), not a subfolder.
    columns->add_metric_infos()->mutable_name()->set_tag(metric);
  }
  AppendRecord(PluginEvent(kExperimentTag, data, wall_time).SerializeAsString(), &pending_);
}

void TensorBoardWriter::AddSessionStart(const std::vector<TensorBoardHParam>& hparams, const std::string& group_name,
                                        double wall_time) {
  hp::HParamsPluginData data;
  data.set_version(kPluginDataVersion);
  hp::SessionStartInfo* start = data.mutable_session_start_info();
  for (const TensorBoardHParam& h : hparams) {
    google::protobuf::Value& value = (*start->mutable_hparams())[h.name];
    if (const double* number = std::get_if<double>(&h.value)) {
      value.set_number_value(*number);
    } else {
      value.set_string_value(std::get<std::string>(h.value));
    }
  }
  start->set_group_name(group_name);
  start->set_start_time_secs(wall_time);
  AppendRecord(PluginEvent(kSessionStartTag, data, wall_time).SerializeAsString(), &pending_);
}

void TensorBoardWriter::AddSessionEnd(SessionStatus status, double wall_time) {
  hp::HParamsPluginData data;
  data.set_version(kPluginDataVersion);
  hp::SessionEndInfo* end = data.mutable_session_end_info();
  end->set_status(ToProto(status));
  end->set_end_time_secs(wall_time);
  AppendRecord(PluginEvent(kSessionEndTag, data, wall_time).SerializeAsString(), &pending_);
}

Status TensorBoardWriter::Flush() {
  std::string bytes;
  bytes.swap(pending_);
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Internal("cannot write the TensorBoard file " + path_ + ": " +
                      (n < 0 ? std::strerror(errno) : "no progress"));
    }
    written += static_cast<size_t>(n);
  }
  return OkStatus();
}

}  // namespace orchard::train
