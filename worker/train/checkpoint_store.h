// Checkpoints on disk: <root>/step-<n>/{<files>, MANIFEST}.
//
//   CheckpointStore store("runs/x/checkpoints", /*keep=*/3);
//   RETURN_IF_ERROR(store.Commit(step, {{"rank-0.pt", bytes}}, {{"recipe", "digits"}}));
//   ASSIGN_OR_RETURN(std::optional<Checkpoint> latest, store.Latest(&warnings));
//
// A commit writes every file into a temporary directory, fsyncs it, writes the MANIFEST (sizes,
// CRC-32C checksums, step, metadata) last, renames the directory into place and fsyncs the parent:
// a checkpoint without a valid manifest does not exist. Retention keeps the latest `keep`. A failed
// commit removes its temporary directory; temporary files that other (dead or fenced) writers left
// are removed when a writer claims the root and after each commit it publishes.
//
// Fencing: a writer with an epoch (the coordinator's attempt number) claims the root by recording
// its epoch in <root>/EPOCH; from then on a writer of a lower epoch (a stale attempt still running
// somewhere) is refused with kAborted, at Claim and when it would publish a checkpoint (both under a
// flock on <root>/EPOCH.lock), so a trial never has two checkpoint writers. Not thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace orchard::train {

struct CheckpointFile {
  std::string name;   // a plain file name such as "rank-0.pt"
  std::string bytes;
};

struct Checkpoint {
  int64_t step = 0;
  std::filesystem::path dir;
  nlohmann::json manifest;
};

class CheckpointStore {
 public:
  // `epoch` 0: unfenced (a standalone orchard-train run).
  CheckpointStore(std::filesystem::path root, int64_t keep, int64_t epoch = 0);

  // Records this writer's epoch as the root's; kAborted when a newer epoch already owns it.
  Status Claim();

  // Writes a checkpoint of `step` atomically (replacing one of the same step), then applies retention.
  Status Commit(int64_t step, const std::vector<CheckpointFile>& files, const nlohmann::json& metadata);

  // The newest checkpoint whose manifest parses and whose files have the sizes and CRC-32C checksums
  // it lists; partial or corrupt ones are skipped, each with a line in `warnings`.
  StatusOr<std::optional<Checkpoint>> Latest(std::vector<std::string>* warnings) const;

  // Every checkpoint with a parseable manifest, oldest first.
  std::vector<Checkpoint> List() const;

  // Opens the checkpoint in `dir` (a step-<n> directory), validating its manifest and sizes.
  static StatusOr<Checkpoint> Open(const std::filesystem::path& dir);

  // Reads one file of a checkpoint and verifies its size and checksum against the manifest.
  static StatusOr<std::string> ReadFile(const Checkpoint& checkpoint, const std::string& name);

  const std::filesystem::path& root() const { return root_; }

 private:
  Status ApplyRetention();
  void RemoveLeftovers() const;  // other processes' .step-*.tmp-* and .EPOCH.tmp-*
  Status CheckEpoch() const;  // kAborted when another epoch owns the root

  std::filesystem::path root_;
  int64_t keep_;
  int64_t epoch_;
};

}  // namespace orchard::train
