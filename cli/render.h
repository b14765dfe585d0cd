// Text the orchard CLI prints for sweeps, trials and workers: tables, the live progress block,
// exports, and what each of those commands prints for its response. Pure functions of API messages
// (and the time, passed in), so they are unit-tested without a server. Schedules and the model
// registry have theirs in schedule_render.h and model_render.h.
#pragma once

#include <google/protobuf/message.h>

#include <ostream>
#include <string>
#include <vector>

#include "orchard/v1/sweep_service.pb.h"
#include "orchard/v1/types.pb.h"

namespace orchard::cli {

// Left-aligned columns separated by two spaces, one line per row.
std::string Table(const std::vector<std::vector<std::string>>& rows);

// "1:02:03", "4:05", "0:07".
std::string FormatDuration(double seconds);
// Bytes as whole mebibytes: "412 MiB".
std::string FormatMebibytes(int64_t bytes);
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

// `message` as JSON with the proto's field names and every field, zeros included, so that scripts
// find each key.
std::string ToJson(const google::protobuf::Message& message);
// ToJson and a newline: what --json prints, one document per command.
void PrintJson(const google::protobuf::Message& message, std::ostream& out);

// `orchard export --format json`: {"sweep": ..., "trials": [...]}, each trial with its "metrics"
// points when `metrics` holds each trial's series (in the order of `trials`); none when it is empty.
std::string TrialsJson(const v1::Sweep& sweep, const std::vector<v1::Trial>& trials,
                       const std::vector<v1::GetTrialMetricsResponse>& metrics);

// What each sweep command prints on its output for its response: text for a person, or with `json`
// the response as one JSON document (PrintJson).

// `orchard submit`: the sweep that went in and how to follow it. With json, the sweep, except when
// `waiting` (--wait): then the sweep's end is the one document.
void PrintSubmitted(const v1::Sweep& sweep, bool waiting, bool json, std::ostream& out);
// `orchard run`: the sweep started (or `resumed`) and where its state and output go; nothing with
// json, where the sweep's end is the one document.
void PrintRunStarted(const v1::Sweep& sweep, bool resumed, const std::string& state_dir, bool json, std::ostream& out);
// One event as `orchard watch` prints it off a terminal: "[0:12] trial 3 completed ...".
void PrintSweepEvent(const v1::SweepEvent& event, std::ostream& out);
// The end of a followed sweep: its best trial, or where to look when none completed; the final
// progress block first when `with_progress` (it was not drawn live). With json, the sweep.
void PrintSweepEnd(const v1::Sweep& sweep, bool with_progress, double now, bool json, std::ostream& out);
// `orchard status`: the progress block.
void PrintSweepStatus(const v1::Sweep& sweep, double now, bool json, std::ostream& out);
// `orchard sweeps`.
void PrintSweeps(const v1::ListSweepsResponse& response, double now, bool json, std::ostream& out);
// `orchard trials`: the trials table of `sweep`; with json, the trials alone.
void PrintTrials(const v1::ListTrialsResponse& trials, const v1::Sweep& sweep, double now, bool json, std::ostream& out);
// `orchard logs`: the log's text, after a note when its start was cut.
void PrintTrialLog(const v1::GetTrialLogResponse& log, bool json, std::ostream& out);
// `orchard cancel`: the sweep's state and how many running trials are stopping.
void PrintCanceled(const v1::Sweep& sweep, bool json, std::ostream& out);
// `orchard best`: BestTrialText; with json, the trial alone.
void PrintBestTrial(const v1::Trial& best, const v1::Sweep& sweep, bool json, std::ostream& out);
// `orchard workers`.
void PrintWorkers(const v1::ListWorkersResponse& response, double now, bool json, std::ostream& out);
// `orchard metrics`: CSV with a step,name,value header.
void PrintMetrics(const v1::GetTrialMetricsResponse& response, bool json, std::ostream& out);

}  // namespace orchard::cli
