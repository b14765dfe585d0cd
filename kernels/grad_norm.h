// Gradient utilities: one pass over all gradients that returns the global L2 norm, flags any
// non-finite value, and scales the gradients so that the norm is at most `max_norm`.
//
//   std::vector<FloatSpan> grads = ...;            // fp32 buffers, host or device
//   GradNormResult r = ClipGradNormCpu(grads, 1.0);
//   if (!r.finite) ...                             // diverged: nothing was scaled
//
// Each kernel has a CPU twin with the same semantics (the reference in tests). No torch types.
// Functions are thread-compatible: callers must not touch the buffers concurrently.
#pragma once

#include <cstdint>
#include <vector>

namespace orchard::kernels {

struct FloatSpan {
  float* data;
  int64_t size;  // elements; 64-bit so tensors over 2^31 elements are addressed correctly
};

struct GradNormResult {
  double norm = 0;      // L2 norm over all buffers before clipping (inf/nan when not finite)
  bool finite = true;   // false if any element is inf or nan
  double scale = 1.0;   // the factor applied (1 when no clipping happened)
};

// max_norm <= 0: measure only. Buffers are scaled only when the norm is finite and above max_norm.
GradNormResult ClipGradNormCpu(const std::vector<FloatSpan>& grads, double max_norm);

// Same on device buffers (CUDA): one reduction launch, one host sync, one scaling launch when needed.
// Returns finite=false with norm=nan and scales nothing if CUDA is not compiled in (see
// CudaKernelsAvailable).
GradNormResult ClipGradNormCuda(const std::vector<FloatSpan>& grads, double max_norm);

// Whether this build has the CUDA kernels and a device to run them on.
bool CudaKernelsAvailable();

}  // namespace orchard::kernels
