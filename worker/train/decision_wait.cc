#include "worker/train/decision_wait.h"

#include <thread>

#include "core/atomic_file.h"

namespace orchard::train {
namespace {

using Clock = std::chrono::steady_clock;

// Polled: the answer is one small file, and a round trip to the coordinator takes milliseconds.
constexpr auto kPollInterval = std::chrono::milliseconds(2);

DecisionWait::Kind KindOf(StrategyAnswer::Decision decision) {
  switch (decision) {
    case StrategyAnswer::Decision::kStop: return DecisionWait::Kind::kStop;
    case StrategyAnswer::Decision::kPause: return DecisionWait::Kind::kPause;
    case StrategyAnswer::Decision::kContinue: break;
  }
  return DecisionWait::Kind::kContinue;
}

}  // namespace

DecisionWait::DecisionWait(std::string path, int64_t attempt, std::chrono::milliseconds timeout)
    : path_(std::move(path)), attempt_(attempt), timeout_(timeout) {
  StrategyAnswer answer;
  Read(&answer);
}

bool DecisionWait::Read(StrategyAnswer* answer) {
  const std::optional<std::string> text = ReadWholeFile(path_);
  if (!text) return false;
  StatusOr<StrategyAnswer> parsed = ParseStrategyAnswer(*text);
  // The worker replaces the file whole (a rename), so a parse failure is a foreign file, not a torn one.
  if (!parsed.ok() || parsed->attempt != attempt_) return false;
  *answer = *parsed;
  if (answer->step != seen_step_) seen_step_ = answer->step, next_step_ = answer->next_step;
  return true;
}

DecisionWait::Outcome DecisionWait::AtEvaluation(int64_t step, const std::atomic<bool>* stop_requested,
                                                 std::optional<Clock::time_point> not_after) {
  StrategyAnswer answer;
  const auto answers = [&] {
    return answer.step == step || (answer.step > step && answer.decision != StrategyAnswer::Decision::kContinue);
  };
  // The answer may be here already (the worker relayed the evaluation at once), or a late answer to
  // an earlier wait may have moved the next step on.
  if (Read(&answer) && answers()) return {KindOf(answer.decision), 0};
  if (next_step_ <= 0 || step < next_step_) return {};
  const auto start = Clock::now();
  const auto give_up = not_after ? std::min(start + timeout_, *not_after) : start + timeout_;
  const auto waited = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  for (;;) {
    if (Read(&answer) && answers()) return {KindOf(answer.decision), waited()};
    if (stop_requested && stop_requested->load()) return {Kind::kStopRequested, waited()};
    if (Clock::now() >= give_up) {
      next_step_ = 0;
      return {Kind::kTimedOut, waited()};
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

DecisionWait::Kind DecisionWait::Ended() {
  StrategyAnswer answer;
  if (Read(&answer) && answer.decision != StrategyAnswer::Decision::kContinue) return KindOf(answer.decision);
  return Kind::kContinue;
}

}  // namespace orchard::train
