// Prometheus text exposition (format 0.0.4): counters and histograms that code updates as things
// happen, and gauges written at scrape time.
//
//   CounterFamily rpcs("orchard_rpc_requests_total", "gRPC calls handled.", {"method", "code"});
//   rpcs.Add({"SubmitSweep", "OK"});
//   HistogramFamily latency("orchard_rpc_duration_seconds", "...", {"method"}, LatencyBuckets());
//   latency.Observe({"SubmitSweep"}, 0.004);
//   std::string page;
//   rpcs.Write(page);
//   WriteGauges(page, "orchard_workers", "Workers by state.", {{{{"state", "alive"}}, 3}});
//
// Families are thread-safe. Label values are escaped; names are the caller's constants.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace orchard {

using PrometheusLabels = std::vector<std::pair<std::string, std::string>>;

struct GaugeSample {
  PrometheusLabels labels;
  double value = 0;
};

// `# HELP`, `# TYPE gauge` and one line per sample (no samples: the header only, which is valid).
void WriteGauges(std::string& out, const std::string& name, const std::string& help,
                 const std::vector<GaugeSample>& samples);

class CounterFamily {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);
  // `label_values` in the order of the family's label names.
  void Add(const std::vector<std::string>& label_values, double amount = 1);
  void Write(std::string& out) const;

 private:
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, double> values_;  // guarded by mu_
};

class HistogramFamily {
 public:
  // `upper_bounds` ascending; +Inf is implied.
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> upper_bounds);
  void Observe(const std::vector<std::string>& label_values, double value);
  void Write(std::string& out) const;

 private:
  struct Series {
    std::vector<uint64_t> bucket_counts;  // per upper bound, not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> upper_bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, Series> series_;  // guarded by mu_
};

// Seconds, for request and commit latencies: 0.5 ms to 10 s.
std::vector<double> LatencyBuckets();
// Seconds, for queue waits and trial durations: 1 s to 1 day.
std::vector<double> DurationBuckets();

}  // namespace orchard
