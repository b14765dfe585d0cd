// Which trials may train together as one fused model (docs/fusion.md): trials of one recipe whose
// overrides differ only in fields that change neither a tensor's shape nor the batches, so one
// forward pass over the same batch serves every member. Pure; thread-compatible.
//
//   RETURN_IF_ERROR(CheckFusableField("optimizer.lr"));           // fine
//   RETURN_IF_ERROR(CheckFusableGroup({trial_a, trial_b}));        // same recipe, only those fields differ
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"

namespace orchard {

// The fields fused members may differ in, as --set and sweep.parameters name them. train.seed is
// not one: it orders the batches as well as drawing the initial weights.
const std::vector<std::string>& FusableFields();

// InvalidArgument naming `field` and the fields that may differ, when trials that differ in it
// cannot share one fused model.
Status CheckFusableField(const std::string& field);

// OK when `members` (two or more) are one recipe file with the same overrides but for fusable
// fields; else InvalidArgument naming the first member and field that differ.
Status CheckFusableGroup(const std::vector<Recipe>& members);

// What one more member adds to a fused group, estimated from the recipe alone (its model and the
// sizes its data section fixes; no data is read). The coordinator sizes fuse: auto groups with it.
struct FusedMemberCost {
  int64_t parameters = 0;
  // Its weights, gradients and optimizer state, and the activations of one batch (or one evaluation
  // chunk, whichever is larger) through forward and backward; what the group shares (the data, the
  // framework) is not counted.
  int64_t bytes = 0;
  // One training step's arithmetic: forward and backward, 2 flops a multiply-add.
  double step_flops = 0;
};
// Absent when the recipe does not fix the shapes (data read from a file without data.shape, or a
// classification's classes) or its model cannot be fused.
std::optional<FusedMemberCost> EstimateFusedMemberCost(const Recipe& recipe);

}  // namespace orchard
