#include "cli/commands.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/model_render.h"
#include "cli/render.h"
#include "orchard/v1/state_names.h"
#include "coordinator/server.h"
#include "core/recipe.h"
#include "orchard/v1/registry_service.grpc.pb.h"
#include "orchard/v1/schedule_service.grpc.pb.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "worker/agent/agent.h"
#include "worker/agent/trainer_binary.h"

namespace orchard::cli {
namespace {

std::atomic<bool> interrupted{false};
void OnInterrupt(int) { interrupted.store(true); }

double Now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

std::unique_ptr<v1::SweepService::Stub> Connect(const GlobalOptions& global) {
  return v1::SweepService::NewStub(client::CreateCoordinatorChannel(global.coordinator, global.security));
}

std::unique_ptr<grpc::ClientContext> Context(double seconds = 30) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  return context;
}

// Prints the error a person can act on and maps it to an exit code.
int Fail(const GlobalOptions& global, const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      std::cerr << "orchard: cannot reach a coordinator at " << global.coordinator << " (" << status.error_message()
                << ").\nStart one with `orchard-coordinator`, pass --coordinator HOST:PORT (or set ORCHARD_COORDINATOR), "
                   "or use `orchard run` to do everything on this machine.\n";
      return kExitUnreachable;
    case grpc::StatusCode::INVALID_ARGUMENT:
      std::cerr << "orchard: invalid request; nothing was changed:\n" << status.error_message() << "\n";
      return kExitBadInput;
    case grpc::StatusCode::NOT_FOUND:
      std::cerr << "orchard: " << status.error_message() << "\n";
      return kExitNotFound;
    case grpc::StatusCode::UNAUTHENTICATED:
      std::cerr << "orchard: the coordinator at " << global.coordinator << " did not accept our credentials: "
                << status.error_message() << "\n";
      return kExitDenied;
    case grpc::StatusCode::PERMISSION_DENIED:
      std::cerr << "orchard: not allowed: " << status.error_message() << "\n";
      return kExitDenied;
    case grpc::StatusCode::FAILED_PRECONDITION:
      std::cerr << "orchard: " << status.error_message() << "\n";
      return kExitError;
    default:
      std::cerr << "orchard: the coordinator answered " << status.error_code() << ": " << status.error_message() << "\n";
      return kExitError;
  }
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

StatusOr<v1::SubmitSweepRequest> ReadSubmission(const SubmitOptions& options) {
  std::ifstream in(options.recipe);
  if (!in) return NotFound(options.recipe + ": cannot read the recipe file");
  std::stringstream text;
  text << in.rdbuf();
  v1::SubmitSweepRequest request;
  request.set_recipe_yaml(text.str());
  std::error_code error;
  request.set_recipe_file(std::filesystem::absolute(options.recipe, error).lexically_normal().string());
  for (const std::string& o : options.overrides) request.add_overrides(o);
  request.set_name(options.name);
  request.set_model(options.model);
  request.set_promotion_margin(options.promotion_margin);
  // Check here too, so errors name the path as the user typed it and nothing is sent.
  auto recipe = ParseRecipe(text.str(), options.recipe, options.overrides);
  if (!recipe.ok()) return recipe.status();
  return request;
}

// One call of a CLI-facing service with a fresh deadline: kExitOk, or the failure printed (Fail)
// and its exit code.
template <typename Stub, typename Request, typename Response>
int Call(const GlobalOptions& global, Stub& stub,
         grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*), const Request& request,
         Response* response) {
  const grpc::Status status = (stub.*method)(Context().get(), request, response);
  return status.ok() ? kExitOk : Fail(global, status);
}

int PrintSweepEnd(const GlobalOptions& global, v1::SweepService::Stub& stub, const v1::Sweep& sweep) {
  if (global.json) {
    std::cout << ToJson(sweep) << "\n";
  } else if (sweep.has_best_trial()) {
    std::cout << "\n" << BestTrialText(sweep, sweep.best_trial());
  } else {
    std::cout << "\nno trial completed; `orchard trials " << sweep.id() << "` shows why, `orchard logs TRIAL` the logs\n";
  }
  return sweep.state() == v1::SWEEP_COMPLETED ? kExitOk : kExitSweepFailed;
}

