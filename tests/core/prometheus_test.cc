#include "core/prometheus.h"

#include <gtest/gtest.h>

namespace orchard {
namespace {

TEST(PrometheusTest, CountersSumPerLabelSetAndEscapeValues) {
  CounterFamily calls("x_calls_total", "Calls.", {"method", "code"});
  calls.Add({"Get", "OK"});
  calls.Add({"Get", "OK"}, 2);
  calls.Add({"say \"hi\"\\\n", "NOT_FOUND"});
  std::string page;
  calls.Write(page);
  EXPECT_EQ(page,
            "# HELP x_calls_total Calls.\n# TYPE x_calls_total counter\n"
            "x_calls_total{method=\"Get\",code=\"OK\"} 3\n"
            "x_calls_total{method=\"say \\\"hi\\\"\\\\\\n\",code=\"NOT_FOUND\"} 1\n");
}

TEST(PrometheusTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  HistogramFamily latency("x_seconds", "Latency.", {}, {0.005, 0.1});
  for (double value : {0.001, 0.005, 0.05, 3.0}) latency.Observe({}, value);
  std::string page;
  latency.Write(page);
  EXPECT_EQ(page,
            "# HELP x_seconds Latency.\n# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"0.005\"} 2\n"
            "x_seconds_bucket{le=\"0.1\"} 3\n"
            "x_seconds_bucket{le=\"+Inf\"} 4\n"
            "x_seconds_sum 3.056\n"
            "x_seconds_count 4\n");
}

TEST(PrometheusTest, GaugesWithoutSamplesWriteTheHeaderOnly) {
  std::string page;
  WriteGauges(page, "x_workers", "Workers.", {});
  WriteGauges(page, "x_slots", "Slots.", {{{{"state", "busy"}}, 2.5}});
  EXPECT_EQ(page,
            "# HELP x_workers Workers.\n# TYPE x_workers gauge\n"
            "# HELP x_slots Slots.\n# TYPE x_slots gauge\nx_slots{state=\"busy\"} 2.5\n");
}

}  // namespace
}  // namespace orchard
