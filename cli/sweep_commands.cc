// The commands that look at or change one sweep or its trials, and `orchard workers`.
#include <fstream>

#include "cli/commands.h"
#include "cli/coordinator_calls.h"
#include "cli/render.h"
#include "cli/sweep_follow.h"
#include "orchard/v1/sweep_service.grpc.pb.h"

namespace orchard::cli {
namespace {

// The sweep, for the commands whose text needs it beside their response (its metric, its storage root).
int GetSweep(const CoordinatorCalls& calls, int64_t sweep_id, v1::Sweep* sweep) {
  v1::GetSweepRequest request;
  request.set_sweep_id(sweep_id);
  return calls.Call(&v1::SweepService::Stub::GetSweep, request, sweep);
}

}  // namespace

int ShowStatus(const GlobalOptions& global, int64_t sweep_id) {
  v1::GetSweepRequest request;
  request.set_sweep_id(sweep_id);
  return CoordinatorCalls(global).CallAndPrint(
      &v1::SweepService::Stub::GetSweep, request,
      [](const v1::Sweep& sweep, bool json, std::ostream& out) { PrintSweepStatus(sweep, Now(), json, out); });
}

int Sweeps(const GlobalOptions& global, int64_t limit) {
  v1::ListSweepsRequest request;
  request.set_page_size(limit);
  return CoordinatorCalls(global).CallAndPrint(
      &v1::SweepService::Stub::ListSweeps, request,
      [](const v1::ListSweepsResponse& sweeps, bool json, std::ostream& out) { PrintSweeps(sweeps, Now(), json, out); });
}

int Trials(const GlobalOptions& global, int64_t sweep_id) {
  const CoordinatorCalls calls(global);
  v1::Sweep sweep;
  if (int code = GetSweep(calls, sweep_id, &sweep); code != kExitOk) return code;
  v1::ListTrialsRequest request;
  request.set_sweep_id(sweep_id);
  v1::ListTrialsResponse trials;
  if (int code = calls.CallAllPages(&v1::SweepService::Stub::ListTrials, request, &v1::ListTrialsResponse::mutable_trials,
                                    &trials);
      code != kExitOk)
    return code;
  PrintTrials(trials, sweep, Now(), global.json, *global.out);
  return kExitOk;
}

int Watch(const GlobalOptions& global, int64_t sweep_id) {
  return FollowSweep(CoordinatorCalls(global), sweep_id, /*cancel_on_interrupt=*/false);
}

int Logs(const GlobalOptions& global, int64_t trial_id, int64_t attempt, int64_t tail_bytes) {
  v1::GetTrialLogRequest request;
  request.set_trial_id(trial_id);
  request.set_attempt(attempt);
  request.set_tail_bytes(tail_bytes);
  return CoordinatorCalls(global).CallAndPrint(&v1::SweepService::Stub::GetTrialLog, request, PrintTrialLog);
}

int Cancel(const GlobalOptions& global, int64_t sweep_id) {
  v1::CancelSweepRequest request;
  request.set_sweep_id(sweep_id);
  return CoordinatorCalls(global).CallAndPrint(&v1::SweepService::Stub::CancelSweep, request, PrintCanceled);
}

int Best(const GlobalOptions& global, int64_t sweep_id) {
  const CoordinatorCalls calls(global);
  v1::Sweep sweep;
  if (int code = GetSweep(calls, sweep_id, &sweep); code != kExitOk) return code;
  v1::GetBestTrialRequest request;
  request.set_sweep_id(sweep_id);
  return calls.CallAndPrint(
      &v1::SweepService::Stub::GetBestTrial, request,
      [&](const v1::Trial& best, bool json, std::ostream& out) { PrintBestTrial(best, sweep, json, out); });
}

int Export(const GlobalOptions& global, int64_t sweep_id, const std::string& format, bool with_metrics,
           const std::string& output) {
  const CoordinatorCalls calls(global);
  v1::Sweep sweep;
  if (int code = GetSweep(calls, sweep_id, &sweep); code != kExitOk) return code;
  v1::ListTrialsRequest list;
  list.set_sweep_id(sweep_id);
  v1::ListTrialsResponse response;
  if (int code = calls.CallAllPages(&v1::SweepService::Stub::ListTrials, list, &v1::ListTrialsResponse::mutable_trials,
                                    &response);
      code != kExitOk)
    return code;
  const std::vector<v1::Trial> trials(response.trials().begin(), response.trials().end());
  std::vector<v1::GetTrialMetricsResponse> metrics;
  if (with_metrics) {
    for (const v1::Trial& trial : trials) {
      v1::GetTrialMetricsRequest request;
      request.set_trial_id(trial.id());
      if (int code = calls.CallAllPages(&v1::SweepService::Stub::GetTrialMetrics, request,
                                        &v1::GetTrialMetricsResponse::mutable_points, &metrics.emplace_back());
          code != kExitOk)
        return code;
    }
  }
  const std::string text = format == "csv" ? TrialsCsv(sweep, trials) : TrialsJson(sweep, trials, metrics);
  if (output.empty() || output == "-") {
    *global.out << text;
    return kExitOk;
  }
  std::ofstream file(output);
  file << text;
  if (!file) {
    *global.err << "orchard: cannot write " << output << "\n";
    return kExitBadInput;
  }
  *global.err << "wrote " << trials.size() << " trials to " << output << "\n";
  return kExitOk;
}

int Workers(const GlobalOptions& global) {
  return CoordinatorCalls(global).CallAndPrint(
      &v1::SweepService::Stub::ListWorkers, v1::ListWorkersRequest(),
      [](const v1::ListWorkersResponse& workers, bool json, std::ostream& out) { PrintWorkers(workers, Now(), json, out); });
}

int Metrics(const GlobalOptions& global, int64_t trial_id, const std::string& name) {
  v1::GetTrialMetricsRequest request;
  request.set_trial_id(trial_id);
  request.set_name(name);
  v1::GetTrialMetricsResponse points;
  if (int code = CoordinatorCalls(global).CallAllPages(&v1::SweepService::Stub::GetTrialMetrics, request,
                                                       &v1::GetTrialMetricsResponse::mutable_points, &points);
      code != kExitOk)
    return code;
  PrintMetrics(points, global.json, *global.out);
  return kExitOk;
}

}  // namespace orchard::cli
