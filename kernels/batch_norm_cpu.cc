// Batch norm over the channel planes of an image batch on the CPU, with the residual and ReLU that
// follow it in the cnn's blocks taken in the same pass (forward and backward).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/internal.h"

namespace orchard::kernels {
namespace {

// Eight lanes, written as GCC vectors so that every clone (AVX-512, AVX2, baseline) computes the same
// lane-wise arithmetic: the compiler does not vectorize reductions into double lanes on its own.
constexpr int kLanes = 8;
typedef float Floats __attribute__((vector_size(kLanes * sizeof(float))));
typedef double Doubles __attribute__((vector_size(kLanes * sizeof(double))));
// Everything that handles lanes is inlined into the cloned entry points, so it is compiled for each
// clone's instruction set (out of line it would be baseline x86-64 code).
#define ORCHARD_LANES [[gnu::always_inline]] inline

ORCHARD_LANES Floats Load(const float* p) {
  Floats v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
ORCHARD_LANES Doubles Widen(Floats v) { return __builtin_convertvector(v, Doubles); }
ORCHARD_LANES double Total(Doubles lanes) {
  double total = 0;
  for (int j = 0; j < kLanes; ++j) total += lanes[j];
  return total;
}

// The gradient that reaches the normalised value: none where ReLU cut the output (y <= 0, as
// LibTorch's threshold_backward decides).
template <bool kRelu>
ORCHARD_LANES Floats Reaching(Floats grad_y, Floats y) {
  if constexpr (kRelu) return y <= 0.0f ? Floats{} : grad_y;
  return grad_y;
}
// One value's, for the channels-last loops (vectorised by the compiler: see CMakeLists.txt).
template <bool kRelu>
ORCHARD_LANES float Reaching(float grad_y, float y) {
  if constexpr (kRelu) return y <= 0.0f ? 0.0f : grad_y;
  return grad_y;
}

// Channels first, a block of channels is walked sample by sample: the rows of a sample's channels lie
// next to each other, where one channel's rows lie a sample apart (a power of two in bytes, often,
// which maps them to the same cache sets). A channel's sums still take its rows in sample order, in
// whole rows of kLanes values and then the plane's tail, always in the same lanes: its result depends
// only on its values and the plane's length, not on its place, the block or the thread.
constexpr int64_t kMaxChannelsFirstBlock = 64;
// Channels last, a block's channels share each row's cache lines, and whole rows stream fastest: 256
// channels a block took about two thirds of 64's time over a fused group's 32 x 256 x 8 x 8. With
// several threads the channels are split between them, in blocks of whole cache lines.
constexpr int64_t kMaxBlock = 256, kRowsBlockQuantum = 16;
struct ChannelBlock {
  const BatchNormShape& s;
  int64_t begin, end;
  int64_t blocked() const { return s.plane / kLanes * kLanes; }
  int64_t base(int64_t n, int64_t c) const { return (n * s.channels + c) * s.plane; }
};

// Channels per block: channels first, a block's values about 64 KB per array, so that its later
// passes find them in cache; channels last, a thread's share, as many as a block takes.
int64_t BlockChannels(const BatchNormShape& s) {
  if (s.channels_last) {
    const int64_t threads = detail::ParallelThreads();
    const int64_t share = (s.channels + threads - 1) / threads;
    return std::clamp<int64_t>((share + kRowsBlockQuantum - 1) / kRowsBlockQuantum * kRowsBlockQuantum,
                               kRowsBlockQuantum, kMaxBlock);
  }
  const int64_t per_channel = s.batch * s.plane;
  return std::clamp<int64_t>(per_channel == 0 ? kMaxChannelsFirstBlock : 16384 / per_channel, 1, kMaxChannelsFirstBlock);
}

// y = x * scale + shift for each channel of the block, as LibTorch's batch norm computes it, from the
// float statistics (batch or running alike); also writes inv_std for the backward pass.
ORCHARD_LANES void ScaleAndShift(const ChannelBlock& b, float eps, const float* weight, const float* bias,
                                 const ChannelStatistics& stats, float* scale, float* shift) {
  for (int64_t k = 0; k < b.end - b.begin; ++k) {
    const int64_t c = b.begin + k;
    const double inv_std = 1.0 / std::sqrt(static_cast<double>(stats.variance[c]) + eps);
    stats.inv_std[c] = static_cast<float>(inv_std);
    scale[k] = static_cast<float>(inv_std) * (weight != nullptr ? weight[c] : 1.0f);
    shift[k] = (bias != nullptr ? bias[c] : 0.0f) - stats.mean[c] * scale[k];
  }
}

// From each channel's sums of the gradient reaching the normalised value and of that gradient times
// the centred input: the weight's and bias's gradients and the input gradient's coefficients,
// grad_x = ((g - mean_grad) - (x - mean) * centered_grad) * scale.
struct InputGradient {
  float scale[kMaxBlock], mean_grad[kMaxBlock], centered_grad[kMaxBlock];
};
ORCHARD_LANES void GradientCoefficients(const ChannelBlock& b, bool batch_statistics, const float* weight,
                                        const ChannelStatistics& stats, const double* sums, const double* centered_sums,
                                        float* grad_weight, float* grad_bias, InputGradient& out) {
  const double count = static_cast<double>(b.s.batch * b.s.plane);
  for (int64_t k = 0; k < b.end - b.begin; ++k) {
    const int64_t c = b.begin + k;
    const float inv_std = stats.inv_std[c];
    const double sum = sums[k], sum_centered = centered_sums[k];
    if (grad_weight != nullptr) grad_weight[c] = static_cast<float>(sum_centered * inv_std);
    if (grad_bias != nullptr) grad_bias[c] = static_cast<float>(sum);
    out.scale[k] = inv_std * (weight != nullptr ? weight[c] : 1.0f);
    // With batch statistics the mean and variance depend on every value too: their share is taken off.
    out.mean_grad[k] = batch_statistics ? static_cast<float>(sum / count) : 0.0f;
    out.centered_grad[k] =
        batch_statistics ? static_cast<float>(sum_centered / count * static_cast<double>(inv_std) * inv_std) : 0.0f;
  }
}

template <bool kRelu>
ORCHARD_LANES void ForwardBlock(const float* __restrict x, const ChannelBlock& b, bool batch_statistics, float eps,
                                const float* weight, const float* bias, const float* __restrict residual,
                                const ChannelStatistics& stats, float* __restrict y) {
  const BatchNormShape& s = b.s;
  const int64_t blocked = b.blocked(), channels = b.end - b.begin;
  float scale[kMaxBlock], shift[kMaxBlock];
  if (batch_statistics) {
    const double count = static_cast<double>(s.batch * s.plane);
    Doubles sums[kMaxChannelsFirstBlock] = {};
    for (int64_t n = 0; n < s.batch; ++n) {
      for (int64_t k = 0; k < channels; ++k) {
        const float* row = x + b.base(n, b.begin + k);
        Doubles& sum = sums[k];
        for (int64_t p = 0; p < blocked; p += kLanes) sum += Widen(Load(row + p));
        for (int64_t p = blocked; p < s.plane; ++p) sum[p - blocked] += row[p];
      }
    }
    double mean[kMaxBlock];
    for (int64_t k = 0; k < channels; ++k) mean[k] = Total(sums[k]) / count, sums[k] = Doubles{};
    for (int64_t n = 0; n < s.batch; ++n) {
      for (int64_t k = 0; k < channels; ++k) {
        const float* row = x + b.base(n, b.begin + k);
        Doubles& squares = sums[k];
        for (int64_t p = 0; p < blocked; p += kLanes) {
          const Doubles d = Widen(Load(row + p)) - mean[k];
          squares += d * d;
        }
        for (int64_t p = blocked; p < s.plane; ++p) squares[p - blocked] += (row[p] - mean[k]) * (row[p] - mean[k]);
      }
    }
    for (int64_t k = 0; k < channels; ++k) {
      stats.mean[b.begin + k] = static_cast<float>(mean[k]);
      stats.variance[b.begin + k] = static_cast<float>(Total(sums[k]) / count);
    }
  }
  ScaleAndShift(b, eps, weight, bias, stats, scale, shift);
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t k = 0; k < channels; ++k) {
      const int64_t base = b.base(n, b.begin + k);
      for (int64_t p = 0; p < s.plane; ++p) {
        float v = x[base + p] * scale[k] + shift[k];
        if (residual != nullptr) v += residual[base + p];
        // `v < 0`, not `v > 0`: a NaN passes through, as LibTorch's relu lets it (divergence shows).
        y[base + p] = kRelu && v < 0 ? 0.0f : v;
      }
    }
  }
}

template <bool kRelu>
ORCHARD_LANES void BackwardBlock(const float* __restrict grad_y, const float* __restrict y, const float* __restrict x,
                                 const ChannelBlock& b, bool batch_statistics, const float* weight,
                                 const ChannelStatistics& stats, float* __restrict grad_x,
                                 float* __restrict grad_residual, float* grad_weight, float* grad_bias) {
  const BatchNormShape& s = b.s;
  const int64_t blocked = b.blocked(), channels = b.end - b.begin;
  // Per channel: the sums of the gradient and of the gradient times the centred input.
  Doubles sums[kMaxChannelsFirstBlock] = {}, centered_sums[kMaxChannelsFirstBlock] = {};
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t k = 0; k < channels; ++k) {
      const int64_t base = b.base(n, b.begin + k);
      const float mean = stats.mean[b.begin + k];
      Doubles &sum = sums[k], &centered = centered_sums[k];
      for (int64_t p = 0; p < blocked; p += kLanes) {
        // The product in float, its sum in double: each term is within an ulp, and the sum keeps them.
        const Floats g = Reaching<kRelu>(Load(grad_y + base + p), kRelu ? Load(y + base + p) : Floats{});
        sum += Widen(g);
        centered += Widen(g * (Load(x + base + p) - mean));
      }
      for (int64_t p = blocked; p < s.plane; ++p) {
        const float g = kRelu && y[base + p] <= 0 ? 0.0f : grad_y[base + p];
        sum[p - blocked] += g;
        centered[p - blocked] += g * (x[base + p] - mean);
      }
    }
  }
  double sum[kMaxBlock], centered[kMaxBlock];
  for (int64_t k = 0; k < channels; ++k) sum[k] = Total(sums[k]), centered[k] = Total(centered_sums[k]);
  InputGradient q;
  GradientCoefficients(b, batch_statistics, weight, stats, sum, centered, grad_weight, grad_bias, q);
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t k = 0; k < channels; ++k) {
      const int64_t base = b.base(n, b.begin + k);
      const float mean = stats.mean[b.begin + k];
      for (int64_t p = 0; p < s.plane; ++p) {
        const int64_t i = base + p;
        const float g = kRelu && y[i] <= 0 ? 0.0f : grad_y[i];
        if (grad_residual != nullptr) grad_residual[i] = g;
        if (grad_x != nullptr) grad_x[i] = ((g - q.mean_grad[k]) - (x[i] - mean) * q.centered_grad[k]) * q.scale[k];
      }
    }
  }
}

