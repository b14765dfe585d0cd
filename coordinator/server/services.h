// The gRPC services: thin adapters that turn requests into Coordinator calls and Status into gRPC
// status codes, one .cc file per service (sweep_service.cc, ...). Thread-safe (the Coordinator
// serialises state changes).
//
// Every call is checked against its caller. With a CredentialStore (authentication on), the call's
// "authorization: Bearer TOKEN" metadata names the caller, and a missing, unknown or revoked token is
// UNAUTHENTICATED: the sweep, schedule and registry services need a user's token and show a user
// only their own sweeps, schedules and models (admins see all; others' are PERMISSION_DENIED), and
// the worker service needs a worker token.
// Without one (the loopback default) every caller is the admin "local". Trial reports are authorised
// by their attempt's token in the request, whatever the mode.
#pragma once

#include <grpcpp/grpcpp.h>

#include "coordinator/coordinator.h"
#include "coordinator/access/credential_store.h"
#include "orchard/v1/schedule_service.grpc.pb.h"
#include "orchard/v1/registry_service.grpc.pb.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "orchard/v1/trial_service.grpc.pb.h"
#include "orchard/v1/worker_service.grpc.pb.h"

namespace orchard::coordinator {

class SweepServiceImpl final : public v1::SweepService::Service {
 public:
  // `credentials` null: authentication off.
  SweepServiceImpl(Coordinator& coordinator, CredentialStore* credentials)
      : coordinator_(coordinator), credentials_(credentials) {}
  grpc::Status SubmitSweep(grpc::ServerContext*, const v1::SubmitSweepRequest*, v1::SubmitSweepResponse*) override;
  grpc::Status GetSweep(grpc::ServerContext*, const v1::GetSweepRequest*, v1::Sweep*) override;
  grpc::Status ListSweeps(grpc::ServerContext*, const v1::ListSweepsRequest*, v1::ListSweepsResponse*) override;
  grpc::Status CancelSweep(grpc::ServerContext*, const v1::CancelSweepRequest*, v1::Sweep*) override;
  grpc::Status ListTrials(grpc::ServerContext*, const v1::ListTrialsRequest*, v1::ListTrialsResponse*) override;
  grpc::Status GetTrialMetrics(grpc::ServerContext*, const v1::GetTrialMetricsRequest*,
                               v1::GetTrialMetricsResponse*) override;
  grpc::Status GetBestTrial(grpc::ServerContext*, const v1::GetBestTrialRequest*, v1::Trial*) override;
  grpc::Status GetTrialLog(grpc::ServerContext*, const v1::GetTrialLogRequest*, v1::GetTrialLogResponse*) override;
  grpc::Status GetTrialLineage(grpc::ServerContext*, const v1::GetTrialLineageRequest*, v1::TrialLineage*) override;
  grpc::Status WatchSweep(grpc::ServerContext*, const v1::WatchSweepRequest*,
                          grpc::ServerWriter<v1::SweepEvent>*) override;
  grpc::Status ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*, v1::ListWorkersResponse*) override;
  grpc::Status GetSweepReport(grpc::ServerContext*, const v1::GetSweepReportRequest*,
                              v1::GetSweepReportResponse*) override;

 private:
  StatusOr<Principal> CallingUser(const grpc::ServerContext& context);
  // OK when the caller is the sweep's (or the trial's sweep's) owner or an admin.
  Status MayAccessSweep(const grpc::ServerContext& context, int64_t sweep_id);
  Status MayAccessTrial(const grpc::ServerContext& context, int64_t trial_id);

  Coordinator& coordinator_;
  CredentialStore* credentials_;
};

