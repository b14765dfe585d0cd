#include "coordinator/server/caller.h"

namespace orchard::coordinator {

grpc::Status ToGrpcStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, status.message()};
    case StatusCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, status.message()};
    case StatusCode::kFailedPrecondition: return {grpc::StatusCode::FAILED_PRECONDITION, status.message()};
    case StatusCode::kPermissionDenied: return {grpc::StatusCode::PERMISSION_DENIED, status.message()};
    case StatusCode::kUnauthenticated: return {grpc::StatusCode::UNAUTHENTICATED, status.message()};
    case StatusCode::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, status.message()};
    case StatusCode::kAborted: return {grpc::StatusCode::ABORTED, status.message()};
    case StatusCode::kDeadlineExceeded: return {grpc::StatusCode::DEADLINE_EXCEEDED, status.message()};
    case StatusCode::kDataLoss: return {grpc::StatusCode::DATA_LOSS, status.message()};
    case StatusCode::kInternal: return {grpc::StatusCode::INTERNAL, status.message()};
  }
  return {grpc::StatusCode::UNKNOWN, status.message()};
}

StatusOr<Principal> Caller(const grpc::ServerContext& context, CredentialStore* credentials) {
  if (credentials == nullptr) return Principal{Principal::Role::kAdmin, kLocalUser};
  const auto& metadata = context.client_metadata();
  const auto header = metadata.find("authorization");
  if (header == metadata.end())
    return Unauthenticated("this coordinator requires a bearer token: pass --token-file FILE or set ORCHARD_TOKEN "
                           "(an admin issues tokens with `orchard-coordinator user add NAME`)");
  const auto token = BearerToken(std::string_view(header->second.data(), header->second.size()));
  if (!token) return Unauthenticated("the authorization metadata must be \"Bearer TOKEN\"");
  return credentials->Authenticate(*token);
}

StatusOr<Principal> CallingUser(const grpc::ServerContext& context, CredentialStore* credentials) {
  ASSIGN_OR_RETURN(Principal caller, Caller(context, credentials));
  if (!caller.is_user())
    return PermissionDenied("a worker token cannot use the sweep, schedule or registry services; use a user's token "
                            "(`orchard-coordinator user token NAME` issues one)");
  return caller;
}

Status MayAccess(const Principal& caller, const StatusOr<std::string>& owner, const std::string& what) {
  if (!owner.ok()) return owner.status();
  if (caller.is_admin() || *owner == caller.name) return OkStatus();
  return PermissionDenied(what + " belongs to another user; only its owner or an admin may see or change it");
}

}  // namespace orchard::coordinator