// Channels last: each of the batch * plane rows holds every channel side by side, so a block of
// channels is walked row by row, the block's channels of a row in one elementwise (vectorised) pass.
// A channel's sums take its values in row order, in double: its result depends only on its values,
// not on its place, the block or the thread.
template <bool kRelu>
ORCHARD_LANES void ForwardRows(const float* __restrict x, const ChannelBlock& b, bool batch_statistics, float eps,
                               const float* weight, const float* bias, const float* __restrict residual,
                               const ChannelStatistics& stats, float* __restrict y) {
  const BatchNormShape& s = b.s;
  const int64_t rows = s.batch * s.plane, channels = b.end - b.begin;
  if (batch_statistics) {
    // One pass over the values, centred on the first row's (a value of the channel, so the sums do not
    // cancel the way raw sums of squares would): the variance is the centred values' mean square less
    // their mean's square, in double.
    double origin[kMaxBlock], sum[kMaxBlock] = {}, squares[kMaxBlock] = {};
    for (int64_t k = 0; k < channels; ++k) origin[k] = rows > 0 ? x[b.begin + k] : 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = x + r * s.channels + b.begin;
      for (int64_t k = 0; k < channels; ++k) {
        const double d = row[k] - origin[k];
        sum[k] += d;
        squares[k] += d * d;
      }
    }
    for (int64_t k = 0; k < channels; ++k) {
      const double offset = sum[k] / static_cast<double>(rows);
      stats.mean[b.begin + k] = static_cast<float>(origin[k] + offset);
      stats.variance[b.begin + k] = static_cast<float>(std::max(squares[k] / static_cast<double>(rows) - offset * offset, 0.0));
    }
  }
  float scale[kMaxBlock], shift[kMaxBlock];
  ScaleAndShift(b, eps, weight, bias, stats, scale, shift);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = r * s.channels + b.begin;
    for (int64_t k = 0; k < channels; ++k) {
      float v = x[base + k] * scale[k] + shift[k];
      if (residual != nullptr) v += residual[base + k];
      y[base + k] = kRelu && v < 0 ? 0.0f : v;  // a NaN passes, as in ForwardBlock
    }
  }
}

