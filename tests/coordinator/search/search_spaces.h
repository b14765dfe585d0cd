// Search-space dimensions for the strategy tests.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/search_space.h"

namespace orchard::coordinator {

inline ParameterSpace Values(std::string path, std::vector<std::string> values) {
  ParameterSpace p;
  p.path = std::move(path);
  p.kind = ParameterSpace::Kind::kValues;
  p.values = std::move(values);
  return p;
}

inline ParameterSpace Range(std::string path, ParameterSpace::Kind kind, double min, double max) {
  ParameterSpace p;
  p.path = std::move(path);
  p.kind = kind;
  p.min = min;
  p.max = max;
  return p;
}

// `p`, applying only when `parent` took one of `values`.
inline ParameterSpace When(ParameterSpace p, std::string parent, std::vector<std::string> values) {
  p.when.push_back({std::move(parent), std::move(values)});
  return p;
}

// The learning rate most sweeps search, log-uniform over [1e-4, 1e-1].
inline ParameterSpace LearningRate() { return Range("optimizer.lr", ParameterSpace::Kind::kLogUniform, 1e-4, 1e-1); }

}  // namespace orchard::coordinator
