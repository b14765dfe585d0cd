#include "worker/train/progress.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/format.h"

namespace orchard::train {
namespace {

double WallTime() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string HeaderLine(const RunDescription& run) {
  std::ostringstream line;
  line << "orchard-train " << run.recipe << ": model " << run.model_type << " (" << run.parameters
       << " parameters), data " << run.data_type << " (" << run.train_samples << " train / "
       << run.validation_samples << " validation), " << run.total_steps << " steps of " << run.global_batch
       << ", device " << run.device;
  if (run.cpu_threads > 0) line << " (" << run.cpu_threads << " threads)";
  if (run.ranks > 1) {
    line << ", " << run.ranks << " ranks (" << run.communicator << ") of batch " << run.rank_batch << ", "
         << run.gradient_buckets << " gradient bucket(s)";
  }
  return line.str();
}

void SetPace(StepReport& report, double interval_seconds, int64_t interval_steps, int64_t samples_per_step,
             double elapsed_seconds, int64_t steps_run) {
  const double step_seconds = interval_seconds / static_cast<double>(interval_steps);
  report.step_ms = 1000.0 * step_seconds;
  report.samples_per_second = static_cast<double>(samples_per_step) / step_seconds;
  report.eta_seconds = elapsed_seconds / static_cast<double>(steps_run) * static_cast<double>(report.total_steps - report.step);
}

std::string StepLine(const StepReport& report) {
  char buf[512];
  int width = static_cast<int>(std::to_string(report.total_steps).size());
  std::string line;
  std::snprintf(buf, sizeof buf, "step %*lld/%lld  loss %.4f", width, static_cast<long long>(report.step),
                static_cast<long long>(report.total_steps), report.train_loss);
  line += buf;
  for (const auto& [name, value] : report.eval) {
    std::snprintf(buf, sizeof buf, "  %s %.4f", name.c_str(), value);
    line += buf;
  }
  std::snprintf(buf, sizeof buf, "  lr %.2e  %.0f samples/s  %.2f ms/step  eta %lds", report.lr,
                report.samples_per_second, report.step_ms, std::lround(report.eta_seconds));
  return line + buf;
}

std::string EvaluationLine(int64_t step, const std::map<std::string, double>& metrics) {
  std::string line = "evaluated at step " + std::to_string(step) + ":";
  for (const auto& [name, value] : metrics) line += " " + name + " " + FormatNumber(value);
  return line;
}

std::string NoDecisionLine(int64_t step, double seconds) {
  std::ostringstream said;
  said << "no decision from the sweep's strategy for step " << step << " within " << seconds
       << " s (sweep.decision_timeout_seconds); training on without it, and waiting again only once an answer "
          "arrives (said once)";
  return said.str();
}

std::string DivergenceMessage(int64_t step, double loss, double grad_norm) {
  std::ostringstream why;
  why << "diverged at step " << step << ": "
      << (!std::isfinite(loss) ? "loss is " + FormatNumber(loss) : "gradient norm is " + FormatNumber(grad_norm))
      << " (lower optimizer.lr, or set train.grad_clip)";
  return why.str();
}

Progress::Progress(std::ostream* lines, int rank) : lines_(lines), rank_zero_(rank == 0) {}

Status Progress::OpenMetrics(const std::string& path, std::optional<int64_t> resumed_step) {
  if (!rank_zero_) return OkStatus();
  ASSIGN_OR_RETURN(MetricsLog log, MetricsLog::Open(path, resumed_step));
  metrics_ = std::make_unique<MetricsLog>(std::move(log));
  return OkStatus();
}

void Progress::OpenTensorBoard(const std::string& dir, const TensorBoardRun& run,
                               std::optional<int64_t> resumed_step, std::ostream* warnings) {
  if (!rank_zero_) return;
  const double now = WallTime();
  tensorboard_ = std::make_unique<TensorBoardLog>(
      TensorBoardLog::Start(TensorBoardWriter::Create(dir, now), run, resumed_step, now, warnings));
}

void Progress::EndTensorBoard(SessionStatus status) {
  if (tensorboard_) tensorboard_->End(status, WallTime());
}

void Progress::Say(const std::string& line) {
  if (lines_ && rank_zero_) *lines_ << line << std::endl;
}

void Progress::Record(int64_t step, const std::string& name, double value) {
  if (metrics_) metrics_->Record(step, name, value);
  if (tensorboard_) tensorboard_->Record(step, name, value, WallTime());
}

void Progress::Flush() {
  if (metrics_) metrics_->Flush();
  if (tensorboard_) tensorboard_->Flush();
}

void Progress::Report(const StepReport& report) {
  Record(report.step, "train_loss", report.train_loss);
  Record(report.step, "lr", report.lr);
  Record(report.step, "grad_norm", report.grad_norm);
  Record(report.step, "samples_per_second", report.samples_per_second);
  Record(report.step, "step_time_ms", report.step_ms);
  Flush();
  Say(StepLine(report));
}

}  // namespace orchard::train
