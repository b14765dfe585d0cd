#include "cli/coordinator_calls.h"

#include <chrono>

#include "client/connection.h"
#include "core/clock.h"

namespace orchard::cli {

double Now() { return SystemClock().Now(); }

std::unique_ptr<grpc::ClientContext> Deadline(double seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  return context;
}

int PrintFailure(const grpc::Status& status, const std::string& coordinator, std::ostream& err) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      err << "orchard: cannot reach a coordinator at " << coordinator << " (" << status.error_message()
          << ").\nStart one with `orchard-coordinator`, pass --coordinator HOST:PORT (or set ORCHARD_COORDINATOR), "
             "or use `orchard run` to do everything on this machine.\n";
      return kExitUnreachable;
    case grpc::StatusCode::INVALID_ARGUMENT:
      err << "orchard: invalid request; nothing was changed:\n" << status.error_message() << "\n";
      return kExitBadInput;
    case grpc::StatusCode::NOT_FOUND:
      err << "orchard: " << status.error_message() << "\n";
      return kExitNotFound;
    case grpc::StatusCode::UNAUTHENTICATED:
      err << "orchard: the coordinator at " << coordinator << " did not accept our credentials: "
          << status.error_message() << "\n";
      return kExitDenied;
    case grpc::StatusCode::PERMISSION_DENIED:
      err << "orchard: not allowed: " << status.error_message() << "\n";
      return kExitDenied;
    case grpc::StatusCode::FAILED_PRECONDITION:
      err << "orchard: " << status.error_message() << "\n";
      return kExitError;
    default:
      err << "orchard: the coordinator answered " << status.error_code() << ": " << status.error_message() << "\n";
      return kExitError;
  }
}

CoordinatorCalls::CoordinatorCalls(const GlobalOptions& global)
    : global_(global), channel_(client::CreateCoordinatorChannel(global.coordinator, global.security)) {}

}  // namespace orchard::cli
