// The orchard commands. Each returns the process exit code (kExit*), printing results on
// GlobalOptions::out and errors on GlobalOptions::err.
#pragma once

#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "client/connection.h"
#include "worker/agent/agent.h"

namespace orchard::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitSweepFailed = 1;   // the sweep ended without a completed trial, or was canceled
inline constexpr int kExitBadInput = 2;      // bad flags or recipe, invalid request
inline constexpr int kExitUnreachable = 3;   // no coordinator at the address
inline constexpr int kExitNotFound = 4;      // no such sweep, trial or model, or no best trial yet
inline constexpr int kExitError = 5;         // any other error from the coordinator
inline constexpr int kExitDenied = 6;        // no valid token, or not allowed (another user's sweep, a path outside the roots)
inline constexpr int kExitNotReproduced = 7; // orchard reproduce: the re-run's final parameters differ
inline constexpr int kExitInterrupted = 130; // Ctrl-C

struct GlobalOptions {
  std::string coordinator = "127.0.0.1:7070";
  bool json = false;
  client::ClientSecurity security;  // TLS and the user's token (docs/security.md)
  // Where results and errors go (borrowed): stdout and stderr unless a test passes its own.
  std::ostream* out = &std::cout;
  std::ostream* err = &std::cerr;
};

struct SubmitOptions {
  std::string recipe;
  std::vector<std::string> overrides;
  std::string name;
  std::string model;            // the registry model whose champion the best trial challenges
  double promotion_margin = 0;  // how much better than the champion it must be
};

// What `orchard submit` does once the sweep is in: return at once, follow it live (--watch), or
// wait quietly for its end (--wait, for scripts and system schedulers).
enum class AfterSubmit { kReturn, kWatch, kWait };

struct ScheduleAddOptions {
  std::string name;
  std::string cron;
  std::string time_zone;  // empty: UTC
  std::string recipe;     // the file; its text is stored with the schedule
  std::vector<std::string> overrides;
  std::string overlap = "skip";
  std::string model;
  double margin = 0;
  bool skip_if_data_unchanged = false;
};

struct RunOptions {
  SubmitOptions submit;
  std::string state_dir = ".orchard";
  int64_t cpu_slots = 0;
  bool warm_start = true;
  std::string http = "127.0.0.1:0";  // the dashboard's address; empty: none
  std::function<void(worker::AgentOptions&)> configure_agent;  // e.g. mpirun mode's ranks as slots
};

// With kWait: kExitOk only when the sweep completed, kExitSweepFailed when it failed or was
// canceled; a coordinator that is unreachable for a while (a restart) is waited for.
int Submit(const GlobalOptions& global, const SubmitOptions& options, AfterSubmit after);
int Run(const GlobalOptions& global, const RunOptions& options);
// `orchard ui`: serves the dashboard over a state directory, changing nothing, until Ctrl-C.
int Ui(const GlobalOptions& global, const std::string& state_dir, const std::string& http);
// `orchard report`: the sweep page as one self-contained HTML file, from the coordinator or, with
// a state directory, from its database directly.
int Report(const GlobalOptions& global, int64_t sweep_id, const std::string& output, const std::string& state_dir);
int ShowStatus(const GlobalOptions& global, int64_t sweep_id);
int Sweeps(const GlobalOptions& global, int64_t limit);
int Trials(const GlobalOptions& global, int64_t sweep_id);
int Watch(const GlobalOptions& global, int64_t sweep_id);
int Logs(const GlobalOptions& global, int64_t trial_id, int64_t attempt, int64_t tail_bytes);
int Cancel(const GlobalOptions& global, int64_t sweep_id);
int Best(const GlobalOptions& global, int64_t sweep_id);
int Export(const GlobalOptions& global, int64_t sweep_id, const std::string& format, bool with_metrics,
           const std::string& output);
int Workers(const GlobalOptions& global);
int Metrics(const GlobalOptions& global, int64_t trial_id, const std::string& name);

// `orchard schedule ...` (docs/schedules.md).
int ScheduleAdd(const GlobalOptions& global, const ScheduleAddOptions& options);
int ScheduleList(const GlobalOptions& global);
int ScheduleShow(const GlobalOptions& global, const std::string& name, int64_t runs);
int SchedulePause(const GlobalOptions& global, const std::string& name);
int ScheduleResume(const GlobalOptions& global, const std::string& name);
int ScheduleRemove(const GlobalOptions& global, const std::string& name);
// kExitSweepFailed when the run was recorded as failed (its data is missing, say).
int ScheduleRunNow(const GlobalOptions& global, const std::string& name);
// The model registry (docs/registry.md).
int Models(const GlobalOptions& global);
int ShowModel(const GlobalOptions& global, const std::string& name);
int PromoteTrial(const GlobalOptions& global, const std::string& name, int64_t trial_id);
int RollbackModel(const GlobalOptions& global, const std::string& name);
// Writes DIR/model.pt (TorchScript, by orchard-train export) and DIR/recipe.yaml for a version
// (0: the champion); the registry's files must be readable here (the storage root mounted).
int ExportModel(const GlobalOptions& global, const std::string& name, int64_t version, const std::string& out_dir);

// `orchard lineage TRIAL | MODEL[:vN]` (docs/lineage.md): the chain from a model version to its
// sweep, trial and each attempt's provenance.
int Lineage(const GlobalOptions& global, const std::string& target);
// `orchard reproduce TRIAL`: trains the trial again here from its resolved recipe into `out_dir`
// (empty: runs/reproduce-trial-<id>) and compares; kExitOk only when the final parameters are the
// same bit for bit, kExitNotReproduced when they differ.
int Reproduce(const GlobalOptions& global, int64_t trial_id, const std::string& out_dir);

}  // namespace orchard::cli