// Follows a sweep until it ends, redrawing the progress block (or, off a terminal, printing each
// event). Ctrl-C cancels the sweep when `cancel_on_interrupt`, else only stops watching.
int Follow(const GlobalOptions& global, v1::SweepService::Stub& stub, int64_t sweep_id, bool cancel_on_interrupt) {
  const bool tty = isatty(STDOUT_FILENO) && !global.json;
  std::signal(SIGINT, OnInterrupt);
  std::deque<std::string> recent;
  v1::Sweep last;
  size_t drawn_lines = 0;
  std::mutex draw_mu;  // guards recent, last and drawn_lines: the reader and the ticker both draw
  auto redraw = [&] {
    const std::string block = ProgressBlock(last, {recent.begin(), recent.end()}, Now());
    if (drawn_lines > 0) std::cout << "\x1b[" << drawn_lines << "F\x1b[J";
    std::cout << block << std::flush;
    drawn_lines = static_cast<size_t>(std::count(block.begin(), block.end(), '\n'));
  };
  bool canceled = false;
  while (true) {
    grpc::ClientContext context;
    v1::WatchSweepRequest request;
    request.set_sweep_id(sweep_id);
    auto reader = stub.WatchSweep(&context, request);
    std::atomic<bool> done{false};
    // Runs beside the blocking Read: cancels the call on Ctrl-C so we can act on it, and on a terminal
    // redraws every second so elapsed and estimated time keep moving between events.
    std::thread interrupt_watch([&] {
      auto next_tick = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (!done.load() && !interrupted.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (!tty || std::chrono::steady_clock::now() < next_tick) continue;
        next_tick += std::chrono::seconds(1);
        std::lock_guard<std::mutex> lock(draw_mu);
        if (drawn_lines > 0) redraw();
      }
      if (interrupted.load()) context.TryCancel();
    });
    v1::SweepEvent event;
    while (reader->Read(&event)) {
      std::lock_guard<std::mutex> lock(draw_mu);
      last = event.sweep();
      if (!event.message().empty()) {
        recent.push_back(event.message());
        if (recent.size() > 5) recent.pop_front();
        if (!tty && !global.json) std::cout << "[" << FormatDuration(event.time() - last.created_at()) << "] " << event.message() << "\n";
      }
      if (tty) redraw();
    }
    done.store(true);
    interrupt_watch.join();
    const grpc::Status status = reader->Finish();
    if (interrupted.load()) {
      interrupted.store(false);
      if (!cancel_on_interrupt || canceled) {
        std::cerr << "orchard: stopped watching; sweep " << sweep_id << " goes on (orchard watch " << sweep_id << ")\n";
        return kExitInterrupted;
      }
      canceled = true;
      std::cerr << "\norchard: canceling sweep " << sweep_id << "; running trials checkpoint and stop (Ctrl-C again to leave now)\n";
      v1::CancelSweepRequest cancel;
      cancel.set_sweep_id(sweep_id);
      v1::Sweep ignored;
      (void)stub.CancelSweep(Context().get(), cancel, &ignored);
      continue;
    }
    if (!status.ok()) return Fail(global, status);
    break;
  }
  if (!global.json && !tty) std::cout << ProgressBlock(last, {}, Now());
  const int code = PrintSweepEnd(global, stub, last);
  return canceled ? kExitInterrupted : code;
}

// How long --wait keeps trying to reach a coordinator that went away (a restart takes seconds).
constexpr double kWaitForCoordinatorSeconds = 600;

