#include "cli/render.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "orchard/v1/state_names.h"

namespace orchard::cli {

std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

namespace {

int64_t Count(const v1::Sweep& sweep, const char* state) {
  auto it = sweep.trials_by_state().find(state);
  return it == sweep.trials_by_state().end() ? 0 : it->second;
}

int64_t Ended(const v1::Sweep& sweep) {
  return Count(sweep, "completed") + Count(sweep, "failed") + Count(sweep, "stopped") + Count(sweep, "canceled");
}

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

double Elapsed(const v1::Sweep& sweep, double now) {
  return (sweep.finished_at() > 0 ? sweep.finished_at() : now) - sweep.created_at();
}

}  // namespace

std::string FormatUtcTime(double unix_seconds) {
  using namespace std::chrono;
  const auto seconds = static_cast<int64_t>(std::floor(unix_seconds));
  const int64_t days = seconds / 86400 - (seconds % 86400 < 0 ? 1 : 0);
  const int64_t in_day = seconds - days * 86400;
  const year_month_day date{sys_days{std::chrono::days{days}}};
  char text[40];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u %02d:%02d UTC", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()), static_cast<int>(in_day / 3600),
                static_cast<int>(in_day % 3600 / 60));
  return text;
}

std::string FormatDuration(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  const auto total = static_cast<int64_t>(std::llround(seconds));
  char text[32];
  if (total >= 3600)
    std::snprintf(text, sizeof(text), "%lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                  static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  else
    std::snprintf(text, sizeof(text), "%lld:%02lld", static_cast<long long>(total / 60), static_cast<long long>(total % 60));
  return text;
}

std::string FormatValue(double value) {
  std::ostringstream out;
  out << std::setprecision(4) << value;
  return out.str();
}

std::string FormatHyperparameters(const v1::Trial& trial) {
  std::string text;
  for (const auto& h : trial.hyperparameters()) text += (text.empty() ? "" : " ") + h.path() + "=" + h.value();
  return text.empty() ? "-" : text;
}

std::string SweepsTable(const std::vector<v1::Sweep>& sweeps, double now) {
  std::vector<std::vector<std::string>> rows = {{"ID", "NAME", "STATE", "TRIALS", "DONE", "BEST", "ELAPSED"}};
  for (const v1::Sweep& s : sweeps) {
    std::string best = "-";
    if (s.has_best_trial())
      best = s.metric() + " " + FormatValue(s.best_trial().objective()) + " (trial " + std::to_string(s.best_trial().number()) + ")";
    rows.push_back({std::to_string(s.id()), s.name(), SweepStateName(s.state()), std::to_string(s.trials_total()),
                    std::to_string(Ended(s)), best, FormatDuration(Elapsed(s, now))});
  }
  return Table(rows);
}

// PBT hops as "parent@step", oldest first: "1@400 3@800" took over trial 1's checkpoint of step 400,
// later trial 3's of step 800.
std::string FormatLineage(const v1::Trial& trial) {
  std::string text;
  for (const auto& hop : trial.lineage())
    text += (text.empty() ? "" : " ") + std::to_string(hop.parent()) + "@" + std::to_string(hop.step());
  return text.empty() ? "-" : text;
}

std::string FormatMebibytes(int64_t bytes) {
  return std::to_string((bytes + (1 << 19)) >> 20) + " MiB";
}

namespace {

// Why it ended, or, while it waits for a worker that can hold it, why and for how long.
std::string TrialMessage(const v1::Trial& t, double now) {
  if (t.waiting_reason().empty()) return t.message();
  return "waiting " + FormatDuration(now - t.waiting_since()) + ": " + t.waiting_reason();
}

}  // namespace

std::string TrialsTable(const v1::Sweep& sweep, const std::vector<v1::Trial>& trials, double now) {
  // Adaptive strategies' columns appear only when some trial has something in them.
  const bool rungs = std::any_of(trials.begin(), trials.end(), [](const v1::Trial& t) { return t.rung() >= 0; });
  const bool decisions = std::any_of(trials.begin(), trials.end(), [](const v1::Trial& t) { return !t.decision().empty(); });
  const bool lineage = std::any_of(trials.begin(), trials.end(), [](const v1::Trial& t) { return t.lineage_size() > 0; });
  const bool gpus = std::any_of(trials.begin(), trials.end(), [](const v1::Trial& t) { return t.gpu_peak_memory_bytes() > 0; });
  std::vector<std::string> header = {"TRIAL", "ID", "STATE", sweep.metric(), "STEP"};
  if (rungs) header.push_back("RUNG");
  if (decisions) header.push_back("DECISION");
  if (lineage) header.push_back("LINEAGE");
  for (const char* column : {"WORKER", "ATTEMPTS", "TIME", "CPU", "MEMORY"}) header.push_back(column);
  if (gpus) header.push_back("GPU MEMORY, UTIL");
  for (const char* column : {"HYPERPARAMETERS", "MESSAGE"}) header.push_back(column);
  std::vector<std::vector<std::string>> rows = {header};
  for (const v1::Trial& t : trials) {
    const double started = t.started_at();
    const double time = started > 0 ? (t.finished_at() > 0 ? t.finished_at() : now) - started : 0;
    // Trial -1 is the registry champion's evaluation (types.proto).
    std::vector<std::string> row = {t.number() < 0 ? "champion" : std::to_string(t.number()), std::to_string(t.id()), TrialStateName(t.state()),
                                    t.has_objective() ? FormatValue(t.objective()) : "-", std::to_string(t.last_step())};
    if (rungs) row.push_back(t.rung() >= 0 ? std::to_string(t.rung()) : "-");
    if (decisions) row.push_back(t.decision().empty() ? "-" : t.decision());
    if (lineage) row.push_back(FormatLineage(t));
    for (std::string cell : {t.worker_id().empty() ? "-" : t.worker_id(),
                             std::to_string(t.attempts()) + (t.restarts() > 0 ? " (" + std::to_string(t.restarts()) + " restarts)" : ""),
                             started > 0 ? FormatDuration(time) : std::string("-"),
                             t.cpu_seconds() > 0 ? FormatDuration(t.cpu_seconds()) : std::string("-"),
                             t.peak_memory_bytes() > 0 ? FormatMebibytes(t.peak_memory_bytes()) : std::string("-")})
      row.push_back(std::move(cell));
    if (gpus)
      row.push_back(t.gpu_peak_memory_bytes() > 0 ? FormatMebibytes(t.gpu_peak_memory_bytes()) + ", " +
                                                        std::to_string(std::lround(t.gpu_utilization_percent())) + "%"
                                                  : "-");
    row.push_back(FormatHyperparameters(t));
    row.push_back(TrialMessage(t, now));
    rows.push_back(std::move(row));
  }
  return Table(rows);
}

std::string WorkersTable(const std::vector<v1::Worker>& workers, double now) {
  std::vector<std::vector<std::string>> rows = {{"ID", "HOST", "SLOTS", "KIND", "STATE", "RUNNING", "LAST HEARTBEAT"}};
  for (const v1::Worker& w : workers) {
    std::string kind = w.slot_kind();
    if (w.gpu_memory_bytes_size() > 0) {
      // Each GPU's memory, which trials that share GPUs are packed by.
      std::ostringstream memory;
      memory << " (";
      for (int g = 0; g < w.gpu_memory_bytes_size(); ++g)
        memory << (g > 0 ? "+" : "") << std::lround(static_cast<double>(w.gpu_memory_bytes(g)) / (1024.0 * 1024 * 1024));
      memory << " GiB)";
      kind += memory.str();
    }
    rows.push_back({w.id(), w.hostname(), std::to_string(w.slots()), kind, w.alive() ? "alive" : "lost",
                    std::to_string(w.running_attempts()), FormatDuration(now - w.last_heartbeat()) + " ago"});
  }
  return Table(rows);
}

double EstimateSecondsLeft(const v1::Sweep& sweep, double now) {
  const int64_t ended = Ended(sweep);
  if (sweep.state() != v1::SWEEP_RUNNING) return 0;
  if (ended == 0) return -1;
  return Elapsed(sweep, now) / static_cast<double>(ended) * static_cast<double>(sweep.trials_total() - ended);
}

std::string ProgressBlock(const v1::Sweep& sweep, const std::vector<std::string>& recent_events, double now) {
  std::ostringstream out;
  const double left = EstimateSecondsLeft(sweep, now);
  out << "sweep " << sweep.id() << " " << sweep.name() << "  " << SweepStateName(sweep.state()) << "  "
      << sweep.strategy() << " search, " << sweep.metric() << " (" << sweep.mode() << ")  "
      << FormatDuration(Elapsed(sweep, now)) << " elapsed";
  if (sweep.state() == v1::SWEEP_RUNNING) out << (left >= 0 ? ", ~" + FormatDuration(left) + " left" : ", estimating");
  out << "\n";
  out << "trials " << Ended(sweep) << "/" << sweep.trials_total() << " ended:";
  for (const char* state : {"pending", "running", "paused", "completed", "failed", "stopped", "canceled"})
    if (Count(sweep, state) > 0 || std::string(state) == "running" || std::string(state) == "completed")
      out << "  " << state << " " << Count(sweep, state);
  out << "\n";
  if (!sweep.waiting().empty()) out << "waits  " << sweep.waiting() << "\n";
  if (sweep.slot_seconds() > 0)
    out << "cost   " << FormatDuration(sweep.slot_seconds()) << " slot time, " << FormatDuration(sweep.cpu_seconds())
        << " CPU (ended attempts)\n";
  if (sweep.has_best_trial()) {
    const v1::Trial& best = sweep.best_trial();
    out << "best   trial " << best.number() << ": " << sweep.metric() << " " << FormatValue(best.objective()) << "  "
        << FormatHyperparameters(best) << "\n";
  } else {
    out << "best   none yet\n";
  }
  for (const std::string& event : recent_events) out << "  " << event << "\n";
  return out.str();
}

std::string BestTrialText(const v1::Sweep& sweep, const v1::Trial& best) {
  std::ostringstream out;
  out << "best trial of sweep " << sweep.id() << " (" << sweep.name() << "): trial " << best.number() << " (id " << best.id()
      << "), " << sweep.metric() << " " << FormatValue(best.objective()) << " at step " << best.objective_step() << "\n";
  for (const auto& h : best.hyperparameters()) out << "  " << h.path() << ": " << h.value() << "\n";
  const std::string root = sweep.storage_root().empty() ? "" : sweep.storage_root() + "/";
  out << "  output: " << root << best.output_dir() << "\n";
  out << "  checkpoint: " << (best.checkpoint().empty() ? "none reported" : root + best.checkpoint()) << "\n";
  return out.str();
}

std::string TrialsCsv(const v1::Sweep& sweep, const std::vector<v1::Trial>& trials) {
  std::vector<std::string> paths;
  std::set<std::string> seen;
  for (const v1::Trial& t : trials)
    for (const auto& h : t.hyperparameters())
      if (seen.insert(h.path()).second) paths.push_back(h.path());
  std::string out = "trial_id,number,state," + CsvField(sweep.metric()) + ",objective_step,last_step";
  for (const std::string& p : paths) out += "," + CsvField(p);
  out += ",rung,decision,lineage,checkpoint,message\n";
  for (const v1::Trial& t : trials) {
    std::map<std::string, std::string> values;
    for (const auto& h : t.hyperparameters()) values[h.path()] = h.value();
    std::ostringstream objective;
    if (t.has_objective()) objective << std::setprecision(17) << t.objective();
    out += std::to_string(t.id()) + "," + std::to_string(t.number()) + "," + TrialStateName(t.state()) + "," +
           objective.str() + "," + (t.has_objective() ? std::to_string(t.objective_step()) : "") + "," +
           std::to_string(t.last_step());
    for (const std::string& p : paths) out += "," + CsvField(values.count(p) ? values[p] : "");
    out += "," + (t.rung() >= 0 ? std::to_string(t.rung()) : "") + "," + CsvField(t.decision()) + "," +
           (t.lineage_size() > 0 ? CsvField(FormatLineage(t)) : "") + "," + CsvField(t.checkpoint()) + "," + CsvField(t.message()) + "\n";
  }
  return out;
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

void PrintJson(const google::protobuf::Message& message, std::ostream& out) { out << ToJson(message) << "\n"; }

std::string TrialsJson(const v1::Sweep& sweep, const std::vector<v1::Trial>& trials,
                       const std::vector<v1::GetTrialMetricsResponse>& metrics) {
  nlohmann::json document = {{"sweep", nlohmann::json::parse(ToJson(sweep))}, {"trials", nlohmann::json::array()}};
  for (size_t i = 0; i < trials.size(); ++i) {
    nlohmann::json entry = nlohmann::json::parse(ToJson(trials[i]));
    if (!metrics.empty()) entry["metrics"] = nlohmann::json::parse(ToJson(metrics[i]))["points"];
    document["trials"].push_back(std::move(entry));
  }
  return document.dump(2) + "\n";
}

void PrintSubmitted(const v1::Sweep& sweep, bool waiting, bool json, std::ostream& out) {
  if (json) {
    if (!waiting) PrintJson(sweep, out);
    return;
  }
  // Flushed: a script reading this line waits on what comes next (the sweep's end with --wait).
  out << "submitted sweep " << sweep.id() << " (" << sweep.name() << "): " << sweep.trials_total() << " trials, "
      << sweep.strategy() << " search on " << sweep.metric() << " (" << sweep.mode() << ")\n"
      << (waiting ? "waiting for it to end" : "follow it with: orchard watch " + std::to_string(sweep.id())) << std::endl;
}

void PrintRunStarted(const v1::Sweep& sweep, bool resumed, const std::string& state_dir, bool json, std::ostream& out) {
  if (json) return;
  out << "orchard run: " << (resumed ? "resuming unfinished sweep " : "sweep ") << sweep.id() << " (" << sweep.name()
      << "), " << sweep.trials_total() << " trials; state in " << state_dir << ", trial output in "
      << sweep.storage_root() << "\n";
}

void PrintSweepEvent(const v1::SweepEvent& event, std::ostream& out) {
  out << "[" << FormatDuration(event.time() - event.sweep().created_at()) << "] " << event.message() << "\n";
}

void PrintSweepEnd(const v1::Sweep& sweep, bool with_progress, double now, bool json, std::ostream& out) {
  if (json) return PrintJson(sweep, out);
  if (with_progress) out << ProgressBlock(sweep, {}, now);
  if (sweep.has_best_trial())
    out << "\n" << BestTrialText(sweep, sweep.best_trial());
  else
    out << "\nno trial completed; `orchard trials " << sweep.id() << "` shows why, `orchard logs TRIAL` the logs\n";
}

void PrintSweepStatus(const v1::Sweep& sweep, double now, bool json, std::ostream& out) {
  if (json) return PrintJson(sweep, out);
  out << ProgressBlock(sweep, {}, now);
}

void PrintSweeps(const v1::ListSweepsResponse& response, double now, bool json, std::ostream& out) {
  if (json) return PrintJson(response, out);
  out << SweepsTable({response.sweeps().begin(), response.sweeps().end()}, now);
}

void PrintTrials(const v1::ListTrialsResponse& trials, const v1::Sweep& sweep, double now, bool json, std::ostream& out) {
  if (json) return PrintJson(trials, out);
  out << TrialsTable(sweep, {trials.trials().begin(), trials.trials().end()}, now);
}

void PrintTrialLog(const v1::GetTrialLogResponse& log, bool json, std::ostream& out) {
  if (json) return PrintJson(log, out);
  if (log.truncated()) out << "... (the start of " << log.path() << " is cut; use --tail to see more)\n";
  out << log.text();
}

void PrintCanceled(const v1::Sweep& sweep, bool json, std::ostream& out) {
  if (json) return PrintJson(sweep, out);
  out << "sweep " << sweep.id() << " is " << SweepStateName(sweep.state());
  if (const int64_t running = Count(sweep, "running"); running > 0)
    out << "; " << running << " running trials checkpoint and stop";
  out << "\n";
}

void PrintBestTrial(const v1::Trial& best, const v1::Sweep& sweep, bool json, std::ostream& out) {
  if (json) return PrintJson(best, out);
  out << BestTrialText(sweep, best);
}

void PrintWorkers(const v1::ListWorkersResponse& response, double now, bool json, std::ostream& out) {
  if (json) return PrintJson(response, out);
  out << WorkersTable({response.workers().begin(), response.workers().end()}, now);
}

void PrintMetrics(const v1::GetTrialMetricsResponse& response, bool json, std::ostream& out) {
  if (json) return PrintJson(response, out);
  out << "step,name,value\n";
  for (const auto& p : response.points()) out << p.step() << "," << p.name() << "," << FormatValue(p.value()) << "\n";
}

}  // namespace orchard::cli