template <bool kRelu>
ORCHARD_LANES void BackwardRows(const float* __restrict grad_y, const float* __restrict y, const float* __restrict x,
                                const ChannelBlock& b, bool batch_statistics, const float* weight,
                                const ChannelStatistics& stats, float* __restrict grad_x,
                                float* __restrict grad_residual, float* grad_weight, float* grad_bias) {
  const BatchNormShape& s = b.s;
  const int64_t rows = s.batch * s.plane, channels = b.end - b.begin;
  const float* mean = stats.mean + b.begin;
  double sum[kMaxBlock] = {}, centered[kMaxBlock] = {};
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = r * s.channels + b.begin;
    for (int64_t k = 0; k < channels; ++k) {
      const float g = Reaching<kRelu>(grad_y[base + k], kRelu ? y[base + k] : 0.0f);
      sum[k] += g;
      centered[k] += g * (x[base + k] - mean[k]);  // the product in float, as in BackwardBlock
    }
  }
  InputGradient q;
  GradientCoefficients(b, batch_statistics, weight, stats, sum, centered, grad_weight, grad_bias, q);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = r * s.channels + b.begin;
    for (int64_t k = 0; k < channels; ++k) {
      const float g = Reaching<kRelu>(grad_y[base + k], kRelu ? y[base + k] : 0.0f);
      if (grad_residual != nullptr) grad_residual[base + k] = g;
      if (grad_x != nullptr) grad_x[base + k] = ((g - q.mean_grad[k]) - (x[base + k] - mean[k]) * q.centered_grad[k]) * q.scale[k];
    }
  }
}

