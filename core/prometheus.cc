#include "core/prometheus.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace orchard {
namespace {

std::string EscapeLabelValue(const std::string& value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (char c : value) {
    if (c == '\\') escaped += "\\\\";
    else if (c == '"') escaped += "\\\"";
    else if (c == '\n') escaped += "\\n";
    else escaped += c;
  }
  return escaped;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // The shortest text that reads back as the same double: "0.005", not "0.0050000000000000001".
  char text[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

void WriteLabels(std::string& out, const PrometheusLabels& labels) {
  if (labels.empty()) return;
  out += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + '"';
  }
  out += '}';
}

void WriteHeader(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void WriteSample(std::string& out, const std::string& name, const PrometheusLabels& labels, double value) {
  out += name;
  WriteLabels(out, labels);
  out += ' ' + FormatValue(value) + '\n';
}

PrometheusLabels Zip(const std::vector<std::string>& names, const std::vector<std::string>& values) {
  PrometheusLabels labels;
  for (size_t i = 0; i < names.size(); ++i) labels.emplace_back(names[i], i < values.size() ? values[i] : "");
  return labels;
}

}  // namespace

void WriteGauges(std::string& out, const std::string& name, const std::string& help,
                 const std::vector<GaugeSample>& samples) {
  WriteHeader(out, name, help, "gauge");
  for (const GaugeSample& sample : samples) WriteSample(out, name, sample.labels, sample.value);
}

CounterFamily::CounterFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void CounterFamily::Add(const std::vector<std::string>& label_values, double amount) {
  std::lock_guard<std::mutex> lock(mu_);
  values_[label_values] += amount;
}

void CounterFamily::Write(std::string& out) const {
  WriteHeader(out, name_, help_, "counter");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [label_values, value] : values_) WriteSample(out, name_, Zip(label_names_, label_values), value);
}

HistogramFamily::HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                 std::vector<double> upper_bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {}

void HistogramFamily::Observe(const std::vector<std::string>& label_values, double value) {
  std::lock_guard<std::mutex> lock(mu_);
  Series& series = series_[label_values];
  if (series.bucket_counts.empty()) series.bucket_counts.assign(upper_bounds_.size(), 0);
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    if (value <= upper_bounds_[i]) {
      ++series.bucket_counts[i];
      break;
    }
  }
  ++series.count;
  series.sum += value;
}

void HistogramFamily::Write(std::string& out) const {
  WriteHeader(out, name_, help_, "histogram");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [label_values, series] : series_) {
    const PrometheusLabels labels = Zip(label_names_, label_values);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < upper_bounds_.size(); ++i) {
      cumulative += series.bucket_counts[i];
      PrometheusLabels with_bound = labels;
      with_bound.emplace_back("le", FormatValue(upper_bounds_[i]));
      WriteSample(out, name_ + "_bucket", with_bound, static_cast<double>(cumulative));
    }
    PrometheusLabels with_inf = labels;
    with_inf.emplace_back("le", "+Inf");
    WriteSample(out, name_ + "_bucket", with_inf, static_cast<double>(series.count));
    WriteSample(out, name_ + "_sum", labels, series.sum);
    WriteSample(out, name_ + "_count", labels, static_cast<double>(series.count));
  }
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> DurationBuckets() {
  return {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400};
}

}  // namespace orchard