// Polls the sweep until it has ended and its trials have stopped, printing only the outcome.
int WaitForEnd(const GlobalOptions& global, v1::SweepService::Stub& stub, int64_t sweep_id) {
  std::signal(SIGINT, OnInterrupt);
  v1::GetSweepRequest request;
  request.set_sweep_id(sweep_id);
  double unreachable_since = 0;
  while (true) {
    v1::Sweep sweep;
    const grpc::Status status = stub.GetSweep(Context(10).get(), request, &sweep);
    if (status.ok()) {
      unreachable_since = 0;
      if (sweep.state() != v1::SWEEP_RUNNING && sweep.trials_by_state().count("running") == 0) {
        if (!global.json) std::cout << ProgressBlock(sweep, {}, Now());
        return PrintSweepEnd(global, stub, sweep);
      }
    } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
               status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      if (unreachable_since == 0) {
        unreachable_since = Now();
        std::cerr << "orchard: lost the coordinator at " << global.coordinator << "; waiting for it to come back\n";
      } else if (Now() - unreachable_since > kWaitForCoordinatorSeconds) {
        return Fail(global, status);
      }
    } else {
      return Fail(global, status);
    }
    for (int i = 0; i < 20 && !interrupted.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (interrupted.load()) {
      std::cerr << "orchard: stopped waiting; sweep " << sweep_id << " goes on (orchard watch " << sweep_id << ")\n";
      return kExitInterrupted;
    }
  }
}

std::unique_ptr<v1::ScheduleService::Stub> ConnectSchedules(const GlobalOptions& global) {
  return v1::ScheduleService::NewStub(client::CreateCoordinatorChannel(global.coordinator, global.security));
}

}  // namespace

int Submit(const GlobalOptions& global, const SubmitOptions& options, AfterSubmit after) {
  auto request = ReadSubmission(options);
  if (!request.ok()) {
    std::cerr << "orchard: invalid recipe; nothing was submitted:\n" << request.status().message() << "\n";
    return request.status().code() == StatusCode::kNotFound ? kExitNotFound : kExitBadInput;
  }
  auto stub = Connect(global);
  v1::SubmitSweepResponse response;
  if (int code = Call(global, *stub, &v1::SweepService::Stub::SubmitSweep, *request, &response); code != kExitOk)
    return code;
  // With --wait --json the sweep's final state is the one JSON document printed.
  if (global.json && after != AfterSubmit::kWait) std::cout << ToJson(response.sweep()) << "\n";
  if (!global.json)
    std::cout << "submitted sweep " << response.sweep().id() << " (" << response.sweep().name() << "): "
              << response.sweep().trials_total() << " trials, " << response.sweep().strategy() << " search on "
              << response.sweep().metric() << " (" << response.sweep().mode() << ")\n"
              << (after == AfterSubmit::kWait ? "waiting for it to end" : "follow it with: orchard watch " +
                                                                              std::to_string(response.sweep().id()))
              << std::endl;
  switch (after) {
    case AfterSubmit::kReturn: return kExitOk;
    case AfterSubmit::kWatch: return Follow(global, *stub, response.sweep().id(), /*cancel_on_interrupt=*/false);
    case AfterSubmit::kWait: return WaitForEnd(global, *stub, response.sweep().id());
  }
  return kExitOk;
}

