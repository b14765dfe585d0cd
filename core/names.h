// The rules for names.
//
// Metric names: the rule every one follows: 1 to 128 letters, digits, '_', '.', '/' or '-'.
//
//   RETURN_IF_ERROR(CheckMetricName(point.name(), "points[3].name"));
//
// Checked wherever a name enters: the coordinator refuses a report that breaks it, and the worker
// drops such a record from a trainer's metrics file instead of sending it (one bad name would
// otherwise cost every good point of the report it travels in).
#pragma once

#include <string>

#include "core/status.h"

namespace orchard {

// InvalidArgument naming `field` when `name` breaks the rule.
Status CheckMetricName(const std::string& name, const std::string& field);

// A sweep, model, schedule or user name: 1-64 letters, digits, '.', '_' or '-', starting with a
// letter or digit.
bool IsValidName(const std::string& name);

}  // namespace orchard
