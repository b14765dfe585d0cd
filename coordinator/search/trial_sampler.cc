#include "coordinator/search/trial_sampler.h"

#include <algorithm>
#include <cmath>

namespace orchard::coordinator {
namespace {

// SplitMix64: decorrelates (seed, index) pairs into independent generator seeds.
uint64_t MixSeed(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::mt19937_64 DrawGenerator(int64_t seed, int64_t index, uint64_t stream) {
  uint64_t state = MixSeed(MixSeed(static_cast<uint64_t>(seed)) ^ static_cast<uint64_t>(index));
  if (stream != 0) state = MixSeed(state ^ MixSeed(stream));
  return std::mt19937_64(state);
}

double Unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::string DrawValue(const ParameterSpace& p, std::mt19937_64& rng) {
  switch (p.kind) {
    case ParameterSpace::Kind::kConstant:
      return p.values.front();
    case ParameterSpace::Kind::kValues:
      return p.values[static_cast<size_t>(Unit(rng) * static_cast<double>(p.values.size()))];
    case ParameterSpace::Kind::kUniform:
      return FormatDouble(std::clamp(p.min + (p.max - p.min) * Unit(rng), p.min, p.max));
    case ParameterSpace::Kind::kLogUniform: {
      // exp(log(x)) can miss x by an ulp; outside [min, max] a draw at the edge of a field's range
      // would fail the trial's validation.
      const double draw = std::exp(std::log(p.min) + (std::log(p.max) - std::log(p.min)) * Unit(rng));
      return FormatDouble(std::clamp(draw, p.min, p.max));
    }
    case ParameterSpace::Kind::kIntUniform: {
      const auto lo = static_cast<int64_t>(std::ceil(p.min));
      const auto hi = static_cast<int64_t>(std::floor(p.max));
      return std::to_string(lo + static_cast<int64_t>(Unit(rng) * static_cast<double>(hi - lo + 1)));
    }
  }
  return p.values.front();
}

std::vector<Hyperparameter> GridPoint(const std::vector<ParameterSpace>& parameters, int64_t index) {
  std::vector<Hyperparameter> point(parameters.size());
  for (size_t i = parameters.size(); i-- > 0;) {
    const ParameterSpace& p = parameters[i];
    const int64_t n = static_cast<int64_t>(p.values.size());
    point[i] = {p.path, p.values[index % n]};
    index /= n;
  }
  return point;
}

std::vector<Hyperparameter> RandomPoint(const std::vector<ParameterSpace>& parameters, int64_t seed,
                                        int64_t index) {
  std::mt19937_64 rng = DrawGenerator(seed, index);
  std::vector<Hyperparameter> point;
  for (const ParameterSpace& p : parameters) point.push_back({p.path, DrawValue(p, rng)});
  return point;
}

}  // namespace orchard::coordinator
