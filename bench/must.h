// A bench's set-up either works or ends the bench with the reason: a failed Status becomes an
// exception that main() prints.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include "core/status.h"

namespace orchard::bench {

template <typename T>
T Must(StatusOr<T> result, const std::string& what) {
  if (!result.ok()) throw std::runtime_error(what + ": " + result.status().message());
  return std::move(result).value();
}

inline void Must(const Status& status, const std::string& what) {
  if (!status.ok()) throw std::runtime_error(what + ": " + status.message());
}

}  // namespace orchard::bench
