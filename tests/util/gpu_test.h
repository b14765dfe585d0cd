// The rule for tests that need a GPU: without one they skip with a message, except where
// ORCHARD_REQUIRE_GPU=1 (scripts/gpu-check sets it). There a missing GPU fails the test, so a GPU
// machine whose CUDA runtime cannot start (a driver older than the toolkit, say) reports a failure
// instead of a run of skipped, passing tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

namespace orchard::testing {

inline bool GpuRequired() {
  const char* required = std::getenv("ORCHARD_REQUIRE_GPU");
  return required != nullptr && std::strcmp(required, "1") == 0;
}

}  // namespace orchard::testing

// In a test body or SetUp: skips (or fails, where a GPU is required) unless `have_gpu`.
#define ORCHARD_NEEDS_GPU(have_gpu, why)                                      \
  if (!(have_gpu)) {                                                          \
    if (::orchard::testing::GpuRequired()) FAIL() << (why) << " (ORCHARD_REQUIRE_GPU=1)"; \
    else GTEST_SKIP() << (why);                                               \
  }
