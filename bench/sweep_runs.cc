#include "bench/sweep_runs.h"

#include <stdlib.h>

#include <cstdio>
#include <stdexcept>

#include "coordinator/store/sqlite.h"
#include "core/file_tree.h"

namespace orchard::bench {

namespace fs = std::filesystem;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

std::string Quote(const std::string& word) {
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string Capture(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) out.append(buffer, n);
  if (pclose(pipe) != 0) throw std::runtime_error("failed: " + command);
  return out;
}

fs::path MakeTempDir(const std::string& prefix) {
  std::string pattern = (fs::temp_directory_path() / (prefix + "XXXXXX")).string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a directory like " + pattern);
  return pattern;
}

void Bench(const std::string& name, double ours, double peer, const std::string& unit, double ratio) {
  std::printf("BENCH %s ours=%.6g peer=%.6g unit=%s ratio=%.3f\n", name.c_str(), ours, peer, unit.c_str(), ratio);
  std::fflush(stdout);
}

namespace {

SweepFigures ReadFigures(const fs::path& db_path) {
  auto db = coordinator::Database::Open(db_path.string());
  if (!db.ok()) throw std::runtime_error("cannot open " + db_path.string() + ": " + db.status().message());
  SweepFigures f;
  // Each query's rows, or the reason it failed.
  const auto read = [&](const std::string& sql, auto&& row) {
    auto statement = (*db)->Prepare(sql);
    const Status status = statement.ForEachRow([&] { row(statement); });
    if (!status.ok()) throw std::runtime_error(db_path.string() + ": " + status.message());
  };
  read("SELECT state FROM sweeps ORDER BY id DESC LIMIT 1", [&](auto& r) { f.state = r.Text(0); });
  read("SELECT state, COUNT(*) FROM trials GROUP BY state", [&](auto& r) { f.trials_by_state[r.Text(0)] = r.Int(1); });
  read("SELECT COALESCE(SUM(last_step), 0), COALESCE(MAX(objective), 0) FROM trials",
       [&](auto& r) { f.steps = r.Int(0), f.best_final = r.Double(1); });
  read("SELECT COALESCE(MAX(value), 0) FROM metrics WHERE name = 'val_accuracy'", [&](auto& r) { f.best = r.Double(0); });
  // A fused group's attempts share its first member's attempt id; an attempt alone has none.
  read("SELECT COUNT(*) FROM attempts GROUP BY CASE WHEN fused_group = 0 THEN -id ELSE fused_group END",
       [&](auto& r) { ++f.trainers_by_members[r.Int(0)]; });
  return f;
}

}  // namespace

SweepFigures RunLocalSweep(const std::string& orchard, const std::string& recipe, const std::vector<std::string>& sets,
                           int slots, const std::string& prefix, bool keep_state) {
  const fs::path state = MakeTempDir(prefix);
  std::string command = Quote(orchard) + " run " + Quote(recipe);
  for (const std::string& set : sets) command += " --set " + Quote(set);
  command += " --state-dir " + Quote(state.string()) + " --cpu-slots " + std::to_string(slots) + " --http off";
  std::printf("$ %s\n", command.c_str());
  std::fflush(stdout);
  const auto start = Clock::now();
  const int code = std::system((command + " > " + Quote((state / "run.log").string()) + " 2>&1").c_str());
  const double seconds = Seconds(start);
  if (code != 0) {
    std::printf("orchard run exited with status %d; its output:\n%s\n", code,
                Capture("cat " + Quote((state / "run.log").string())).c_str());
    throw std::runtime_error("the sweep failed (state kept in " + state.string() + ")");
  }
  SweepFigures f = ReadFigures(state / "orchard.db");
  f.seconds = seconds;
  if (keep_state) {
    std::printf("state kept in %s\n", state.string().c_str());
  } else {
    RemoveTree(state);
  }
  return f;
}

std::string Trainers(const SweepFigures& f) {
  std::string text;
  for (auto it = f.trainers_by_members.rbegin(); it != f.trainers_by_members.rend(); ++it)
    text += (text.empty() ? "" : " ") + std::to_string(it->second) + "x" + std::to_string(it->first);
  return text;
}

std::string TrialStates(const SweepFigures& f) {
  std::string text;
  for (const auto& [state, count] : f.trials_by_state) text += (text.empty() ? "" : " ") + state + "=" + std::to_string(count);
  return text;
}

}  // namespace orchard::bench