int Run(const GlobalOptions& global, const RunOptions& options) {
  auto request = ReadSubmission(options.submit);
  if (!request.ok()) {
    std::cerr << "orchard: invalid recipe; nothing was run:\n" << request.status().message() << "\n";
    return request.status().code() == StatusCode::kNotFound ? kExitNotFound : kExitBadInput;
  }
  coordinator::CoordinatorOptions coordinator_options;
  coordinator_options.state_dir = options.state_dir;
  auto server = coordinator::CoordinatorServer::Start("127.0.0.1:0", coordinator_options);
  if (!server.ok()) {
    std::cerr << "orchard: cannot start the embedded coordinator: " << server.status().message() << "\n";
    return kExitError;
  }
  worker::AgentOptions agent_options;
  agent_options.coordinator = (*server)->address();
  agent_options.trainer_binary = worker::DefaultTrainerBinary();
  agent_options.cpu_slots = options.cpu_slots;
  agent_options.warm_start = options.warm_start;
  agent_options.quiet = true;
  if (options.configure_agent) options.configure_agent(agent_options);
  // The local worker is all there is: a trial that needs more slots than it has would wait forever.
  if (!agent_options.slots) agent_options.slots = worker::DetectSlots(agent_options.cpu_slots, agent_options.force_cpu);
  if (const int64_t ranks = ParseRecipe(request->recipe_yaml(), options.submit.recipe, options.submit.overrides)->sweep.ranks;
      ranks > agent_options.slots->count) {
    std::cerr << "orchard: " << options.submit.recipe << ": sweep.ranks: each trial needs " << ranks << " slots, and this "
              << (options.configure_agent ? "mpirun world has " : "machine offers ") << agent_options.slots->count << " "
              << agent_options.slots->kind << " slots; nothing was run. Lower sweep.ranks, or "
              << (options.configure_agent ? "start mpirun with -np " + std::to_string(ranks) + " or more"
                                          : "offer more slots (--cpu-slots)") << "\n";
    (*server)->Shutdown();
    return kExitBadInput;
  }
  std::atomic<bool> stop_agent{false};
  worker::WorkerAgent agent(agent_options);
  Status agent_status;
  std::thread agent_thread([&] { agent_status = agent.Run(stop_agent); });

  GlobalOptions local = global;
  local.coordinator = (*server)->address();
  local.security = {};  // the embedded coordinator listens on loopback without TLS or tokens
  auto stub = Connect(local);
  // A rerun after a crash (a requeued batch job) finishes the sweep it left unfinished instead of
  // starting it again: its done trials stay done and the others resume from their checkpoints.
  v1::SubmitSweepResponse response;
  int code = kExitOk;
  auto unfinished = (*server)->coordinator().FindUnfinishedSweep(*request);
  if (!unfinished.ok()) {
    std::cerr << "orchard: cannot read the state in " << options.state_dir << ": " << unfinished.status().message() << "\n";
    code = kExitError;
  } else if (unfinished->has_value()) {
    *response.mutable_sweep() = **unfinished;
  } else {
    code = Call(local, *stub, &v1::SweepService::Stub::SubmitSweep, *request, &response);
  }
  if (code == kExitOk) {
    if (!global.json)
      std::cout << "orchard run: " << (unfinished->has_value() ? "resuming unfinished sweep " : "sweep ")
                << response.sweep().id() << " (" << response.sweep().name() << "), " << response.sweep().trials_total()
                << " trials; state in " << options.state_dir << ", trial output in " << response.sweep().storage_root()
                << "\n";
    code = Follow(local, *stub, response.sweep().id(), /*cancel_on_interrupt=*/true);
  }
  stop_agent.store(true);
  agent_thread.join();
  (*server)->Shutdown();
  if (!agent_status.ok()) std::cerr << "orchard: local worker: " << agent_status.message() << "\n";
  return code;
}

int ShowStatus(const GlobalOptions& global, int64_t sweep_id) {
  auto stub = Connect(global);
  v1::GetSweepRequest request;
  request.set_sweep_id(sweep_id);
  v1::Sweep sweep;
  if (int code = Call(global, *stub, &v1::SweepService::Stub::GetSweep, request, &sweep); code != kExitOk) return code;
  std::cout << (global.json ? ToJson(sweep) + "\n" : ProgressBlock(sweep, {}, Now()));
  return kExitOk;
}

int Sweeps(const GlobalOptions& global, int64_t limit) {
  auto stub = Connect(global);
  v1::ListSweepsRequest request;
  request.set_limit(limit);
  v1::ListSweepsResponse response;
  if (int code = Call(global, *stub, &v1::SweepService::Stub::ListSweeps, request, &response); code != kExitOk)
    return code;
  std::cout << (global.json ? ToJson(response) + "\n"
                            : SweepsTable({response.sweeps().begin(), response.sweeps().end()}, Now()));
  return kExitOk;
}

