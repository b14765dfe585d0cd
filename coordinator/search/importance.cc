#include "coordinator/search/importance.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <random>
#include <string_view>

#include "coordinator/search/trial_sampler.h"

namespace orchard::coordinator {
namespace {

// The forest. Small and shallow: sweeps have tens to hundreds of trials, and the dashboard asks
// for this on a request. Each split considers 7/10 of the parameters, as the original fANOVA does.
constexpr int kTrees = 32;
constexpr int kMaxDepth = 8;
constexpr size_t kMinLeaf = 2;
constexpr double kFeatureRatio = 0.7;

// One varying parameter as an axis of the forest's input: [low, high] and how text maps onto it.
struct Axis {
  const ParameterSpace* parameter = nullptr;
  double low = 0;
  double high = 0;
  std::vector<std::string> categories;  // kValues: the listed values, then unknown ones as met
};

std::optional<double> ParseNumber(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);  // YAML allows it, from_chars does not
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

// The axis for `p`, or nullopt when it varies nothing.
std::optional<Axis> MakeAxis(const ParameterSpace& p) {
  using Kind = ParameterSpace::Kind;
  Axis axis{&p, p.min, p.max, {}};
  switch (p.kind) {
    case Kind::kConstant: return std::nullopt;
    case Kind::kValues:
      if (p.values.size() < 2) return std::nullopt;
      axis.categories = p.values;
      return axis;  // bounds set once the unknown values are known
    case Kind::kUniform: break;
    case Kind::kLogUniform:
      if (p.min <= 0) return std::nullopt;  // no log scale; validation refuses such a space anyway
      axis = {&p, std::log10(p.min), std::log10(p.max), {}};
      break;
    case Kind::kIntUniform:  // the integers drawn, as DrawValue draws them
      axis = {&p, std::ceil(p.min) - 0.5, std::floor(p.max) + 0.5, {}};
      if (axis.high - axis.low < 1.5) return std::nullopt;  // a single integer
      break;
  }
  if (!(axis.high > axis.low)) return std::nullopt;
  return axis;
}

// `text` as a coordinate on `axis`, clamped into its bounds (numbers only: a category's bounds grow
// with it); nullopt when it cannot be read. Appends a category not yet seen.
std::optional<double> Encode(Axis& axis, const std::string& text) {
  if (axis.parameter->kind == ParameterSpace::Kind::kValues) {
    const auto at = std::find(axis.categories.begin(), axis.categories.end(), text);
    if (at == axis.categories.end()) axis.categories.push_back(text);
    return static_cast<double>(std::find(axis.categories.begin(), axis.categories.end(), text) -
                               axis.categories.begin());
  }
  std::optional<double> value = ParseNumber(text);
  if (value && axis.parameter->kind == ParameterSpace::Kind::kLogUniform) {
    if (*value <= 0) return std::nullopt;
    value = std::log10(*value);
  }
  if (value) value = std::clamp(*value, axis.low, axis.high);
  return value;
}

// A regression tree; node 0 is the root. A leaf has feature -1.
struct Node {
  int feature = -1;
  double threshold = 0;  // x[feature] < threshold goes left
  int left = -1;
  int right = -1;
  double value = 0;      // a leaf's prediction: the mean objective of its samples
};

// Grows one CART tree (least squares) on the rows given, with a random subset of the features at
// each split.
class TreeGrower {
 public:
  TreeGrower(const std::vector<std::vector<double>>& x, const std::vector<double>& y, std::mt19937_64& rng)
      : x_(x), y_(y), rng_(rng), features_(x.front().size()) {}

  std::vector<Node> Grow(std::vector<size_t> rows) {
    nodes_.clear();
    Grow(std::move(rows), 0);
    return std::move(nodes_);
  }