class ScheduleServiceImpl final : public v1::ScheduleService::Service {
 public:
  // `credentials` null: authentication off.
  ScheduleServiceImpl(Coordinator& coordinator, CredentialStore* credentials)
      : coordinator_(coordinator), credentials_(credentials) {}
  grpc::Status AddSchedule(grpc::ServerContext*, const v1::AddScheduleRequest*, v1::AddScheduleResponse*) override;
  grpc::Status ListSchedules(grpc::ServerContext*, const v1::ListSchedulesRequest*, v1::ListSchedulesResponse*) override;
  grpc::Status GetSchedule(grpc::ServerContext*, const v1::GetScheduleRequest*, v1::ScheduleDetails*) override;
  grpc::Status PauseSchedule(grpc::ServerContext*, const v1::PauseScheduleRequest*, v1::Schedule*) override;
  grpc::Status ResumeSchedule(grpc::ServerContext*, const v1::ResumeScheduleRequest*, v1::Schedule*) override;
  grpc::Status RemoveSchedule(grpc::ServerContext*, const v1::RemoveScheduleRequest*, v1::RemoveScheduleResponse*) override;
  grpc::Status RunScheduleNow(grpc::ServerContext*, const v1::RunScheduleNowRequest*, v1::ScheduleRun*) override;

 private:
  // OK when the caller owns the schedule or is an admin.
  Status MayAccessSchedule(const grpc::ServerContext& context, const std::string& name);

  Coordinator& coordinator_;
  CredentialStore* credentials_;
};

class ModelRegistryServiceImpl final : public v1::ModelRegistryService::Service {
 public:
  // `credentials` null: authentication off.
  ModelRegistryServiceImpl(Coordinator& coordinator, CredentialStore* credentials)
      : coordinator_(coordinator), credentials_(credentials) {}
  grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest*, v1::ListModelsResponse*) override;
  grpc::Status GetModel(grpc::ServerContext*, const v1::GetModelRequest*, v1::Model*) override;
  grpc::Status PromoteTrial(grpc::ServerContext*, const v1::PromoteTrialRequest*, v1::Model*) override;
  grpc::Status RollbackModel(grpc::ServerContext*, const v1::RollbackModelRequest*, v1::Model*) override;

 private:
  // The caller, when they own `model` or are an admin.
  StatusOr<Principal> MayAccessModel(const grpc::ServerContext& context, const std::string& model);

  Coordinator& coordinator_;
  CredentialStore* credentials_;
};

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  // `credentials` null: authentication off.
  WorkerServiceImpl(Coordinator& coordinator, CredentialStore* credentials)
      : coordinator_(coordinator), credentials_(credentials) {}
  grpc::Status RegisterWorker(grpc::ServerContext*, const v1::RegisterWorkerRequest*,
                              v1::RegisterWorkerResponse*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*, v1::HeartbeatResponse*) override;
  grpc::Status LeaseAttempts(grpc::ServerContext*, const v1::LeaseAttemptsRequest*, v1::LeaseAttemptsResponse*) override;
  grpc::Status ReportAttemptExit(grpc::ServerContext*, const v1::ReportAttemptExitRequest*,
                                 v1::ReportAttemptExitResponse*) override;
  grpc::Status DeregisterWorker(grpc::ServerContext*, const v1::DeregisterWorkerRequest*,
                                v1::DeregisterWorkerResponse*) override;

 private:
  Status CallingWorker(const grpc::ServerContext& context);

  Coordinator& coordinator_;
  CredentialStore* credentials_;
};

class TrialServiceImpl final : public v1::TrialService::Service {
 public:
  explicit TrialServiceImpl(Coordinator& coordinator) : coordinator_(coordinator) {}
  grpc::Status ReportMetrics(grpc::ServerContext*, const v1::ReportMetricsRequest*, v1::ReportMetricsResponse*) override;
  grpc::Status ReportMetricsBatch(grpc::ServerContext*, const v1::ReportMetricsBatchRequest*,
                                  v1::ReportMetricsBatchResponse*) override;
  grpc::Status ReportCheckpoint(grpc::ServerContext*, const v1::ReportCheckpointRequest*,
                                v1::ReportCheckpointResponse*) override;

 private:
  Coordinator& coordinator_;
};

}  // namespace orchard::coordinator
