// Rank 0's side of the strategy's decisions: at an evaluation the sweep's strategy judges, the
// trainer waits for the answer (core/strategy_answer.h) before it trains another step, so a trial
// that is stopped or paused ends at that step however long the answer took to travel. No torch.
//
//   DecisionWait decisions(out + "/decision.json", /*attempt=*/2, std::chrono::seconds(30));
//   DecisionWait::Outcome outcome = decisions.AtEvaluation(step, &stop_requested);
//   if (outcome.kind == DecisionWait::Kind::kStop) ...checkpoint at this step and exit...
//
// The wait is bounded: with no answer by the deadline (a slow or restarting coordinator) it reports
// kTimedOut and the trainer goes on, as it would without waiting, and waits nowhere else until a new
// answer arrives (an answer that never comes must not cost the deadline at every evaluation).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/strategy_answer.h"

namespace orchard::train {

class DecisionWait {
 public:
  enum class Kind { kNotJudged, kContinue, kStop, kPause, kTimedOut, kStopRequested };
  struct Outcome {
    Kind kind = Kind::kNotJudged;
    double waited_seconds = 0;
  };

  // `path`: the answer file; `attempt`: this attempt's number (answers for another are ignored).
  // Reads the file once for the first step judged; without a valid answer nothing is waited for.
  DecisionWait(std::string path, int64_t attempt, std::chrono::milliseconds timeout);

  // At an evaluation of `step`: kNotJudged when the strategy will not judge it; else waits until the
  // answer for `step` arrives, `stop_requested` is set, or the timeout passes. A continue answers
  // only its own step (a resumed attempt's old reports are judged again, at steps past this one); a
  // stop or pause answers any step up to its own.
  // `not_after`, when given, ends the wait there if that comes before the timeout: the members of a
  // fused group wait for their answers together, within one timeout.
  Outcome AtEvaluation(int64_t step, const std::atomic<bool>* stop_requested,
                       std::optional<std::chrono::steady_clock::time_point> not_after = std::nullopt);

  // kStop or kPause when the newest answer for this attempt stops or pauses it, whatever step it
  // answered; else kContinue. Reads the file, never waits: how a decision that arrived after its wait
  // reaches a trainer that cannot be signalled alone (a member of a fused group, fused_trainer.h).
  Kind Ended();

  // The step at or past which the next evaluation is judged; 0: none.
  int64_t next_step() const { return next_step_; }

 private:
  // The file's answer when it is a valid one for this attempt; a new one sets the next step.
  bool Read(StrategyAnswer* answer);

  std::string path_;
  int64_t attempt_;
  std::chrono::milliseconds timeout_;
  int64_t next_step_ = 0;
  int64_t seen_step_ = INT64_MIN;  // the step of the newest answer read
};

}  // namespace orchard::train
