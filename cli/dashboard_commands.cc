// `orchard ui` and `orchard report`: the dashboard over a state directory, and a sweep's page as
// one HTML file to share (docs/dashboard.md).
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/commands.h"
#include "cli/coordinator_calls.h"
#include "coordinator/server/http_server.h"
#include "coordinator/server/json_api.h"
#include "orchard/v1/sweep_service.grpc.pb.h"

namespace orchard::cli {
namespace {

std::atomic<bool> ui_interrupted{false};
void OnUiInterrupt(int) { ui_interrupted.store(true); }

// The coordinator of a state directory, opened to be looked at: nothing runs and nothing changes.
StatusOr<std::unique_ptr<coordinator::Coordinator>> OpenToLook(const std::string& state_dir) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(std::filesystem::path(state_dir) / "orchard.db", error))
    return NotFound("no Orchard state in " + state_dir + " (no orchard.db there; `orchard run --state-dir` names it)");
  coordinator::CoordinatorOptions options;
  options.state_dir = state_dir;
  options.read_only = true;
  return coordinator::Coordinator::Open(options);
}

int WriteReport(const std::string& html, const std::string& output, std::ostream& out, std::ostream& err) {
  std::ofstream file(output, std::ios::binary | std::ios::trunc);
  file << html;
  file.close();
  if (!file) {
    err << "orchard report: cannot write " << output << " (does its folder exist and is it writable?)\n";
    return kExitError;
  }
  out << "wrote " << output << " (" << html.size() / 1024 << " KiB; opens in a browser with no network)\n";
  return kExitOk;
}

}  // namespace

int Ui(const GlobalOptions& global, const std::string& state_dir, const std::string& http) {
  std::ostream& err = *global.err;
  auto opened = OpenToLook(state_dir);
  if (!opened.ok()) {
    err << "orchard ui: " << opened.status().message() << "\n";
    return opened.status().code() == StatusCode::kNotFound ? kExitNotFound : kExitError;
  }
  auto server = coordinator::HttpServer::Start(http, **opened, nullptr, {}, nullptr);
  if (!server.ok()) {
    err << "orchard ui: " << server.status().message() << "\n";
    return server.status().code() == StatusCode::kInvalidArgument ? kExitBadInput : kExitError;
  }
  *global.out << "dashboard of " << state_dir << " at " << (*server)->url()
              << " (a snapshot: nothing runs here; Ctrl-C stops serving)" << std::endl;
  std::signal(SIGINT, OnUiInterrupt);
  std::signal(SIGTERM, OnUiInterrupt);
  while (!ui_interrupted.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*server)->Shutdown();
  return kExitOk;
}

int Report(const GlobalOptions& global, int64_t sweep_id, const std::string& output, const std::string& state_dir) {
  std::ostream& err = *global.err;
  if (!state_dir.empty()) {
    auto opened = OpenToLook(state_dir);
    if (!opened.ok()) {
      err << "orchard report: " << opened.status().message() << "\n";
      return opened.status().code() == StatusCode::kNotFound ? kExitNotFound : kExitError;
    }
    const coordinator::Principal local{coordinator::Principal::Role::kAdmin, coordinator::kLocalUser};
    coordinator::HttpAnswer report = coordinator::JsonApi(**opened, false).SweepReport(local, sweep_id, Now());
    if (report.status != 200) {
      err << "orchard report: " << report.body << "\n";
      return report.status == 404 ? kExitNotFound : kExitError;
    }
    return WriteReport(report.body, output, *global.out, err);
  }
  v1::GetSweepReportRequest request;
  request.set_sweep_id(sweep_id);
  v1::GetSweepReportResponse response;
  if (int code = CoordinatorCalls(global).Call(&v1::SweepService::Stub::GetSweepReport, request, &response);
      code != kExitOk)
    return code;
  return WriteReport(response.html(), output, *global.out, err);
}

}  // namespace orchard::cli