ORCHARD_CPU_CLONES void Forward(const float* x, const ChannelBlock& b, bool batch_statistics, float eps,
                                const float* weight, const float* bias, const float* residual, bool relu,
                                const ChannelStatistics& stats, float* y) {
  if (b.s.channels_last) {
    if (relu) {
      ForwardRows<true>(x, b, batch_statistics, eps, weight, bias, residual, stats, y);
    } else {
      ForwardRows<false>(x, b, batch_statistics, eps, weight, bias, residual, stats, y);
    }
  } else if (relu) {
    ForwardBlock<true>(x, b, batch_statistics, eps, weight, bias, residual, stats, y);
  } else {
    ForwardBlock<false>(x, b, batch_statistics, eps, weight, bias, residual, stats, y);
  }
}

ORCHARD_CPU_CLONES void Backward(const float* grad_y, const float* y, const float* x, const ChannelBlock& b,
                                 bool batch_statistics, const float* weight, const ChannelStatistics& stats,
                                 float* grad_x, float* grad_residual, float* grad_weight, float* grad_bias) {
  if (b.s.channels_last) {
    if (y != nullptr) {
      BackwardRows<true>(grad_y, y, x, b, batch_statistics, weight, stats, grad_x, grad_residual, grad_weight, grad_bias);
    } else {
      BackwardRows<false>(grad_y, y, x, b, batch_statistics, weight, stats, grad_x, grad_residual, grad_weight, grad_bias);
    }
  } else if (y != nullptr) {
    BackwardBlock<true>(grad_y, y, x, b, batch_statistics, weight, stats, grad_x, grad_residual, grad_weight, grad_bias);
  } else {
    BackwardBlock<false>(grad_y, y, x, b, batch_statistics, weight, stats, grad_x, grad_residual, grad_weight, grad_bias);
  }
}

// Runs fn(block) for every block of channels on the CPU threads.
template <typename Fn>
void ForEachBlock(const BatchNormShape& s, Fn fn) {
  const int64_t per_block = BlockChannels(s);
  const int64_t blocks = (s.channels + per_block - 1) / per_block;
  detail::ParallelFor(blocks, s.batch * s.channels * s.plane, [&](int64_t i) {
    fn(ChannelBlock{s, i * per_block, std::min(s.channels, (i + 1) * per_block)});
  });
}

}  // namespace

void BatchNormForwardCpu(const float* x, BatchNormShape shape, bool batch_statistics, float eps, const float* weight,
                         const float* bias, const float* residual, bool relu, ChannelStatistics stats, float* y) {
  ForEachBlock(shape, [&](const ChannelBlock& b) {
    Forward(x, b, batch_statistics, eps, weight, bias, residual, relu, stats, y);
  });
}

void BatchNormBackwardCpu(const float* grad_y, const float* y, const float* x, BatchNormShape shape, bool batch_statistics,
                          const float* weight, ChannelStatistics stats, float* grad_x, float* grad_residual,
                          float* grad_weight, float* grad_bias) {
  ForEachBlock(shape, [&](const ChannelBlock& b) {
    Backward(grad_y, y, x, b, batch_statistics, weight, stats, grad_x, grad_residual, grad_weight, grad_bias);
  });
}

}  // namespace orchard::kernels