 private:
  int Grow(std::vector<size_t> rows, int depth) {
    const int id = static_cast<int>(nodes_.size());
    nodes_.emplace_back();
    double sum = 0;
    for (size_t r : rows) sum += y_[r];
    const double n = static_cast<double>(rows.size());
    nodes_[id].value = sum / n;
    if (depth == kMaxDepth || rows.size() < 2 * kMinLeaf) return id;

    // Fisher-Yates over the feature indices; the first `tried` are this split's candidates.
    std::vector<int> order(features_);
    for (size_t i = 0; i < features_; ++i) order[i] = static_cast<int>(i);
    const size_t tried = std::max<size_t>(1, static_cast<size_t>(std::ceil(kFeatureRatio * features_)));
    for (size_t i = 0; i < tried; ++i) {
      std::swap(order[i], order[i + static_cast<size_t>(Unit(rng_) * static_cast<double>(features_ - i))]);
    }
    // Maximising sum_l^2/n_l + sum_r^2/n_r minimises the children's squared error.
    double best = sum * sum / n;
    int best_feature = -1;
    double best_threshold = 0;
    for (size_t k = 0; k < tried; ++k) {
      const int f = order[k];
      // Ties broken by row so that the sums run in the same order with every standard library.
      std::sort(rows.begin(), rows.end(), [&](size_t a, size_t b) {
        return x_[a][f] != x_[b][f] ? x_[a][f] < x_[b][f] : a < b;
      });
      double left = 0;
      for (size_t i = 1; i < rows.size(); ++i) {
        left += y_[rows[i - 1]];
        const double lo = x_[rows[i - 1]][f], hi = x_[rows[i]][f];
        if (i < kMinLeaf || rows.size() - i < kMinLeaf || lo == hi) continue;
        const double nl = static_cast<double>(i), nr = n - nl;
        const double score = left * left / nl + (sum - left) * (sum - left) / nr;
        if (score > best) {
          best = score;
          best_feature = f;
          best_threshold = std::max(lo + (hi - lo) / 2, std::nextafter(lo, hi));  // lo goes left even 1 ulp from hi
        }
      }
    }
    if (best_feature < 0) return id;

    std::vector<size_t> left, right;
    for (size_t r : rows) (x_[r][best_feature] < best_threshold ? left : right).push_back(r);
    rows.clear();
    const int l = Grow(std::move(left), depth + 1);
    const int r = Grow(std::move(right), depth + 1);
    nodes_[id] = {best_feature, best_threshold, l, r, nodes_[id].value};
    return id;
  }

