#include "coordinator/search/trial_sampler.h"

#include <algorithm>
#include <cmath>

namespace orchard::coordinator {
namespace {

// The generator stream of the quasi-random sequence's scrambles (RandomPoint's is 0).
constexpr uint64_t kQuasiRandomStream = 0x4a17;

// The first `count` primes: the Halton sequence's bases, one per dimension.
std::vector<int64_t> Primes(size_t count) {
  std::vector<int64_t> primes;
  for (int64_t n = 2; primes.size() < count; ++n)
    if (std::none_of(primes.begin(), primes.end(), [n](int64_t p) { return n % p == 0; })) primes.push_back(n);
  return primes;
}

// SplitMix64: decorrelates (seed, index) pairs into independent generator seeds.
uint64_t MixSeed(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

bool AppliesTo(const ParameterSpace& p, const std::vector<Hyperparameter>& point) {
  return Applies(p, [&](const std::string& path) -> const std::string* {
    for (const Hyperparameter& h : point)
      if (h.path == path) return &h.value;
    return nullptr;
  });
}

std::mt19937_64 DrawGenerator(int64_t seed, int64_t index, uint64_t stream) {
  uint64_t state = MixSeed(MixSeed(static_cast<uint64_t>(seed)) ^ static_cast<uint64_t>(index));
  if (stream != 0) state = MixSeed(state ^ MixSeed(stream));
  return std::mt19937_64(state);
}

double Unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::string ValueAt(const ParameterSpace& p, double u) {
  switch (p.kind) {
    case ParameterSpace::Kind::kConstant:
      return p.values.front();
    case ParameterSpace::Kind::kValues:
      return p.values[static_cast<size_t>(u * static_cast<double>(p.values.size()))];
    case ParameterSpace::Kind::kUniform:
      return FormatDouble(std::clamp(p.min + (p.max - p.min) * u, p.min, p.max));
    case ParameterSpace::Kind::kLogUniform: {
      // exp(log(x)) can miss x by an ulp; outside [min, max] a draw at the edge of a field's range
      // would fail the trial's validation.
      const double draw = std::exp(std::log(p.min) + (std::log(p.max) - std::log(p.min)) * u);
      return FormatDouble(std::clamp(draw, p.min, p.max));
    }
    case ParameterSpace::Kind::kIntUniform: {
      const auto lo = static_cast<int64_t>(std::ceil(p.min));
      const auto hi = static_cast<int64_t>(std::floor(p.max));
      return std::to_string(lo + static_cast<int64_t>(u * static_cast<double>(hi - lo + 1)));
    }
  }
  return p.values.front();
}

std::string DrawValue(const ParameterSpace& p, std::mt19937_64& rng) {
  // A constant draws nothing, so the draws of the other parameters do not depend on it.
  return p.kind == ParameterSpace::Kind::kConstant ? p.values.front() : ValueAt(p, Unit(rng));
}

std::vector<Hyperparameter> GridPoint(const std::vector<ParameterSpace>& parameters, int64_t index) {
  std::vector<Hyperparameter> point(parameters.size());
  for (size_t i = parameters.size(); i-- > 0;) {
    const ParameterSpace& p = parameters[i];
    const auto n = static_cast<int64_t>(p.values.size());
    point[i] = {p.path, p.values[static_cast<size_t>(index % n)]};
    index /= n;
  }
  return point;
}

std::vector<std::vector<Hyperparameter>> GridPoints(const std::vector<ParameterSpace>& parameters, int64_t count) {
  std::vector<std::vector<Hyperparameter>> points;
  if (count <= 0) return points;
  ForEachGridPoint(parameters, [&](const std::vector<const std::string*>& values) {
    std::vector<Hyperparameter> point;
    for (size_t i = 0; i < parameters.size(); ++i)
      if (values[i] != nullptr) point.push_back({parameters[i].path, *values[i]});
    points.push_back(std::move(point));
    return static_cast<int64_t>(points.size()) < count;
  });
  return points;
}

std::vector<Hyperparameter> QuasiRandomPoint(const std::vector<ParameterSpace>& parameters, int64_t seed,
                                             int64_t index) {
  const auto varies = [](const ParameterSpace& p) { return p.kind != ParameterSpace::Kind::kConstant; };
  const std::vector<int64_t> bases =
      Primes(static_cast<size_t>(std::count_if(parameters.begin(), parameters.end(), varies)));
  std::vector<Hyperparameter> point;
  size_t dimension = 0;
  for (const ParameterSpace& p : parameters) {
    if (!AppliesTo(p, point)) {
      dimension += varies(p) ? 1 : 0;  // the others keep their dimensions
      continue;
    }
    if (!varies(p)) {
      point.push_back({p.path, p.values.front()});
      continue;
    }
    const int64_t base = bases[dimension];
    // The dimension's scramble: its digits' permutation (0 kept at 0, so every point has finitely
    // many digits) and its shift, drawn from the sweep's seed.
    std::mt19937_64 rng = DrawGenerator(seed, static_cast<int64_t>(dimension), kQuasiRandomStream);
    ++dimension;
    std::vector<int64_t> digits(static_cast<size_t>(base));
    for (int64_t d = 0; d < base; ++d) digits[static_cast<size_t>(d)] = d;
    for (int64_t i = base - 1; i > 1; --i)
      std::swap(digits[static_cast<size_t>(i)], digits[1 + static_cast<size_t>(Unit(rng) * static_cast<double>(i))]);
    const double shift = Unit(rng);
    double u = 0, scale = 1.0 / static_cast<double>(base);
    for (int64_t rest = index; rest > 0; rest /= base, scale /= static_cast<double>(base))
      u += static_cast<double>(digits[static_cast<size_t>(rest % base)]) * scale;
    u += shift;
    u -= std::floor(u);
    point.push_back({p.path, ValueAt(p, std::min(u, std::nextafter(1.0, 0.0)))});
  }
  return point;
}

std::vector<Hyperparameter> RandomPoint(const std::vector<ParameterSpace>& parameters, int64_t seed,
                                        int64_t index) {
  std::mt19937_64 rng = DrawGenerator(seed, index);
  std::vector<Hyperparameter> point;
  for (const ParameterSpace& p : parameters) {
    const std::string value = DrawValue(p, rng);  // drawn either way, so one branch's draws do not shift another's
    if (AppliesTo(p, point)) point.push_back({p.path, value});
  }
  return point;
}

}  // namespace orchard::coordinator
