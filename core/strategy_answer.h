// The sweep strategy's answer to a trainer waiting at an evaluation it judges (a rung, a PBT
// interval). The worker that relays the trainer's metrics writes it, whole, to
// <output_dir>/decision.json; the trainer reads it there (worker/train/decision_wait.h). A file,
// like the metrics it answers, so it reaches the trainer however it was started: forked by the
// zygote, as MPI ranks under mpirun, or as a rank of an mpirun-launched worker.
//
//   {"attempt": 2, "step": 30, "decision": "continue", "next_step": 90}
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace orchard {

inline constexpr char kStrategyAnswerFile[] = "decision.json";

struct StrategyAnswer {
  enum class Decision { kContinue, kStop, kPause };
  int64_t attempt = 0;        // the attempt number it answers; a trainer ignores another attempt's
  int64_t step = -1;          // the step judged; -1: none yet (written before the trainer starts)
  Decision decision = Decision::kContinue;
  int64_t next_step = 0;      // wait at the first evaluation at or past this step; 0: never again
  bool operator==(const StrategyAnswer&) const = default;
};

std::string StrategyAnswerJson(const StrategyAnswer& answer);
// InvalidArgument for text that is not such an answer (a torn or foreign file).
StatusOr<StrategyAnswer> ParseStrategyAnswer(const std::string& text);
// "continue", "stop", "pause".
std::string DecisionName(StrategyAnswer::Decision decision);

}  // namespace orchard
