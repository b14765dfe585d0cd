// orchard: the command line for sweeps.
//
//   orchard run recipes/quickstart.yaml            everything on this machine
//   orchard submit recipes/digits.yaml --watch     to a running coordinator
//   orchard best 3
//   orchard schedule add nightly --cron "0 2 * * *" --tz Europe/Berlin --recipe nightly.yaml
//   orchard submit recipes/digits.yaml --model digits --margin 0.005   a challenger to the registry's champion
//   orchard models show digits
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  using namespace orchard::cli;
  CLI::App app{"orchard: run hyperparameter sweeps of LibTorch training recipes on a coordinator and its workers."};
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok; 1 the sweep ended without a completed trial (or was canceled), or a run-now run failed;\n"
      "2 bad flags, recipe or request; 3 no coordinator at the address; 4 no such sweep, trial, schedule or model (or\n"
      "no best trial yet); 5 other coordinator error; 6 no valid token, or not allowed; 130 interrupted.");
  GlobalOptions global;
  app.add_option("--coordinator", global.coordinator, "Coordinator HOST:PORT")
      ->envname("ORCHARD_COORDINATOR")->capture_default_str();
  app.add_flag("--json", global.json, "Print results as JSON (for scripts)");
  orchard::client::ClientSecurityFlags security_flags;
  orchard::client::AddClientSecurityFlags(app, security_flags);

  SubmitOptions submit;
  bool submit_watch = false, submit_wait = false;
  auto* submit_cmd = app.add_subcommand("submit", "Submit a recipe's sweep to the coordinator");
  submit_cmd->add_option("recipe", submit.recipe, "Recipe YAML file")->required();
  submit_cmd->add_option("--set", submit.overrides, "Override a recipe field, e.g. --set train.steps=200 (repeatable)");
  submit_cmd->add_option("--name", submit.name, "Sweep name (default: the recipe's name)");
  auto* watch_flag = submit_cmd->add_flag("--watch", submit_watch, "Follow the sweep until it ends");
  submit_cmd->add_flag("--wait", submit_wait,
                       "Wait quietly until the sweep ends (through coordinator restarts of up to 10 minutes); exit 0 "
                       "only if it completed, 1 if it failed or was canceled: for cron jobs and systemd timers")
      ->excludes(watch_flag);
  // The registry model whose champion a sweep's best trial challenges (docs/registry.md).
  auto add_model_flags = [](CLI::App* cmd, SubmitOptions& options) {
    cmd->add_option("--model", options.model,
                    "Registry model to challenge: its champion is evaluated on this sweep's data and the best trial "
                    "replaces it only if better (created, with the best trial as v1, when new)");
    cmd->add_option("--margin", options.promotion_margin,
                    "How much better than the champion, in the sweep's metric, the best trial must be (with --model)")
        ->check(CLI::NonNegativeNumber);
  };
  add_model_flags(submit_cmd, submit);

  RunOptions run;
  std::string trainer_start = "warm";
  auto* run_cmd = app.add_subcommand("run", "Run a recipe's sweep on this machine: embedded coordinator and local worker");
  run_cmd->add_option("recipe", run.submit.recipe, "Recipe YAML file")->required();
  run_cmd->add_option("--set", run.submit.overrides, "Override a recipe field (repeatable)");
  run_cmd->add_option("--name", run.submit.name, "Sweep name (default: the recipe's name)");
  add_model_flags(run_cmd, run.submit);
  run_cmd->add_option("--state-dir", run.state_dir, "Where the SQLite state and trial output go")->capture_default_str();
  run_cmd->add_option("--cpu-slots", run.cpu_slots, "Trials at once on CPU (0: one per two cores)")->check(CLI::NonNegativeNumber);
  run_cmd->add_option("--http", run.http, "Where the dashboard listens while the sweep runs (\"off\": nowhere)")
      ->capture_default_str();
  run_cmd->add_option("--trainer-start", trainer_start, "warm (LibTorch loaded once) or cold (a process per trial)")
      ->check(CLI::IsMember({"warm", "cold"}))->capture_default_str();

  int64_t sweep_id = 0, trial_id = 0;
  auto add_sweep = [&](CLI::App* cmd) { cmd->add_option("sweep", sweep_id, "Sweep id")->required()->check(CLI::PositiveNumber); };
  auto add_trial = [&](CLI::App* cmd) { cmd->add_option("trial", trial_id, "Trial id (the ID column of orchard trials)")->required()->check(CLI::PositiveNumber); };

  auto* status_cmd = app.add_subcommand("status", "A sweep's progress: trials by state, best so far, time left");
  add_sweep(status_cmd);
  int64_t limit = 20;
  auto* sweeps_cmd = app.add_subcommand("sweeps", "List sweeps, newest first");
  sweeps_cmd->add_option("--limit", limit, "How many, newest first (at most 10,000)")->capture_default_str()->check(CLI::PositiveNumber);
  auto* trials_cmd = app.add_subcommand("trials", "A sweep's trials: state, metric, hyperparameters");
  add_sweep(trials_cmd);
  auto* watch_cmd = app.add_subcommand("watch", "Follow a sweep live until it ends (Ctrl-C stops watching only)");
  add_sweep(watch_cmd);
  int64_t attempt = 0, tail = 0;
  auto* logs_cmd = app.add_subcommand("logs", "A trial's log (stdout and stderr of its trainer)");
  add_trial(logs_cmd);
  logs_cmd->add_option("--attempt", attempt, "Attempt number (default: the latest)")->check(CLI::NonNegativeNumber);
  logs_cmd->add_option("--tail", tail, "Bytes from the end (default: 1 MiB)")->check(CLI::NonNegativeNumber);
  auto* cancel_cmd = app.add_subcommand("cancel", "Cancel a sweep: pending trials never start, running ones checkpoint and stop");
  add_sweep(cancel_cmd);
  auto* best_cmd = app.add_subcommand("best", "The best trial: metric, hyperparameters, checkpoint");
  add_sweep(best_cmd);
  std::string format = "csv", output;
  bool with_metrics = false;
  auto* export_cmd = app.add_subcommand("export", "Export a sweep's trials as CSV or JSON");
  add_sweep(export_cmd);
  export_cmd->add_option("--format", format, "csv or json")->check(CLI::IsMember({"csv", "json"}))->capture_default_str();
  export_cmd->add_flag("--metrics", with_metrics, "Include every trial's metric series (json only)");
  export_cmd->add_option("-o,--output", output, "File to write (default: stdout)");
  std::string metric_name;
  auto* metrics_cmd = app.add_subcommand("metrics", "A trial's metric series as CSV");
  add_trial(metrics_cmd);
  metrics_cmd->add_option("--name", metric_name, "Only this metric (e.g. val_loss)");
  auto* workers_cmd = app.add_subcommand("workers", "Workers known to the coordinator");
  std::string lineage_target, reproduce_dir;
  auto* lineage_cmd = app.add_subcommand(
      "lineage", "What trained a trial or model version: sweep, attempts, recipe hash, data fingerprints, code, libraries");
  lineage_cmd->add_option("target", lineage_target, "A trial id (the ID column of orchard trials), or MODEL[:vN] (default: its champion)")
      ->required();
  auto* reproduce_cmd = app.add_subcommand(
      "reproduce", "Train a completed trial again here and check its final parameters match bit for bit (exit 0 only then)");
  add_trial(reproduce_cmd);
  reproduce_cmd->add_option("--out", reproduce_dir, "A new directory for the re-run (default: runs/reproduce-trial-<id>)");

  auto* schedule_cmd = app.add_subcommand(
      "schedule", "Schedules: a cron expression in a time zone that submits a stored recipe (docs/schedules.md)");
  schedule_cmd->require_subcommand(1);
  ScheduleAddOptions schedule_add;
  auto* schedule_add_cmd = schedule_cmd->add_subcommand(
      "add", "Add a schedule, or a new version of it when anything changed; the recipe's text is stored with it");
  schedule_add_cmd->add_option("name", schedule_add.name, "Schedule name")->required();
  schedule_add_cmd->add_option("--cron", schedule_add.cron, "Five cron fields or a macro, e.g. \"0 2 * * *\", @daily")
      ->required();
  schedule_add_cmd->add_option("--tz", schedule_add.time_zone, "IANA time zone of the cron, e.g. Europe/Berlin (default: UTC)");
  schedule_add_cmd->add_option("--recipe", schedule_add.recipe,
                               "Recipe YAML file; may use ${date}, ${time}, ${datetime}, ${schedule}, ${run}")
      ->required();
  schedule_add_cmd->add_option("--set", schedule_add.overrides, "Override a recipe field (repeatable)");
  schedule_add_cmd->add_option("--overlap", schedule_add.overlap,
                               "When the previous run is still going: skip this one, allow both, or replace (cancel) it")
      ->check(CLI::IsMember({"skip", "allow", "replace"}))->capture_default_str();
  auto* model_option = schedule_add_cmd->add_option(
      "--model", schedule_add.model, "Registry model each run's best trial challenges");
  schedule_add_cmd->add_option("--margin", schedule_add.margin,
                               "How much better on the sweep's metric a challenger must be to be promoted")
      ->needs(model_option)->check(CLI::NonNegativeNumber);
  schedule_add_cmd->add_flag("--skip-if-data-unchanged", schedule_add.skip_if_data_unchanged,
                             "Skip a cron firing when the recipe's data files have the same SHA-256 as the last "
                             "completed run's (run-now always runs)");
  std::string schedule_name;
  auto add_schedule_name = [&](CLI::App* cmd) { cmd->add_option("name", schedule_name, "Schedule name")->required(); };
  auto* schedule_list_cmd = schedule_cmd->add_subcommand("list", "Schedules with their next firing and last run");
  int64_t schedule_runs = 0;
  auto* schedule_show_cmd = schedule_cmd->add_subcommand(
      "show", "A schedule: settings, next firing (its zone and UTC), versions, recent runs with their sweeps");
  add_schedule_name(schedule_show_cmd);
  schedule_show_cmd->add_option("--runs", schedule_runs, "How many recent runs (default: 20)")->check(CLI::PositiveNumber);
  auto* schedule_pause_cmd = schedule_cmd->add_subcommand("pause", "Stop firing (passed slots are not caught up)");
  add_schedule_name(schedule_pause_cmd);
  auto* schedule_resume_cmd = schedule_cmd->add_subcommand("resume", "Fire again from the next slot");
  add_schedule_name(schedule_resume_cmd);
  auto* schedule_remove_cmd = schedule_cmd->add_subcommand("remove", "Remove a schedule (its sweeps are kept)");
  add_schedule_name(schedule_remove_cmd);
  auto* schedule_run_now_cmd = schedule_cmd->add_subcommand(
      "run-now", "Fire a run now, whatever the cron (refused while the previous run goes on under --overlap skip)");
  add_schedule_name(schedule_run_now_cmd);
  auto* models_cmd = app.add_subcommand("models", "The model registry: versions, champions, promotions, export");
  models_cmd->require_subcommand(1);
  std::string model_name, export_dir;
  int64_t model_version = 0;
  auto add_model = [&](CLI::App* cmd) { cmd->add_option("name", model_name, "Model name")->required(); };
  auto* models_list_cmd = models_cmd->add_subcommand("list", "Models with their champion and latest decision");
  auto* models_show_cmd = models_cmd->add_subcommand("show", "A model's versions (champion marked *) and every decision with both figures");
  add_model(models_show_cmd);
  auto* models_promote_cmd = models_cmd->add_subcommand("promote", "Make a trial's latest checkpoint a new version and the champion");
  add_model(models_promote_cmd);
  add_trial(models_promote_cmd);
  auto* models_rollback_cmd = models_cmd->add_subcommand("rollback", "Make the champion the one the current champion replaced");
  add_model(models_rollback_cmd);
  auto* models_export_cmd = models_cmd->add_subcommand("export", "Write a version as TorchScript (model.pt) with its recipe.yaml");
  add_model(models_export_cmd);
  models_export_cmd->add_option("--version", model_version, "Version (default: the champion)")->check(CLI::PositiveNumber);
  models_export_cmd->add_option("-o,--output", export_dir, "Directory to write model.pt and recipe.yaml into")->required();

  std::string ui_state_dir = ".orchard", ui_http = "127.0.0.1:7071";
  auto* ui_cmd = app.add_subcommand("ui", "Serve the dashboard over a state directory (e.g. a finished orchard run's), running nothing");
  ui_cmd->add_option("--state-dir", ui_state_dir, "The state directory (orchard.db)")->capture_default_str();
  ui_cmd->add_option("--http", ui_http, "HOST:PORT to serve on, loopback only (port 0: any free port)")->capture_default_str();
  std::string report_output, report_state_dir;
  auto* report_cmd = app.add_subcommand("report", "Write a sweep's dashboard page as one self-contained HTML file");
  add_sweep(report_cmd);
  report_cmd->add_option("-o,--output", report_output, "The HTML file to write")->required();
  report_cmd->add_option("--state-dir", report_state_dir,
                         "Read the sweep from this state directory instead of asking the coordinator");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitBadInput;
  }
  if (with_metrics && format != "json") {
    std::cerr << "orchard export: --metrics needs --format json\n";
    return kExitBadInput;
  }
  run.warm_start = trainer_start == "warm";
  auto security = orchard::client::LoadClientSecurity(security_flags);
  if (!security.ok()) {
    std::cerr << "orchard: " << security.status().message() << "\n";
    return kExitBadInput;
  }
  global.security = *std::move(security);

  if (*submit_cmd)
    return Submit(global, submit, submit_wait ? AfterSubmit::kWait : submit_watch ? AfterSubmit::kWatch : AfterSubmit::kReturn);
  if (*run_cmd) {
    if (run.http == "off") run.http.clear();
    return Run(global, run);
  }
  if (*ui_cmd) return Ui(global, ui_state_dir, ui_http);
  if (*report_cmd) return Report(global, sweep_id, report_output, report_state_dir);
  if (*status_cmd) return ShowStatus(global, sweep_id);
  if (*sweeps_cmd) return Sweeps(global, limit);
  if (*trials_cmd) return Trials(global, sweep_id);
  if (*watch_cmd) return Watch(global, sweep_id);
  if (*logs_cmd) return Logs(global, trial_id, attempt, tail);
  if (*cancel_cmd) return Cancel(global, sweep_id);
  if (*best_cmd) return Best(global, sweep_id);
  if (*export_cmd) return Export(global, sweep_id, format, with_metrics, output);
  if (*metrics_cmd) return Metrics(global, trial_id, metric_name);
  if (*workers_cmd) return Workers(global);
  if (*lineage_cmd) return Lineage(global, lineage_target);
  if (*reproduce_cmd) return Reproduce(global, trial_id, reproduce_dir);
  if (*schedule_add_cmd) return ScheduleAdd(global, schedule_add);
  if (*schedule_list_cmd) return ScheduleList(global);
  if (*schedule_show_cmd) return ScheduleShow(global, schedule_name, schedule_runs);
  if (*schedule_pause_cmd) return SchedulePause(global, schedule_name);
  if (*schedule_resume_cmd) return ScheduleResume(global, schedule_name);
  if (*schedule_remove_cmd) return ScheduleRemove(global, schedule_name);
  if (*schedule_run_now_cmd) return ScheduleRunNow(global, schedule_name);
  if (*models_list_cmd) return Models(global);
  if (*models_show_cmd) return ShowModel(global, model_name);
  if (*models_promote_cmd) return PromoteTrial(global, model_name, trial_id);
  if (*models_rollback_cmd) return RollbackModel(global, model_name);
  if (*models_export_cmd) return ExportModel(global, model_name, model_version, export_dir);
  return kExitBadInput;
}
