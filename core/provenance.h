// What an attempt trained from: the resolved recipe, the data's fingerprints, the build of Orchard,
// the libraries and the device. The trainer writes it as provenance.json in its output directory;
// the worker passes it on with the attempt's exit, the coordinator keeps it per attempt, and
// `orchard lineage` and `orchard reproduce` read it back. Plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/data_fingerprint.h"
#include "core/status.h"

namespace orchard {

struct Provenance {
  int64_t attempt = 0;              // the attempt number (fencing epoch); 0 outside a sweep
  std::string recipe_file;          // where the recipe was submitted from
  std::string recipe_sha256;        // of resolved_recipe
  std::string resolved_recipe;      // YAML: overrides and hyperparameters applied, paths absolute
  std::vector<FileFingerprint> data;
  std::string orchard_version;
  std::string commit;               // git commit of the build; "unknown" outside a git checkout
  bool dirty = false;               // the build's tracked files differed from that commit
  std::string libtorch, cuda, cudnn, nccl;  // versions; empty: not in this build or not loaded
  std::string device;               // "cpu", "cuda:0"
  std::string host;
  int64_t world_size = 1;
  int64_t train_seed = 0, data_seed = 0;
  int64_t start_step = 0;           // > 0: resumed from its own checkpoint at this step
  double recorded_at = 0;           // seconds since the Unix epoch
};

// The largest record the worker sends and the coordinator keeps.
inline constexpr size_t kMaxProvenanceBytes = size_t{4} << 20;

std::string ProvenanceJson(const Provenance& provenance);  // pretty-printed, ends with a newline
// InvalidArgument naming the field when `json` is not a provenance record.
StatusOr<Provenance> ParseProvenance(const std::string& json);

// What differs between an attempt and a re-run, each a line a person can act on, e.g.
// "data file /d/x.csv changed: sha256 1f2e... vs 9a8b...", "built from commit abc vs def",
// "LibTorch 2.11.0 vs 2.12.0". Empty when everything that decides the result is the same as far as
// the records tell: two builds of the same commit with uncommitted changes count as the same.
std::vector<std::string> ProvenanceDifferences(const Provenance& original, const Provenance& again);

}  // namespace orchard
