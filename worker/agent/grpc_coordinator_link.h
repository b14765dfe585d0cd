// The worker agent's CoordinatorLink over gRPC: one channel to the coordinator (client/connection.h)
// carrying the worker's TLS settings and token, and a stub for each of its services.
//
//   std::unique_ptr<CoordinatorLink> link = MakeGrpcCoordinatorLink(options.coordinator, options.security);
//
// gRPC's status codes map onto StatusCode one to one where both have the code; the others (UNKNOWN,
// CANCELLED, RESOURCE_EXHAUSTED, ...) become Internal, which is no refusal, so the agent retries them.
#pragma once

#include <memory>
#include <string>

#include "client/connection.h"
#include "worker/agent/coordinator_link.h"

namespace orchard::worker {

// Connects lazily: no call is made until the agent makes one. Thread-safe.
std::unique_ptr<CoordinatorLink> MakeGrpcCoordinatorLink(const std::string& address,
                                                         const client::ClientSecurity& security);

}  // namespace orchard::worker
