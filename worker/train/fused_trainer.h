// Trains a group of trials of one recipe as one fused model in one process (docs/fusion.md): the
// same batches for every member, one batched forward and backward pass, and for each member its own
// optimizer (with its hyperparameters), learning-rate schedule, gradient clip, metrics file,
// TensorBoard run, checkpoints, strategy decisions and result. No torch types here.
//
//   std::vector<FusedMember> members = {{trial_a, options_a}, {trial_b, options_b}};
//   StatusOr<std::vector<TrainResult>> results = TrainFused(members);
//
// A member's checkpoint is an ordinary checkpoint of its recipe: it resumes alone, or fused again.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"
#include "worker/train/trainer.h"

namespace orchard::train {

struct FusedMember {
  Recipe recipe;  // the member's trial: the group's recipe with the member's fusable overrides
  // Its own output_dir, epoch, decision_file, progress and provenance. resume, stop_requested and
  // cuda_device are the group's (member 0's); communicator and evaluate_only are not supported.
  TrainOptions options;
};

// One result per member, in order. A member that diverges, or that its strategy stops or pauses,
// ends there alone (its result says so; a stopped or paused one is checkpointed first) while the
// others train on; a stop request checkpoints and ends them all. An error (members that cannot be
// fused, core/fusion.h; a data, I/O or LibTorch failure) ends the whole group. Every member starts
// at the same step: fresh, or resumed from checkpoints of one step.
//
// `ended`, when set, is called as each member ends, with its index and result (on the training
// thread, before the others go on): the command writes the member's summary then, so the worker
// reports a member that ends early while its group trains on.
using MemberEnded = std::function<void(size_t member, const TrainResult& result)>;
StatusOr<std::vector<TrainResult>> TrainFused(const std::vector<FusedMember>& members, const MemberEnded& ended = {});

}  // namespace orchard::train
