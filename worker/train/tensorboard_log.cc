#include "worker/train/tensorboard_log.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>
#include <system_error>

namespace orchard::train {
namespace {

std::string Trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

std::variant<double, std::string> HParamValue(const std::string& yaml) {
  if (const std::optional<double> number = YamlNumber(yaml)) return *number;
  return Trim(yaml);
}

TensorBoardExperiment::Type TypeOf(const ParameterSpace& space) {
  if (space.kind != ParameterSpace::Kind::kValues && space.kind != ParameterSpace::Kind::kConstant) {
    return TensorBoardExperiment::Type::kNumber;  // drawn from a distribution
  }
  size_t numbers = 0;
  for (const std::string& value : space.values) numbers += YamlNumber(value).has_value();
  if (numbers == space.values.size()) return TensorBoardExperiment::Type::kNumber;
  return numbers == 0 ? TensorBoardExperiment::Type::kString : TensorBoardExperiment::Type::kUnset;
}

std::string GroupName(const std::string& output_dir, const std::string& fallback) {
  std::error_code error;
  std::filesystem::path dir = std::filesystem::absolute(output_dir, error);
  if (error) dir = output_dir;
  dir = dir.lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();  // "runs/x/"
  const std::filesystem::path parent = dir.parent_path().filename();
  const std::string group = (parent.empty() ? dir.filename() : parent / dir.filename()).string();
  return group.empty() ? fallback : group;
}

}  // namespace

std::optional<double> YamlNumber(const std::string& value) {
  const std::string text = Trim(value);
  double number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || !std::isfinite(number)) {
    return std::nullopt;
  }
  return number;
}

TensorBoardRun TensorBoardRunOf(const Recipe& recipe, const std::string& output_dir) {
  TensorBoardRun run;
  run.group_name = GroupName(output_dir, recipe.name);
  std::map<std::string, std::string> set;  // path -> the value of its last override
  std::vector<std::string> order;          // paths in the order first overridden
  for (const std::string& override_text : recipe.overrides) {
    const size_t eq = override_text.find('=');
    if (eq == std::string::npos) continue;
    const std::string path = Trim(override_text.substr(0, eq));
    if (!set.count(path)) order.push_back(path);
    set[path] = override_text.substr(eq + 1);
  }
  if (!recipe.has_sweep) {
    for (const std::string& path : order) run.hparams.push_back({path, HParamValue(set[path])});
    return run;
  }
  TensorBoardExperiment experiment;
  for (const ParameterSpace& space : recipe.sweep.parameters) {
    experiment.hparams.push_back({space.path, TypeOf(space)});
    if (auto it = set.find(space.path); it != set.end()) run.hparams.push_back({space.path, HParamValue(it->second)});
  }
  for (const std::string& metric : {recipe.sweep.metric, std::string("val_loss"), std::string("train_loss")}) {
    if (std::find(experiment.metrics.begin(), experiment.metrics.end(), metric) == experiment.metrics.end()) {
      experiment.metrics.push_back(metric);
    }
  }
  run.experiment = std::move(experiment);
  return run;
}

TensorBoardLog TensorBoardLog::Start(StatusOr<std::unique_ptr<TensorBoardWriter>> writer, const TensorBoardRun& run,
                                     std::optional<int64_t> resumed_step, double wall_time, std::ostream* warnings) {
  if (!writer.ok()) {
    TensorBoardLog off(nullptr, warnings);
    off.TurnOff(writer.status());
    return off;
  }
  TensorBoardLog log(std::move(writer).value(), warnings);
  if (resumed_step) log.writer_->AddRestart(*resumed_step + 1, wall_time);
  if (run.experiment) log.writer_->AddExperiment(*run.experiment, wall_time);
  log.writer_->AddSessionStart(run.hparams, run.group_name, wall_time);
  log.Flush();
  return log;
}

void TensorBoardLog::Record(int64_t step, const std::string& tag, double value, double wall_time) {
  if (writer_) writer_->AddScalar(step, tag, value, wall_time);
}

void TensorBoardLog::Flush() {
  if (!writer_) return;
  if (Status flushed = writer_->Flush(); !flushed.ok()) TurnOff(flushed);
}

void TensorBoardLog::End(SessionStatus status, double wall_time) {
  if (!writer_) return;
  writer_->AddSessionEnd(status, wall_time);
  Flush();
}

void TensorBoardLog::TurnOff(const Status& why) {
  writer_.reset();
  if (warnings_) {
    *warnings_ << "orchard-train: warning: no more TensorBoard records for this run: " << why.message()
               << " (training goes on, and so does the metrics file)" << std::endl;
  }
}

}  // namespace orchard::train
