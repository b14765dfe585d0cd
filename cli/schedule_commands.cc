// `orchard schedule ...` (docs/schedules.md).
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/coordinator_calls.h"
#include "cli/schedule_render.h"
#include "orchard/v1/schedule_service.grpc.pb.h"

namespace orchard::cli {

int ScheduleAdd(const GlobalOptions& global, const ScheduleAddOptions& options) {
  std::ifstream in(options.recipe);
  if (!in) {
    *global.err << "orchard: " << options.recipe << ": cannot read the recipe file; nothing was added\n";
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
  request.set_skip_if_data_unchanged(options.skip_if_data_unchanged);
  return CoordinatorCalls(global).CallAndPrint(&v1::ScheduleService::Stub::AddSchedule, request, PrintAddedSchedule);
}

int ScheduleList(const GlobalOptions& global) {
  return CoordinatorCalls(global).CallAndPrint(&v1::ScheduleService::Stub::ListSchedules, v1::ListSchedulesRequest(),
                                               PrintSchedules);
}

int ScheduleShow(const GlobalOptions& global, const std::string& name, int64_t runs) {
  v1::GetScheduleRequest request;
  request.set_name(name);
  request.set_runs_limit(runs);
  return CoordinatorCalls(global).CallAndPrint(&v1::ScheduleService::Stub::GetSchedule, request, PrintScheduleDetails);
}

int SchedulePause(const GlobalOptions& global, const std::string& name) {
  v1::PauseScheduleRequest request;
  request.set_name(name);
  return CoordinatorCalls(global).CallAndPrint(
      &v1::ScheduleService::Stub::PauseSchedule, request,
      [&](const v1::Schedule& schedule, bool json, std::ostream& out) { PrintPausedSchedule(schedule, name, json, out); });
}

int ScheduleResume(const GlobalOptions& global, const std::string& name) {
  v1::ResumeScheduleRequest request;
  request.set_name(name);
  return CoordinatorCalls(global).CallAndPrint(
      &v1::ScheduleService::Stub::ResumeSchedule, request,
      [&](const v1::Schedule& schedule, bool json, std::ostream& out) { PrintResumedSchedule(schedule, name, json, out); });
}

int ScheduleRemove(const GlobalOptions& global, const std::string& name) {
  v1::RemoveScheduleRequest request;
  request.set_name(name);
  return CoordinatorCalls(global).CallAndPrint(&v1::ScheduleService::Stub::RemoveSchedule, request,
                                               [&](const v1::RemoveScheduleResponse& removed, bool json, std::ostream& out) {
                                                 PrintRemovedSchedule(removed, name, json, out);
                                               });
}

int ScheduleRunNow(const GlobalOptions& global, const std::string& name) {
  v1::RunScheduleNowRequest request;
  request.set_name(name);
  v1::ScheduleRun run;
  const int code = CoordinatorCalls(global).CallAndPrint(
      &v1::ScheduleService::Stub::RunScheduleNow, request,
      [&](const v1::ScheduleRun& fired, bool json, std::ostream& out) { PrintScheduleRun(fired, name, json, out); }, &run);
  return code == kExitOk && run.state() == "failed" ? kExitSweepFailed : code;
}

}  // namespace orchard::cli
