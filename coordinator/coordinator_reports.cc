// The Coordinator's trial reports: metrics and checkpoints, authorised by their attempt's token.
#include "coordinator/coordinator.h"

#include "coordinator/request_validation.h"

namespace orchard::coordinator {
namespace {

// The decision a trainer gets in the answer to its reports.
v1::Decision DecisionFor(const AttemptRecord& attempt) {
  if (attempt.state == "running") return v1::DECISION_CONTINUE;
  return attempt.stop_reason == "paused" ? v1::DECISION_PAUSE : v1::DECISION_STOP;
}

}  // namespace

StatusOr<AttemptRecord> Coordinator::AuthorizeReport(int64_t attempt_id, const std::string& token) {
  auto attempt = store_->LoadAttempt(attempt_id);
  if (!attempt.ok() || !TokensEqual(attempt->token_hash, HashToken(token)))
    return Unauthenticated("the token does not authorise reports for attempt " + std::to_string(attempt_id) +
                           " (use the token from the attempt's lease)");
  if (!attempt->active())
    return FailedPrecondition("attempt " + std::to_string(attempt_id) + " has already ended; stop reporting");
  return attempt;
}

StatusOr<v1::ReportMetricsResponse> Coordinator::ReportMetrics(const v1::ReportMetricsRequest& request) {
  RETURN_IF_ERROR(ValidateMetrics(request));
  WriteScope write(*this);
  ASSIGN_OR_RETURN(v1::ReportMetricsResponse response, ReportMetricsLocked(request));
  RETURN_IF_ERROR(write.Commit());
  return response;
}

StatusOr<std::vector<StatusOr<v1::ReportMetricsResponse>>> Coordinator::ReportMetricsBatch(
    const v1::ReportMetricsBatchRequest& request) {
  if (request.reports_size() > kMaxReportsPerBatch)
    return InvalidArgument("reports: " + std::to_string(request.reports_size()) + " in one batch; at most " +
                           std::to_string(kMaxReportsPerBatch) + " are allowed, send them in several batches");
  std::vector<Status> validity;
  for (const v1::ReportMetricsRequest& report : request.reports()) validity.push_back(ValidateMetrics(report));
  std::vector<StatusOr<v1::ReportMetricsResponse>> outcomes;
  if (request.reports().empty()) return outcomes;
  WriteScope write(*this);
  for (int i = 0; i < request.reports_size(); ++i)
    outcomes.push_back(validity[i].ok() ? ReportMetricsLocked(request.reports(i))
                                        : StatusOr<v1::ReportMetricsResponse>(validity[i]));
  RETURN_IF_ERROR(write.Commit());
  return outcomes;
}

StatusOr<v1::ReportMetricsResponse> Coordinator::ReportMetricsLocked(const v1::ReportMetricsRequest& request) {
  ASSIGN_OR_RETURN(AttemptRecord attempt, AuthorizeReport(request.attempt_id(), request.token()));
  StrategyTransaction tx(*this);
  RETURN_IF_ERROR(tx.status());
  std::vector<v1::MetricPoint> points(request.points().begin(), request.points().end());
  RETURN_IF_ERROR(store_->InsertMetrics(attempt.trial_id, points));
  int64_t last_step = 0;
  const v1::MetricPoint* objective = nullptr;
  auto sweep = sweeps_.find(attempt.sweep_id);
  for (const v1::MetricPoint& p : points) {
    last_step = std::max(last_step, p.step());
    if (sweep != sweeps_.end() && p.name() == sweep->second.spec.metric && (!objective || p.step() >= objective->step()))
      objective = &p;
  }
  RETURN_IF_ERROR(store_->RecordLastStep(attempt.trial_id, last_step));
  // Only the strategy, judging the objective, can change the attempt (stop or pause it) under this
  // lock; without that, the attempt as authorised is still what it is.
  const bool judged = objective != nullptr && attempt.trial_number != kChampionEvaluationTrial;
  if (objective) {
    RETURN_IF_ERROR(store_->RecordObjective(attempt.trial_id, objective->step(), objective->value()));
    if (judged)
      RETURN_IF_ERROR(HandleSearchEvent(attempt.sweep_id,
                                        ValidationReported{attempt.trial_number, objective->step(), objective->value()}));
  }
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  v1::ReportMetricsResponse response;
  response.set_decided_step(judged ? objective->step() : -1);
  response.set_next_decision_step(kNoDecision);
  if (judged) {
    ASSIGN_OR_RETURN(attempt, store_->LoadAttempt(attempt.id));
    // Looked up again: the event may have ended the sweep.
    const auto active = sweeps_.find(attempt.sweep_id);
    if (attempt.state == "running" && active != sweeps_.end() && active->second.search_outcome.empty())
      response.set_next_decision_step(active->second.strategy->NextDecisionStep(attempt.trial_number, objective->step()));
  }
  response.set_decision(DecisionFor(attempt));
  return response;
}

StatusOr<v1::Decision> Coordinator::ReportCheckpoint(const v1::ReportCheckpointRequest& request) {
  RETURN_IF_ERROR(ValidateCheckpoint(request));
  WriteScope write(*this);
  ASSIGN_OR_RETURN(AttemptRecord attempt, AuthorizeReport(request.attempt_id(), request.token()));
  Transaction tx = store_->Begin();
  RETURN_IF_ERROR(tx.status());
  RETURN_IF_ERROR(store_->RecordCheckpoint(attempt.trial_id, request.path()));
  RETURN_IF_ERROR(tx.Commit());
  Changed();
  RETURN_IF_ERROR(write.Commit());
  return DecisionFor(attempt);
}

}  // namespace orchard::coordinator
