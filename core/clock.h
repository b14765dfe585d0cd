// Wall-clock time, injected so that tests can move it by hand (the coordinator reads it only here).
#pragma once

#include <chrono>

namespace orchard {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch.
  virtual double Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  double Now() const override {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
};

}  // namespace orchard