namespace {
int LoadSweepAndTrials(const GlobalOptions& global, v1::SweepService::Stub& stub, int64_t sweep_id, v1::Sweep* sweep,
                       v1::ListTrialsResponse* trials) {
  v1::GetSweepRequest get;
  get.set_sweep_id(sweep_id);
  if (int code = Call(global, stub, &v1::SweepService::Stub::GetSweep, get, sweep); code != kExitOk) return code;
  v1::ListTrialsRequest list;
  list.set_sweep_id(sweep_id);
  return Call(global, stub, &v1::SweepService::Stub::ListTrials, list, trials);
}
}  // namespace

int Trials(const GlobalOptions& global, int64_t sweep_id) {
  auto stub = Connect(global);
  v1::Sweep sweep;
  v1::ListTrialsResponse trials;
  if (int code = LoadSweepAndTrials(global, *stub, sweep_id, &sweep, &trials); code != kExitOk) return code;
  std::cout << (global.json ? ToJson(trials) + "\n" : TrialsTable(sweep, {trials.trials().begin(), trials.trials().end()}, Now()));
  return kExitOk;
}

int Watch(const GlobalOptions& global, int64_t sweep_id) {
  auto stub = Connect(global);
  return Follow(global, *stub, sweep_id, /*cancel_on_interrupt=*/false);
}

int Logs(const GlobalOptions& global, int64_t trial_id, int64_t attempt, int64_t tail_bytes) {
  auto stub = Connect(global);
  v1::GetTrialLogRequest request;
  request.set_trial_id(trial_id);
  request.set_attempt(attempt);
  request.set_tail_bytes(tail_bytes);
  v1::GetTrialLogResponse response;
  if (int code = Call(global, *stub, &v1::SweepService::Stub::GetTrialLog, request, &response); code != kExitOk)
    return code;
  if (global.json) {
    std::cout << ToJson(response) << "\n";
  } else {
    if (response.truncated()) std::cout << "... (the start of " << response.path() << " is cut; use --tail to see more)\n";
    std::cout << response.text();
  }
  return kExitOk;
}

int Cancel(const GlobalOptions& global, int64_t sweep_id) {
  auto stub = Connect(global);
  v1::CancelSweepRequest request;
  request.set_sweep_id(sweep_id);
  v1::Sweep sweep;
  if (int code = Call(global, *stub, &v1::SweepService::Stub::CancelSweep, request, &sweep); code != kExitOk)
    return code;
  if (global.json) std::cout << ToJson(sweep) << "\n";
  else {
    auto running = sweep.trials_by_state().find("running");
    std::cout << "sweep " << sweep_id << " is " << SweepStateName(sweep.state());
    if (running != sweep.trials_by_state().end() && running->second > 0)
      std::cout << "; " << running->second << " running trials checkpoint and stop";
    std::cout << "\n";
  }
  return kExitOk;
}

int Best(const GlobalOptions& global, int64_t sweep_id) {
  auto stub = Connect(global);
  v1::GetSweepRequest get;
  get.set_sweep_id(sweep_id);
  v1::Sweep sweep;
  if (int code = Call(global, *stub, &v1::SweepService::Stub::GetSweep, get, &sweep); code != kExitOk) return code;
  v1::GetBestTrialRequest request;
  request.set_sweep_id(sweep_id);
  v1::Trial best;
  if (int code = Call(global, *stub, &v1::SweepService::Stub::GetBestTrial, request, &best); code != kExitOk)
    return code;
  std::cout << (global.json ? ToJson(best) + "\n" : BestTrialText(sweep, best));
  return kExitOk;
}

