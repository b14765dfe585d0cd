// A clock that tests move by hand, for the injected Clock (core/clock.h).
#pragma once

#include "core/clock.h"

namespace orchard::testing {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(double now = 1000) : now_(now) {}
  double Now() const override { return now_; }
  void Advance(double seconds) { now_ += seconds; }
  void Set(double unix_seconds) { now_ = unix_seconds; }

 private:
  double now_;
};

}  // namespace orchard::testing