  const std::vector<std::vector<double>>& x_;
  const std::vector<double>& y_;
  std::mt19937_64& rng_;
  const size_t features_;
  std::vector<Node> nodes_;
};

// A leaf's box, as fractions of each axis it covers, and its prediction.
struct Leaf {
  std::vector<double> lo, hi;
  double value = 0;
};

void CollectLeaves(const std::vector<Node>& tree, int id, std::vector<double>& lo, std::vector<double>& hi,
                   std::vector<Leaf>& leaves) {
  const Node& node = tree[id];
  if (node.feature < 0) {
    leaves.push_back({lo, hi, node.value});
    return;
  }
  const double saved_hi = hi[node.feature], saved_lo = lo[node.feature];
  hi[node.feature] = node.threshold;
  CollectLeaves(tree, node.left, lo, hi, leaves);
  hi[node.feature] = saved_hi;
  lo[node.feature] = node.threshold;
  CollectLeaves(tree, node.right, lo, hi, leaves);
  lo[node.feature] = saved_lo;
}

// Each feature's main-effect variance over the tree's variance, with every feature uniform over its
// axis; nullopt when the tree is (numerically) constant and so explains nothing to share out.
// A tree is piecewise constant on boxes, so both variances are exact finite sums: the main effect of
// feature j is constant between consecutive split thresholds on j, and its value there is the sum
// over the leaves spanning that cell of value * (the leaf's volume fraction in the other features).
std::optional<std::vector<double>> TreeShares(const std::vector<Node>& tree, const std::vector<Axis>& axes) {
  const size_t d = axes.size();
  std::vector<double> lo(d), hi(d);
  for (size_t k = 0; k < d; ++k) lo[k] = axes[k].low, hi[k] = axes[k].high;
  std::vector<Leaf> leaves;
  CollectLeaves(tree, 0, lo, hi, leaves);
  for (Leaf& leaf : leaves) {
    for (size_t k = 0; k < d; ++k) {
      leaf.lo[k] = (leaf.lo[k] - axes[k].low) / (axes[k].high - axes[k].low);
      leaf.hi[k] = (leaf.hi[k] - axes[k].low) / (axes[k].high - axes[k].low);
    }
  }
  // Volume fraction of `leaf` in every feature but `skip` (d: none skipped).
  const auto volume = [d](const Leaf& leaf, size_t skip) {
    double v = 1;
    for (size_t k = 0; k < d; ++k) v *= k == skip ? 1.0 : leaf.hi[k] - leaf.lo[k];
    return v;
  };
  double mean = 0, total = 0;
  for (const Leaf& leaf : leaves) mean += volume(leaf, d) * leaf.value;
  for (const Leaf& leaf : leaves) total += volume(leaf, d) * (leaf.value - mean) * (leaf.value - mean);
  if (!(total > 1e-12 * mean * mean)) return std::nullopt;

  std::vector<double> shares(d, 0.0);
  for (size_t j = 0; j < d; ++j) {
    std::vector<double> cuts = {0.0, 1.0};
    for (const Leaf& leaf : leaves) cuts.push_back(leaf.lo[j]), cuts.push_back(leaf.hi[j]);
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    for (size_t c = 0; c + 1 < cuts.size(); ++c) {
      const double middle = cuts[c] + (cuts[c + 1] - cuts[c]) / 2;
      double effect = 0;
      for (const Leaf& leaf : leaves) {
        if (leaf.lo[j] <= middle && middle < leaf.hi[j]) effect += volume(leaf, j) * leaf.value;
      }
      shares[j] += (cuts[c + 1] - cuts[c]) * (effect - mean) * (effect - mean);
    }
    shares[j] /= total;
  }
  return shares;
}

}  // namespace

ImportanceReport HyperparameterImportance(const std::vector<ParameterSpace>& space,
                                          const std::vector<ImportanceSample>& samples, uint64_t seed) {
  std::vector<Axis> axes;
  for (const ParameterSpace& p : space) {
    // A conditional parameter has no value in the trials where it does not apply, and the forest
    // needs every axis in every sample: only the parameters every trial has are ranked.
    if (!p.when.empty()) continue;
    if (std::optional<Axis> axis = MakeAxis(p)) axes.push_back(std::move(*axis));
  }
  ImportanceReport report;
  if (axes.empty()) {
    report.method = "No parameter of the search space varies, so there is no importance to estimate.";
    return report;
  }

  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (const ImportanceSample& sample : samples) {
    if (!std::isfinite(sample.objective)) continue;
    std::vector<size_t> known;  // category counts before this sample, to forget its new ones if it is left out
    for (const Axis& axis : axes) known.push_back(axis.categories.size());
    std::vector<double> row;
    for (Axis& axis : axes) {
      const auto it = sample.hyperparameters.find(axis.parameter->path);
      const std::optional<double> value = it == sample.hyperparameters.end() ? std::nullopt : Encode(axis, it->second);
      if (!value) break;
      row.push_back(*value);
    }
    if (row.size() < axes.size()) {
      for (size_t k = 0; k < axes.size(); ++k) axes[k].categories.resize(known[k]);
      continue;
    }
    x.push_back(std::move(row));
    y.push_back(sample.objective);
  }
  for (Axis& axis : axes) {
    if (!axis.categories.empty()) axis.low = -0.5, axis.high = static_cast<double>(axis.categories.size()) - 0.5;
  }
  report.samples = static_cast<int64_t>(y.size());
  if (report.samples < kMinImportanceSamples) {
    report.method = "Too few trials to estimate importance: " + std::to_string(report.samples) + " with a result and " +
                    "every varying parameter, " + std::to_string(kMinImportanceSamples) + " needed.";
    return report;
  }
  report.method = "fANOVA (Hutter et al., 2014): each parameter's main-effect share of the variance of a " +
                  std::to_string(kTrees) + "-tree random forest fit to " + std::to_string(report.samples) + " trials.";

  std::mt19937_64 rng(seed);
  TreeGrower grower(x, y, rng);
  std::vector<double> sums(axes.size(), 0.0);
  int explaining = 0;
  for (int t = 0; t < kTrees; ++t) {
    std::vector<size_t> rows(y.size());
    for (size_t& r : rows) r = static_cast<size_t>(Unit(rng) * static_cast<double>(y.size()));  // bootstrap
    const std::optional<std::vector<double>> shares = TreeShares(grower.Grow(std::move(rows)), axes);
    if (!shares) continue;
    ++explaining;
    for (size_t j = 0; j < axes.size(); ++j) sums[j] += (*shares)[j];
  }
  for (size_t j = 0; j < axes.size(); ++j) {
    // A constant objective leaves no tree to average over: nothing is explained by anything.
    const double share = explaining == 0 ? 0.0 : std::clamp(sums[j] / explaining, 0.0, 1.0);
    report.parameters.push_back({axes[j].parameter->path, share});
  }
  std::sort(report.parameters.begin(), report.parameters.end(),
            [](const ParameterImportance& a, const ParameterImportance& b) {
              return a.importance != b.importance ? a.importance > b.importance : a.path < b.path;
            });
  return report;
}

}  // namespace orchard::coordinator
