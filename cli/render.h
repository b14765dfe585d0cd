// Text the orchard CLI prints: tables, the live progress block, exports. Pure functions of API
// messages (and the time, passed in), so they are unit-tested without a server.
#pragma once

#include <string>
#include <vector>

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

}  // namespace orchard::cli
