// Text the orchard CLI prints for the model registry: pure functions of API messages (and the
// time, passed in), unit-tested without a server.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "orchard/v1/registry_service.pb.h"

namespace orchard::cli {

// One row per model: its champion with the metric, the versions and the latest decision.
std::string ModelsTable(const std::vector<v1::ModelSummary>& models, double now);

// A model: every version (the champion marked with *) with its metric, recipe, data, sweep, trial
// and hyperparameters, then every decision with both figures, oldest first.
std::string ModelText(const v1::Model& model, double now);

// One decision in words, e.g. "sweep 4's best trial 2: val_accuracy 0.981 vs champion v2 0.975 on
// the same data (margin 0.005): promoted as v3: 0.006 higher than v2, more than the margin 0.005".
std::string DecisionText(const v1::PromotionDecision& decision);

// What each `orchard models` command prints on its output for its response: text for a person, or
// with `json` the response as one JSON document.

// `models list`: ModelsTable.
void PrintModels(const v1::ListModelsResponse& response, double now, bool json, std::ostream& out);
// `models show`, `promote` and `rollback`: ModelText of the model as it is now.
void PrintModel(const v1::Model& model, double now, bool json, std::ostream& out);
// `models export`: where `version` of model `name` went and how to load it (text even with --json).
void PrintExportedModel(const std::string& name, int64_t version, const std::string& model_file, std::ostream& out);

}  // namespace orchard::cli
