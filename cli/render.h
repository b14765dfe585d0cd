// Text the orchard CLI prints: tables, the live progress block, exports. Pure functions of API
// messages (and the time, passed in), so they are unit-tested without a server.
#pragma once

#include <string>
#include <vector>

#include "orchard/v1/schedule_service.pb.h"
#include "orchard/v1/types.pb.h"

namespace orchard::cli {

// Left-aligned columns separated by two spaces, one line per row.
std::string Table(const std::vector<std::vector<std::string>>& rows);

// "1:02:03", "4:05", "0:07".
std::string FormatDuration(double seconds);
// A metric value with 4 significant digits ("0.8813", "1.2e-05").
std::string FormatValue(double value);
// "optimizer.lr=0.0031 model.hidden=[64, 64]".
std::string FormatHyperparameters(const v1::Trial& trial);

std::string SweepsTable(const std::vector<v1::Sweep>& sweeps, double now);
std::string TrialsTable(const v1::Sweep& sweep, const std::vector<v1::Trial>& trials, double now);
std::string WorkersTable(const std::vector<v1::Worker>& workers, double now);

// The live progress block: the sweep, trials by state, best so far, elapsed and estimated time left,
// and the latest events (newest last).
std::string ProgressBlock(const v1::Sweep& sweep, const std::vector<std::string>& recent_events, double now);
// Estimated seconds until every trial has ended; negative when there is nothing to go on yet.
double EstimateSecondsLeft(const v1::Sweep& sweep, double now);

// The best trial, its hyperparameters and where its checkpoint is.
std::string BestTrialText(const v1::Sweep& sweep, const v1::Trial& best);

// One row per trial: id, number, state, objective, each hyperparameter as a column, message.
std::string TrialsCsv(const v1::Sweep& sweep, const std::vector<v1::Trial>& trials);

// "2026-11-21 01:00 UTC", to the minute.
std::string FormatUtcTime(double unix_seconds);

// Schedules: one row each with its cron, zone, state, next firing and last run.
std::string SchedulesTable(const std::vector<v1::Schedule>& schedules);
// `orchard schedule show`: the settings, the next firing in the schedule's zone and in UTC, the
// versions and the recent runs with their sweeps, states and reasons.
std::string ScheduleText(const v1::ScheduleDetails& details);
// What `orchard schedule add` did: created, a new version (and what changed), or nothing.
std::string AddedScheduleText(const v1::AddScheduleResponse& response);
// One run of `schedule`, as run-now reports it.
std::string ScheduleRunText(const std::string& schedule, const v1::ScheduleRun& run);

}  // namespace orchard::cli
