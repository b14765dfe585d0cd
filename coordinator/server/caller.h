// What every service checks about its caller, and how a Status becomes a gRPC status.
//
// With a CredentialStore (authentication on), the call's "authorization: Bearer TOKEN" metadata
// names the caller; without one (the loopback default) every caller is the admin "local".
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "coordinator/access/auth.h"
#include "coordinator/access/credential_store.h"
#include "core/status.h"

namespace orchard::coordinator {

grpc::Status ToGrpcStatus(const Status& status);

// The caller the call's bearer token names; the local admin when authentication is off.
StatusOr<Principal> Caller(const grpc::ServerContext& context, CredentialStore* credentials);

// The caller, who must be a user (or admin): the CLI-facing services refuse worker tokens.
StatusOr<Principal> CallingUser(const grpc::ServerContext& context, CredentialStore* credentials);

// OK when `caller` is an admin or `owner`; `what` names the thing ("sweep 3") in the refusal.
Status MayAccess(const Principal& caller, const StatusOr<std::string>& owner, const std::string& what);

// Copies a StatusOr's value into the response, or converts its error.
template <typename T, typename Response>
grpc::Status Answer(StatusOr<T> result, Response* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(result).value();
  return grpc::Status::OK;
}

}  // namespace orchard::coordinator