int Export(const GlobalOptions& global, int64_t sweep_id, const std::string& format, bool with_metrics,
           const std::string& output) {
  auto stub = Connect(global);
  v1::Sweep sweep;
  v1::ListTrialsResponse trials;
  if (int code = LoadSweepAndTrials(global, *stub, sweep_id, &sweep, &trials); code != kExitOk) return code;
  std::string text;
  if (format == "csv") {
    text = TrialsCsv(sweep, {trials.trials().begin(), trials.trials().end()});
  } else {
    nlohmann::json document = {{"sweep", nlohmann::json::parse(ToJson(sweep))}, {"trials", nlohmann::json::array()}};
    for (const v1::Trial& trial : trials.trials()) {
      nlohmann::json entry = nlohmann::json::parse(ToJson(trial));
      if (with_metrics) {
        v1::GetTrialMetricsRequest request;
        request.set_trial_id(trial.id());
        v1::GetTrialMetricsResponse metrics;
        if (int code = Call(global, *stub, &v1::SweepService::Stub::GetTrialMetrics, request, &metrics); code != kExitOk)
          return code;
        entry["metrics"] = nlohmann::json::parse(ToJson(metrics))["points"];
      }
      document["trials"].push_back(std::move(entry));
    }
    text = document.dump(2) + "\n";
  }
  if (output.empty() || output == "-") {
    std::cout << text;
  } else {
    std::ofstream out(output);
    out << text;
    if (!out) {
      std::cerr << "orchard: cannot write " << output << "\n";
      return kExitBadInput;
    }
    std::cerr << "wrote " << trials.trials_size() << " trials to " << output << "\n";
  }
  return kExitOk;
}

int Workers(const GlobalOptions& global) {
  auto stub = Connect(global);
  v1::ListWorkersResponse response;
  if (int code = Call(global, *stub, &v1::SweepService::Stub::ListWorkers, v1::ListWorkersRequest(), &response);
      code != kExitOk)
    return code;
  std::cout << (global.json ? ToJson(response) + "\n" : WorkersTable({response.workers().begin(), response.workers().end()}, Now()));
  return kExitOk;
}

int Metrics(const GlobalOptions& global, int64_t trial_id, const std::string& name) {
  auto stub = Connect(global);
  v1::GetTrialMetricsRequest request;
  request.set_trial_id(trial_id);
  request.set_name(name);
  v1::GetTrialMetricsResponse response;
  if (int code = Call(global, *stub, &v1::SweepService::Stub::GetTrialMetrics, request, &response); code != kExitOk)
    return code;
  if (global.json) {
    std::cout << ToJson(response) << "\n";
  } else {
    std::cout << "step,name,value\n";
    for (const auto& p : response.points()) std::cout << p.step() << "," << p.name() << "," << FormatValue(p.value()) << "\n";
  }
  return kExitOk;
}

// ---- schedules ----

int ScheduleAdd(const GlobalOptions& global, const ScheduleAddOptions& options) {
  std::ifstream in(options.recipe);
  if (!in) {
    std::cerr << "orchard: " << options.recipe << ": cannot read the recipe file; nothing was added\n";
    return kExitNotFound;
  }
  std::stringstream text;
  text << in.rdbuf();
  v1::AddScheduleRequest request;
  request.set_name(options.name);
  request.set_cron(options.cron);
  request.set_time_zone(options.time_zone);
  request.set_recipe_yaml(text.str());
  std::error_code error;
  request.set_recipe_file(std::filesystem::absolute(options.recipe, error).lexically_normal().string());
  for (const std::string& o : options.overrides) request.add_overrides(o);
  request.set_overlap(options.overlap);
  request.set_model(options.model);
  request.set_promotion_margin(options.margin);
  auto stub = ConnectSchedules(global);
  v1::AddScheduleResponse response;
  if (int code = Call(global, *stub, &v1::ScheduleService::Stub::AddSchedule, request, &response); code != kExitOk)
    return code;
  std::cout << (global.json ? ToJson(response) + "\n" : AddedScheduleText(response));
  return kExitOk;
}

int ScheduleList(const GlobalOptions& global) {
  auto stub = ConnectSchedules(global);
  v1::ListSchedulesResponse response;
  if (int code = Call(global, *stub, &v1::ScheduleService::Stub::ListSchedules, v1::ListSchedulesRequest(), &response);
      code != kExitOk)
    return code;
  if (global.json) std::cout << ToJson(response) << "\n";
  else if (response.schedules().empty()) std::cout << "no schedules (orchard schedule add NAME --cron ... --recipe FILE)\n";
  else std::cout << SchedulesTable({response.schedules().begin(), response.schedules().end()});
  return kExitOk;
}

