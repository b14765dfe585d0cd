#include "coordinator/server/caller.h"
#include "coordinator/server/services.h"

namespace orchard::coordinator {

Status WorkerServiceImpl::CallingWorker(const grpc::ServerContext& context) {
  ASSIGN_OR_RETURN(Principal caller, Caller(context, credentials_));
  // Without authentication the caller is the local admin, who runs its own workers.
  if (caller.role != Principal::Role::kWorker && credentials_ != nullptr)
    return PermissionDenied("only worker agents may call the worker service; start orchard-worker with a worker "
                            "token (`orchard-coordinator worker-token create` issues one)");
  return OkStatus();
}

grpc::Status WorkerServiceImpl::RegisterWorker(grpc::ServerContext* context, const v1::RegisterWorkerRequest* request,
                                               v1::RegisterWorkerResponse* response) {
  if (Status allowed = CallingWorker(*context); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.RegisterWorker(*request), response);
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* response) {
  if (Status allowed = CallingWorker(*context); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.Heartbeat(*request), response);
}

grpc::Status WorkerServiceImpl::LeaseAttempts(grpc::ServerContext* context, const v1::LeaseAttemptsRequest* request,
                                              v1::LeaseAttemptsResponse* response) {
  if (Status allowed = CallingWorker(*context); !allowed.ok()) return ToGrpcStatus(allowed);
  return Answer(coordinator_.LeaseAttempts(*request), response);
}

grpc::Status WorkerServiceImpl::ReportAttemptExit(grpc::ServerContext* context, const v1::ReportAttemptExitRequest* request,
                                                  v1::ReportAttemptExitResponse*) {
  if (Status allowed = CallingWorker(*context); !allowed.ok()) return ToGrpcStatus(allowed);
  return ToGrpcStatus(coordinator_.ReportAttemptExit(*request));
}

grpc::Status WorkerServiceImpl::DeregisterWorker(grpc::ServerContext* context, const v1::DeregisterWorkerRequest* request,
                                                 v1::DeregisterWorkerResponse*) {
  if (Status allowed = CallingWorker(*context); !allowed.ok()) return ToGrpcStatus(allowed);
  return ToGrpcStatus(coordinator_.DeregisterWorker(*request));
}

}  // namespace orchard::coordinator
