// Counts and times every gRPC call by method and status code, for /metrics, through a server
// interceptor that sees each call's final status.
//
//   RpcMetrics metrics;
//   builder.experimental().SetInterceptorCreators(metrics.InterceptorFactories());
//   metrics.Write(page);
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "core/prometheus.h"

namespace orchard::coordinator {

class RpcMetrics {
 public:
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> InterceptorFactories();
  void Record(const std::string& method, const std::string& code, double seconds);
  void Write(std::string& out) const;

 private:
  CounterFamily calls_{"orchard_rpc_requests_total", "gRPC calls handled, by method and status code.",
                       {"method", "code"}};
  HistogramFamily seconds_{"orchard_rpc_duration_seconds", "Time from a gRPC call's arrival to its status, by method.",
                           {"method"}, LatencyBuckets()};
};

}  // namespace orchard::coordinator