int ScheduleShow(const GlobalOptions& global, const std::string& name, int64_t runs) {
  auto stub = ConnectSchedules(global);
  v1::GetScheduleRequest request;
  request.set_name(name);
  request.set_runs_limit(runs);
  v1::ScheduleDetails details;
  if (int code = Call(global, *stub, &v1::ScheduleService::Stub::GetSchedule, request, &details); code != kExitOk)
    return code;
  std::cout << (global.json ? ToJson(details) + "\n" : ScheduleText(details));
  return kExitOk;
}

int SchedulePause(const GlobalOptions& global, const std::string& name) {
  auto stub = ConnectSchedules(global);
  v1::PauseScheduleRequest request;
  request.set_name(name);
  v1::Schedule schedule;
  if (int code = Call(global, *stub, &v1::ScheduleService::Stub::PauseSchedule, request, &schedule); code != kExitOk)
    return code;
  std::cout << (global.json ? ToJson(schedule) + "\n"
                            : "schedule " + name + " is paused; slots that pass are not caught up (orchard schedule "
                                  "resume " + name + ")\n");
  return kExitOk;
}

int ScheduleResume(const GlobalOptions& global, const std::string& name) {
  auto stub = ConnectSchedules(global);
  v1::ResumeScheduleRequest request;
  request.set_name(name);
  v1::Schedule schedule;
  if (int code = Call(global, *stub, &v1::ScheduleService::Stub::ResumeSchedule, request, &schedule); code != kExitOk)
    return code;
  if (global.json) std::cout << ToJson(schedule) << "\n";
  else if (schedule.next_slot() == 0) std::cout << "schedule " << name << " is active; its cron never fires again\n";
  else
    std::cout << "schedule " << name << " is active; next firing " << schedule.next_slot_local() << " ("
              << FormatUtcTime(static_cast<double>(schedule.next_slot())) << ")\n";
  return kExitOk;
}

int ScheduleRemove(const GlobalOptions& global, const std::string& name) {
  auto stub = ConnectSchedules(global);
  v1::RemoveScheduleRequest request;
  request.set_name(name);
  v1::RemoveScheduleResponse response;
  if (int code = Call(global, *stub, &v1::ScheduleService::Stub::RemoveSchedule, request, &response); code != kExitOk)
    return code;
  if (global.json) std::cout << ToJson(response) << "\n";
  else std::cout << "removed schedule " << name << " with its versions and runs; the sweeps it fired are kept\n";
  return kExitOk;
}

int ScheduleRunNow(const GlobalOptions& global, const std::string& name) {
  auto stub = ConnectSchedules(global);
  v1::RunScheduleNowRequest request;
  request.set_name(name);
  v1::ScheduleRun run;
  if (int code = Call(global, *stub, &v1::ScheduleService::Stub::RunScheduleNow, request, &run); code != kExitOk)
    return code;
  std::cout << (global.json ? ToJson(run) + "\n" : ScheduleRunText(name, run));
  return run.state() == "failed" ? kExitSweepFailed : kExitOk;
}

// ---- model registry ----

