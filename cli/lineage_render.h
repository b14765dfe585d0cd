// What `orchard lineage`, `orchard reproduce` and the model card say: pure functions of API messages
// and provenance records (core/provenance.h), unit-tested without a server.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/provenance.h"
#include "orchard/v1/registry_service.pb.h"
#include "orchard/v1/sweep_service.pb.h"

namespace orchard::cli {

// The chain from a model version (when given) to its sweep, trial and each attempt's provenance:
// recipe hash, data fingerprints, code version, libraries, device, seeds and final digest.
std::string LineageText(const v1::TrialLineage& lineage, const std::string& model, const v1::ModelVersion* version);
// The same as one JSON document; each attempt's provenance parsed (null when none was reported).
nlohmann::json LineageJson(const v1::TrialLineage& lineage, const std::string& model, const v1::ModelVersion* version);

// The attempt whose result a re-run must match: the last one that completed with a digest and a
// provenance; nullptr when there is none.
const v1::TrialAttempt* ReproducibleAttempt(const v1::TrialLineage& lineage);

// A re-run compared with the original: exact when the final parameters' digests are equal.
struct ReproductionReport {
  bool exact = false;
  std::string text;  // for a person: the digests, each difference it can name, the metrics
};
ReproductionReport CompareReproduction(const Provenance& original, const std::string& original_digest,
                                       const std::map<std::string, double>& original_metrics,
                                       const Provenance& again, const std::string& again_digest,
                                       const std::map<std::string, double>& again_metrics);

// model-card.json for an exported version: the model, the version's metric and hyperparameters, the
// decisions that concern it (with both figures), and the lineage of the trial that trained it (null
// when `lineage` is: the coordinator could not give it).
nlohmann::json ModelCard(const v1::Model& model, const v1::ModelVersion& version, const v1::TrialLineage* lineage);

}  // namespace orchard::cli
