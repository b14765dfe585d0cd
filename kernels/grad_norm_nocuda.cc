// Stand-ins for builds without a CUDA toolkit: no device kernels exist, and callers are told so.
#include <cmath>

#include "kernels/grad_norm.h"

namespace orchard::kernels {

bool CudaKernelsAvailable() { return false; }

GradNormResult ClipGradNormCuda(const std::vector<FloatSpan>&, double) {
  return {std::nan(""), false, 1.0};
}

}  // namespace orchard::kernels