namespace {

std::unique_ptr<v1::ModelRegistryService::Stub> ConnectRegistry(const GlobalOptions& global) {
  return v1::ModelRegistryService::NewStub(client::CreateCoordinatorChannel(global.coordinator, global.security));
}

int PrintModel(const GlobalOptions& global, const v1::Model& model) {
  std::cout << (global.json ? ToJson(model) + "\n" : ModelText(model, Now()));
  return kExitOk;
}

// Runs `argv` with this process's stdout and stderr; its exit code, or -1 when it could not start
// or was killed.
int RunToCompletion(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

int Models(const GlobalOptions& global) {
  auto stub = ConnectRegistry(global);
  v1::ListModelsResponse response;
  if (int code = Call(global, *stub, &v1::ModelRegistryService::Stub::ListModels, v1::ListModelsRequest(), &response);
      code != kExitOk)
    return code;
  std::cout << (global.json ? ToJson(response) + "\n" : ModelsTable({response.models().begin(), response.models().end()}, Now()));
  return kExitOk;
}

int ShowModel(const GlobalOptions& global, const std::string& name) {
  auto stub = ConnectRegistry(global);
  v1::GetModelRequest request;
  request.set_name(name);
  v1::Model model;
  if (int code = Call(global, *stub, &v1::ModelRegistryService::Stub::GetModel, request, &model); code != kExitOk) return code;
  return PrintModel(global, model);
}

int PromoteTrial(const GlobalOptions& global, const std::string& name, int64_t trial_id) {
  auto stub = ConnectRegistry(global);
  v1::PromoteTrialRequest request;
  request.set_model(name);
  request.set_trial_id(trial_id);
  v1::Model model;
  if (int code = Call(global, *stub, &v1::ModelRegistryService::Stub::PromoteTrial, request, &model); code != kExitOk)
    return code;
  return PrintModel(global, model);
}

int RollbackModel(const GlobalOptions& global, const std::string& name) {
  auto stub = ConnectRegistry(global);
  v1::RollbackModelRequest request;
  request.set_model(name);
  v1::Model model;
  if (int code = Call(global, *stub, &v1::ModelRegistryService::Stub::RollbackModel, request, &model); code != kExitOk)
    return code;
  return PrintModel(global, model);
}

int ExportModel(const GlobalOptions& global, const std::string& name, int64_t version, const std::string& out_dir) {
  auto stub = ConnectRegistry(global);
  v1::GetModelRequest request;
  request.set_name(name);
  v1::Model model;
  if (int code = Call(global, *stub, &v1::ModelRegistryService::Stub::GetModel, request, &model); code != kExitOk) return code;
  const int64_t wanted = version > 0 ? version : model.champion();
  if (wanted == 0) {
    std::cerr << "orchard: model " << name << " has no champion yet; pass --version V (orchard models show " << name
              << " lists them)\n";
    return kExitNotFound;
  }
  const auto found = std::find_if(model.versions().begin(), model.versions().end(),
                                  [&](const v1::ModelVersion& v) { return v.version() == wanted; });
  if (found == model.versions().end()) {
    std::cerr << "orchard: model " << name << " has no version " << wanted << " (orchard models show " << name
              << " lists them)\n";
    return kExitNotFound;
  }
  const std::filesystem::path root(model.storage_root());
  const std::filesystem::path recipe = root / found->directory() / "recipe.yaml";
  std::error_code error;
  if (!std::filesystem::exists(recipe, error)) {
    std::cerr << "orchard: " << recipe.string() << " is not readable on this machine: export where the coordinator's "
                 "storage root " << model.storage_root() << " is mounted\n";
    return kExitError;
  }
  std::filesystem::create_directories(out_dir, error);
  if (error) {
    std::cerr << "orchard: cannot create " << out_dir << ": " << error.message() << "\n";
    return kExitBadInput;
  }
  const std::string model_file = (std::filesystem::path(out_dir) / "model.pt").string();
  const int exported = RunToCompletion({worker::DefaultTrainerBinary(), "export", "--recipe", recipe.string(),
                                        "--checkpoint", (root / found->checkpoint()).string(), "--out", model_file});
  if (exported != 0) {
    std::cerr << "orchard: " << worker::DefaultTrainerBinary() << " export failed"
              << (exported < 0 ? " to run (is orchard-train next to orchard?)" : "") << "; nothing was exported\n";
    return exported == 2 ? kExitBadInput : kExitError;
  }
  std::filesystem::copy_file(recipe, std::filesystem::path(out_dir) / "recipe.yaml",
                             std::filesystem::copy_options::overwrite_existing, error);
  if (error) {
    std::cerr << "orchard: cannot copy " << recipe.string() << " to " << out_dir << ": " << error.message() << "\n";
    return kExitError;
  }
  std::cout << "exported " << name << " v" << wanted << " to " << model_file << " with its recipe.yaml; load it with "
            << "torch.jit.load(\"" << model_file << "\")\n";
  return kExitOk;
}

}  // namespace orchard::cli
