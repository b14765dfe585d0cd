#include "cli/render.h"

#include "orchard/v1/state_names.h"

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

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

std::string TrialsTable(const v1::Sweep& sweep, const std::vector<v1::Trial>& trials, double now) {
  std::vector<std::vector<std::string>> rows = {
      {"TRIAL", "ID", "STATE", sweep.metric(), "STEP", "WORKER", "ATTEMPTS", "TIME", "HYPERPARAMETERS", "MESSAGE"}};
  for (const v1::Trial& t : trials) {
    const double started = t.started_at();
    const double time = started > 0 ? (t.finished_at() > 0 ? t.finished_at() : now) - started : 0;
    // Trial -1 is the registry champion's evaluation (types.proto).
    rows.push_back({t.number() < 0 ? "champion" : std::to_string(t.number()), std::to_string(t.id()), TrialStateName(t.state()),
                    t.has_objective() ? FormatValue(t.objective()) : "-", std::to_string(t.last_step()),
                    t.worker_id().empty() ? "-" : t.worker_id(),
                    std::to_string(t.attempts()) + (t.restarts() > 0 ? " (" + std::to_string(t.restarts()) + " restarts)" : ""),
                    started > 0 ? FormatDuration(time) : "-",
                    FormatHyperparameters(t), t.message()});
  }
  return Table(rows);
}

std::string WorkersTable(const std::vector<v1::Worker>& workers, double now) {
  std::vector<std::vector<std::string>> rows = {{"ID", "HOST", "SLOTS", "KIND", "STATE", "RUNNING", "LAST HEARTBEAT"}};
  for (const v1::Worker& w : workers)
    rows.push_back({w.id(), w.hostname(), std::to_string(w.slots()), w.slot_kind(), w.alive() ? "alive" : "lost",
                    std::to_string(w.running_attempts()), FormatDuration(now - w.last_heartbeat()) + " ago"});
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
  for (const char* state : {"pending", "running", "completed", "failed", "stopped", "canceled"})
    if (Count(sweep, state) > 0 || std::string(state) == "running" || std::string(state) == "completed")
      out << "  " << state << " " << Count(sweep, state);
  out << "\n";
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
  out += ",checkpoint,message\n";
  for (const v1::Trial& t : trials) {
    std::map<std::string, std::string> values;
    for (const auto& h : t.hyperparameters()) values[h.path()] = h.value();
    std::ostringstream objective;
    if (t.has_objective()) objective << std::setprecision(17) << t.objective();
    out += std::to_string(t.id()) + "," + std::to_string(t.number()) + "," + TrialStateName(t.state()) + "," +
           objective.str() + "," + (t.has_objective() ? std::to_string(t.objective_step()) : "") + "," +
           std::to_string(t.last_step());
    for (const std::string& p : paths) out += "," + CsvField(values.count(p) ? values[p] : "");
    out += "," + CsvField(t.checkpoint()) + "," + CsvField(t.message()) + "\n";
  }
  return out;
}

}  // namespace orchard::cli
