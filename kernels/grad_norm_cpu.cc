#include <algorithm>
#include <cmath>
#include <thread>

#include "kernels/grad_norm.h"

namespace orchard::kernels {
namespace {

constexpr int64_t kChunk = 1 << 16;  // elements a thread takes at a time

struct Partial {
  double sum_squares = 0;
  bool finite = true;
};

// Sum of squares accumulated in double (the wider type: squares of large finite values must not
// overflow into a false "non-finite").
Partial SumSquares(const float* p, int64_t n) {
  Partial out;
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(p[i]) * p[i];
  out.sum_squares = acc;
  out.finite = std::isfinite(acc);
  return out;
}

// Runs fn(span_index, begin, end) over every chunk of every buffer on up to hardware threads.
template <typename Fn>
void ForEachChunk(const std::vector<FloatSpan>& spans, Fn fn) {
  struct Chunk { size_t span; int64_t begin, end; };
  std::vector<Chunk> chunks;
  int64_t total = 0;
  for (size_t s = 0; s < spans.size(); ++s) {
    total += spans[s].size;
    for (int64_t b = 0; b < spans[s].size; b += kChunk) {
      chunks.push_back({s, b, std::min(spans[s].size, b + kChunk)});
    }
  }
  unsigned threads = std::clamp<unsigned>(std::thread::hardware_concurrency(), 1, 16);
  if (total < 4 * kChunk || threads == 1) {
    for (size_t c = 0; c < chunks.size(); ++c) fn(c, chunks[c].span, chunks[c].begin, chunks[c].end);
    return;
  }
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (size_t c = t; c < chunks.size(); c += threads) fn(c, chunks[c].span, chunks[c].begin, chunks[c].end);
    });
  }
  for (auto& th : pool) th.join();
}

}  // namespace

GradNormResult ClipGradNormCpu(const std::vector<FloatSpan>& grads, double max_norm) {
  size_t chunk_count = 0;
  for (const FloatSpan& g : grads) chunk_count += (g.size + kChunk - 1) / kChunk;
  std::vector<Partial> partials(chunk_count);
  ForEachChunk(grads, [&](size_t c, size_t s, int64_t b, int64_t e) {
    partials[c] = SumSquares(grads[s].data + b, e - b);
  });
  // Partials are summed in chunk order, so the result does not depend on the thread count.
  double sum = 0;
  bool finite = true;
  for (const Partial& p : partials) sum += p.sum_squares, finite = finite && p.finite;
  GradNormResult result;
  result.norm = std::sqrt(sum);
  result.finite = finite && std::isfinite(result.norm);
  if (!result.finite || max_norm <= 0 || result.norm <= max_norm) return result;
  // The same coefficient as torch.nn.utils.clip_grad_norm_.
  result.scale = max_norm / (result.norm + 1e-6);
  const float scale = static_cast<float>(result.scale);
  ForEachChunk(grads, [&](size_t, size_t s, int64_t b, int64_t e) {
    float* p = grads[s].data;
    for (int64_t i = b; i < e; ++i) p[i] *= scale;
  });
  return result;
}

}  // namespace orchard::kernels
