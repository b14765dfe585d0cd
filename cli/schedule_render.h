// Text the orchard CLI prints for schedules (docs/schedules.md): pure functions of API messages,
// unit-tested without a server.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "orchard/v1/schedule_service.pb.h"

namespace orchard::cli {

// Schedules: one row each with its cron, zone, state, next firing and last run.
std::string SchedulesTable(const std::vector<v1::Schedule>& schedules);
// `orchard schedule show`: the settings, the next firing in the schedule's zone and in UTC, the
// versions and the recent runs with their sweeps, states and reasons.
std::string ScheduleText(const v1::ScheduleDetails& details);
// What `orchard schedule add` did: created, a new version (and what changed), or nothing.
std::string AddedScheduleText(const v1::AddScheduleResponse& response);
// One run of `schedule`, as run-now reports it.
std::string ScheduleRunText(const std::string& schedule, const v1::ScheduleRun& run);

// What each `orchard schedule` command prints on its output for its response: text for a person,
// or with `json` the response as one JSON document. `name` is the schedule as the user named it.

// `schedule add`: AddedScheduleText.
void PrintAddedSchedule(const v1::AddScheduleResponse& response, bool json, std::ostream& out);
// `schedule list`: SchedulesTable, or how to add one when there are none.
void PrintSchedules(const v1::ListSchedulesResponse& response, bool json, std::ostream& out);
// `schedule show`: ScheduleText.
void PrintScheduleDetails(const v1::ScheduleDetails& details, bool json, std::ostream& out);
// `schedule pause`: that it is paused and how to resume it.
void PrintPausedSchedule(const v1::Schedule& schedule, const std::string& name, bool json, std::ostream& out);
// `schedule resume`: that it is active and its next firing.
void PrintResumedSchedule(const v1::Schedule& schedule, const std::string& name, bool json, std::ostream& out);
// `schedule remove`: what went and what was kept.
void PrintRemovedSchedule(const v1::RemoveScheduleResponse& response, const std::string& name, bool json,
                          std::ostream& out);
// `schedule run-now`: ScheduleRunText.
void PrintScheduleRun(const v1::ScheduleRun& run, const std::string& name, bool json, std::ostream& out);

}  // namespace orchard::cli
