#include "coordinator/server/rpc_metrics.h"

#include <chrono>

namespace orchard::coordinator {
namespace {

using grpc::experimental::InterceptionHookPoints;

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

class TimingInterceptor : public grpc::experimental::Interceptor {
 public:
  TimingInterceptor(grpc::experimental::ServerRpcInfo* info, RpcMetrics& metrics)
      : metrics_(metrics), start_(std::chrono::steady_clock::now()) {
    // "/orchard.v1.SweepService/SubmitSweep" -> "orchard.v1.SweepService/SubmitSweep"
    const std::string full = info->method() != nullptr ? info->method() : "unknown";
    method_ = full.empty() || full[0] != '/' ? full : full.substr(1);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      metrics_.Record(method_, CodeName(methods->GetSendStatus().error_code()), seconds);
    }
    methods->Proceed();
  }

 private:
  RpcMetrics& metrics_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
};

class TimingInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit TimingInterceptorFactory(RpcMetrics& metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new TimingInterceptor(info, metrics_);
  }

 private:
  RpcMetrics& metrics_;
};

}  // namespace

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> RpcMetrics::InterceptorFactories() {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<TimingInterceptorFactory>(*this));
  return factories;
}

void RpcMetrics::Record(const std::string& method, const std::string& code, double seconds) {
  calls_.Add({method, code});
  seconds_.Observe({method}, seconds);
}

void RpcMetrics::Write(std::string& out) const {
  calls_.Write(out);
  seconds_.Write(out);
}

}  // namespace orchard::coordinator
