#include "coordinator/search/tpe_search.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>

#include "coordinator/search/trial_sampler.h"

namespace orchard::coordinator {
namespace {

// Separates TPE's generator for trial i from RandomPoint's for the same i.
constexpr uint64_t kTpeStream = 0x7fe;

// P(a <= Z <= b) for a standard normal Z, from the tail nearer to the interval so that intervals far
// out keep their digits instead of cancelling to 0.
double NormalMass(double a, double b) {
  const auto upper = [](double z) { return 0.5 * std::erfc(z / std::numbers::sqrt2); };  // P(Z > z)
  return a >= 0 ? upper(a) - upper(b) : upper(-b) - upper(-a);
}

// log(sum(exp(terms))), skipping terms of -inf (components with no mass at the point).
double LogSumExp(const std::vector<double>& terms) {
  const double top = *std::max_element(terms.begin(), terms.end());
  if (!std::isfinite(top)) return top;
  double sum = 0;
  for (double t : terms) sum += std::exp(t - top);
  return top + std::log(sum);
}

// A Gaussian truncated to [low, high], around a centre inside the range with sigma <= the range's
// width (so a third of its draws or more fall inside).
class TruncatedNormal {
 public:
  TruncatedNormal(double mu, double sigma, double low, double high)
      : mu_(mu), sigma_(sigma), log_mass_(std::log(NormalMass((low - mu) / sigma, (high - mu) / sigma))) {}

  // Drawn until it falls inside: Box-Muller from two uniforms (1 - u keeps the logarithm finite).
  double Sample(double low, double high, std::mt19937_64& rng) const {
    for (;;) {
      const double radius = std::sqrt(-2 * std::log(1 - Unit(rng)));
      const double x = mu_ + sigma_ * radius * std::cos(2 * std::numbers::pi * Unit(rng));
      if (x >= low && x <= high) return x;
    }
  }
  double LogDensity(double x) const {
    const double z = (x - mu_) / sigma_;
    return -0.5 * z * z - std::log(sigma_ * std::sqrt(2 * std::numbers::pi)) - log_mass_;
  }
  // log P(a <= X <= b).
  double LogProbability(double a, double b) const {
    return std::log(NormalMass((a - mu_) / sigma_, (b - mu_) / sigma_)) - log_mass_;
  }

 private:
  double mu_, sigma_;
  double log_mass_;  // of the Gaussian inside [low, high]
};

// Each observation's sigma in one dimension: the larger gap to its sorted neighbours (of several,
// the outermost take their inner gap, as Optuna does: a gap to the range's bound says nothing about
// where good values lie, and widening them there wastes candidates on the edges, measured as better
// medians on Branin and Hartmann-6; a lone one, the gaps to the bounds), clipped to
// [width / min(100, components + 1), width], the prior counting as a component.
std::vector<double> NeighbourSigmas(const std::vector<double>& observations, double low, double high) {
  const double width = high - low;
  std::vector<double> sorted = observations;
  std::sort(sorted.begin(), sorted.end());
  const double components = static_cast<double>(observations.size() + 1);
  const double min_sigma = width / std::min(100.0, components + 1);
  const bool several = observations.size() >= 2;
  std::vector<double> sigmas;
  for (double mu : observations) {
    const auto at = std::lower_bound(sorted.begin(), sorted.end(), mu);
    const double left = at == sorted.begin() ? (several ? mu : low) : *std::prev(at);
    const auto after = std::upper_bound(sorted.begin(), sorted.end(), mu);
    const double right = after == sorted.end() ? (several ? mu : high) : *after;
    sigmas.push_back(std::clamp(std::max(mu - left, right - mu), min_sigma, width));
  }
  return sigmas;
}

// Where a numeric parameter is modelled: its logarithm for log_uniform, integers widened by half a
// step each side so that the end values get a full step of room like the others.
struct NumericSpace {
  double low = 0, high = 0;
  bool log = false;
  bool integer = false;
  double To(double x) const { return log ? std::log(x) : x; }
};

NumericSpace SpaceOf(const ParameterSpace& p) {
  switch (p.kind) {
    case ParameterSpace::Kind::kLogUniform: return {std::log(p.min), std::log(p.max), true, false};
    case ParameterSpace::Kind::kIntUniform: return {std::ceil(p.min) - 0.5, std::floor(p.max) + 0.5, false, true};
    default: return {p.min, p.max, false, false};
  }
}

// The integer nearest to t within [min, max].
int64_t NearestInteger(const ParameterSpace& p, double t) {
  return std::clamp<int64_t>(std::llround(t), std::llround(std::ceil(p.min)), std::llround(std::floor(p.max)));
}

// The value of model-space point t as RandomPoint writes it, clamped to [min, max].
std::string Write(const ParameterSpace& p, const NumericSpace& space, double t) {
  if (space.integer) return std::to_string(NearestInteger(p, t));
  return FormatDouble(std::clamp(space.log ? std::exp(t) : t, p.min, p.max));
}

// One modelled dimension: a numeric parameter in its model space, or a list of `choices` values
// (its positions 0 .. choices-1).
struct Dimension {
  size_t parameter = 0;
  NumericSpace space;
  size_t choices = 0;  // 0 for a numeric parameter
};

// A Parzen estimator over one or more dimensions: one component per observation and a prior, each a
// product of one kernel per dimension (tpe_search.h says which). Picking a component and then each
// dimension from it keeps the values that went together in a good trial together in a draw.
class ParzenEstimator {
 public:
  // `weights`: one per observation; the prior weighs 1.
  ParzenEstimator(const std::vector<Dimension>& dims, const std::vector<std::vector<double>>& observations,
                  const std::vector<double>& weights)
      : dims_(dims), components_(observations.size() + 1) {
    double total = 1;
    for (double w : weights) total += w;
    for (double w : weights) log_weights_.push_back(std::log(w / total));
    log_weights_.push_back(std::log(1 / total));
    for (size_t d = 0; d < dims.size(); ++d) {
      Kernels kernels;
      const Dimension& dim = dims[d];
      if (dim.choices > 0) {
        // An observation's row: 1 / components on every value, plus 1 on its own, normalised; the
        // prior's row is uniform.
        const double base = 1.0 / static_cast<double>(components_);
        const double row_total = base * static_cast<double>(dim.choices) + 1;
        for (const std::vector<double>& x : observations) {
          std::vector<double> row(dim.choices, base / row_total);
          row[static_cast<size_t>(x[d])] += 1 / row_total;
          kernels.rows.push_back(std::move(row));
        }
        kernels.rows.push_back(std::vector<double>(dim.choices, 1.0 / static_cast<double>(dim.choices)));
      } else {
        const double low = dim.space.low, high = dim.space.high;
        std::vector<double> centres;
        for (const std::vector<double>& x : observations) centres.push_back(x[d]);
        const std::vector<double> sigmas = NeighbourSigmas(centres, low, high);
        for (size_t k = 0; k < centres.size(); ++k) kernels.normals.emplace_back(centres[k], sigmas[k], low, high);
        kernels.normals.emplace_back(low + (high - low) / 2, high - low, low, high);
      }
      kernels_.push_back(std::move(kernels));
    }
  }

  // A draw: a component picked by weight, then each dimension from that component's kernel
  // (integers rounded to the nearest one, lists as a position).
  std::vector<double> Sample(std::mt19937_64& rng) const {
    double u = Unit(rng);
    size_t k = 0;
    while (k + 1 < components_ && u >= std::exp(log_weights_[k])) u -= std::exp(log_weights_[k++]);
    std::vector<double> t(dims_.size());
    for (size_t d = 0; d < dims_.size(); ++d) {
      const Dimension& dim = dims_[d];
      if (dim.choices > 0) {
        const std::vector<double>& row = kernels_[d].rows[k];
        double v = Unit(rng);
        size_t i = 0;
        while (i + 1 < dim.choices && v >= row[i]) v -= row[i++];
        t[d] = static_cast<double>(i);
      } else {
        t[d] = kernels_[d].normals[k].Sample(dim.space.low, dim.space.high, rng);
        // Rounded into [min, max]: a draw at the widened range's edge would round past it.
        if (dim.space.integer) t[d] = std::clamp(std::round(t[d]), dim.space.low + 0.5, dim.space.high - 0.5);
      }
    }
    return t;
  }

  // log of the mixture's density at t; integers by the mass of [v - 0.5, v + 0.5], lists by weight.
  double LogDensity(const std::vector<double>& t) const {
    std::vector<double> terms = log_weights_;
    for (size_t d = 0; d < dims_.size(); ++d) {
      const Dimension& dim = dims_[d];
      for (size_t k = 0; k < components_; ++k) {
        if (dim.choices > 0) terms[k] += std::log(kernels_[d].rows[k][static_cast<size_t>(t[d])]);
        else if (dim.space.integer) terms[k] += kernels_[d].normals[k].LogProbability(t[d] - 0.5, t[d] + 0.5);
        else terms[k] += kernels_[d].normals[k].LogDensity(t[d]);
      }
    }
    return LogSumExp(terms);
  }

 private:
  struct Kernels {
    std::vector<TruncatedNormal> normals;   // a numeric dimension's, per component
    std::vector<std::vector<double>> rows;  // a list's probabilities, per component
  };
  std::vector<Dimension> dims_;
  size_t components_;
  std::vector<double> log_weights_;  // per component, normalised
  std::vector<Kernels> kernels_;     // per dimension
};

// Weights of n observations ordered oldest first: 1 for the newest 25, and a ramp from 1/n up to 1
// over the older ones, so that a long sweep's early draws fade from the model (Optuna's default).
std::vector<double> AgeWeights(size_t n) {
  std::vector<double> w(n, 1.0);
  if (n <= 25) return w;
  const size_t ramp = n - 25;
  const double first = 1.0 / static_cast<double>(n);
  for (size_t i = 0; i < ramp; ++i)
    w[i] = ramp == 1 ? first : first + (1 - first) * static_cast<double>(i) / static_cast<double>(ramp - 1);
  return w;
}

// Chooses the values of `dims` together: tpe_candidates draws from l over `below`, the one with the
// largest log l(x) - log g(x) (the first on ties), written into `point`. `below` and `above` hold
// trials' values as TpeSearch::Trial::x does, oldest first.
void ChooseTogether(const std::vector<ParameterSpace>& parameters, const std::vector<Dimension>& dims,
                    const std::vector<const std::vector<double>*>& below,
                    const std::vector<const std::vector<double>*>& above, int64_t candidates, std::mt19937_64& rng,
                    std::vector<Hyperparameter>& point) {
  const auto model = [&](const std::vector<const std::vector<double>*>& trials) {
    std::vector<std::vector<double>> observations;
    for (const std::vector<double>* x : trials) {
      std::vector<double> t;
      for (const Dimension& dim : dims) t.push_back(dim.choices > 0 ? (*x)[dim.parameter] : dim.space.To((*x)[dim.parameter]));
      observations.push_back(std::move(t));
    }
    return ParzenEstimator(dims, observations, AgeWeights(trials.size()));
  };
  const ParzenEstimator l = model(below), g = model(above);
  std::vector<double> best;
  double best_score = -std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < candidates; ++c) {
    std::vector<double> t = l.Sample(rng);
    const double score = l.LogDensity(t) - g.LogDensity(t);
    if (c == 0 || !(score <= best_score)) best = std::move(t), best_score = score;  // a NaN best never sticks
  }
  for (size_t d = 0; d < dims.size(); ++d) {
    const ParameterSpace& p = parameters[dims[d].parameter];
    point[dims[d].parameter].value = dims[d].choices > 0 ? p.values[static_cast<size_t>(best[d])] : Write(p, dims[d].space, best[d]);
  }
}

bool SameConditions(const ParameterSpace& a, const ParameterSpace& b) {
  if (a.when.size() != b.when.size()) return false;
  for (size_t c = 0; c < a.when.size(); ++c)
    if (a.when[c].path != b.when[c].path || a.when[c].values != b.when[c].values) return false;
  return true;
}

const char* KindName(TrialExited::Kind kind) {
  switch (kind) {
    case TrialExited::Kind::kCompleted: return "completed";
    case TrialExited::Kind::kFailed: return "failed";
    case TrialExited::Kind::kStopped: return "stopped";
    case TrialExited::Kind::kCanceled: return "canceled";
    case TrialExited::Kind::kPaused: return "paused";
  }
  return "";
}

std::optional<TrialExited::Kind> KindFromName(const std::string& name) {
  for (auto kind : {TrialExited::Kind::kCompleted, TrialExited::Kind::kFailed, TrialExited::Kind::kStopped,
                    TrialExited::Kind::kCanceled})
    if (name == KindName(kind)) return kind;
  return std::nullopt;
}

}  // namespace

TpeSearch::TpeSearch(const SweepSpec& sweep)
    : parameters_(sweep.parameters),
      seed_(sweep.seed),
      maximize_(sweep.mode == "max"),
      max_trials_(sweep.max_trials),
      in_flight_(std::max<int64_t>(1, sweep.max_concurrent > 0 ? sweep.max_concurrent : sweep.tpe_startup_trials)),
      startup_trials_(sweep.tpe_startup_trials),
      candidates_(std::max<int64_t>(1, sweep.tpe_candidates)),
      multivariate_(sweep.tpe_multivariate),
      constant_liar_(sweep.tpe_constant_liar) {}

std::vector<SearchAction> TpeSearch::Handle(const SearchEvent& event) {
  std::vector<SearchAction> actions;
  if (std::holds_alternative<SweepStarted>(event)) {
    if (started_) return actions;
    started_ = true;
    CreateTrials(actions);
    if (max_trials_ == 0) actions.push_back(FinishSweep{});
  } else if (const auto* report = std::get_if<ValidationReported>(&event)) {
    if (report->trial < 0 || report->trial >= static_cast<int64_t>(trials_.size())) return actions;
    Trial& trial = trials_[report->trial];
    if (trial.exited || (trial.reported && report->step < trial.step)) return actions;
    const double loss = maximize_ ? -report->value : report->value;
    trial.reported = true;
    trial.step = report->step;
    trial.loss = std::isfinite(loss) ? loss : std::numeric_limits<double>::max();
  } else if (const auto* exited = std::get_if<TrialExited>(&event)) {
    if (exited->kind == TrialExited::Kind::kPaused || exited->trial < 0 ||
        exited->trial >= static_cast<int64_t>(trials_.size()) || trials_[exited->trial].exited)
      return actions;
    trials_[exited->trial].exited = true;
    trials_[exited->trial].kind = exited->kind;
    ++exited_count_;
    CreateTrials(actions);
    if (exited_count_ == max_trials_) actions.push_back(FinishSweep{});
  }
  return actions;
}

void TpeSearch::CreateTrials(std::vector<SearchAction>& actions) {
  while (static_cast<int64_t>(trials_.size()) < max_trials_ &&
         static_cast<int64_t>(trials_.size()) - exited_count_ < in_flight_) {
    const auto index = static_cast<int64_t>(trials_.size());
    std::vector<Hyperparameter> point = Propose(index);
    trials_.push_back(Trial{Numbers(point)});
    actions.push_back(CreateTrial{index, std::move(point)});
  }
}

std::vector<Hyperparameter> TpeSearch::Propose(int64_t index) const {
  std::vector<const Trial*> observed;
  for (const Trial& trial : trials_)
    if (trial.exited && trial.reported) observed.push_back(&trial);
  if (index < startup_trials_ || observed.empty()) return RandomPoint(parameters_, seed_, index);

  // Completed trials first by value, then the rest by later step first, then value; trials_ is in
  // number order and the sort stable, so ties go to the older trial.
  const auto rank = [](const Trial* t) { return t->kind == TrialExited::Kind::kCompleted ? 0 : 1; };
  std::stable_sort(observed.begin(), observed.end(), [&](const Trial* a, const Trial* b) {
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    if (rank(a) == 1 && a->step != b->step) return a->step > b->step;
    return a->loss < b->loss;
  });
  const size_t n_below = std::min<size_t>((observed.size() + 9) / 10, 25);
  std::vector<const Trial*> below_trials(observed.begin(), observed.begin() + static_cast<std::ptrdiff_t>(n_below));
  std::vector<const Trial*> above_trials(observed.begin() + static_cast<std::ptrdiff_t>(n_below), observed.end());
  // The constant liar: trials still in flight count among the worst, so that proposals made while
  // they run keep away from them instead of piling onto the same promising point.
  if (constant_liar_)
    for (const Trial& trial : trials_)
      if (!trial.exited) above_trials.push_back(&trial);
  // Oldest first (trials_ is in number order), as the models' age weights expect.
  const auto values = [](std::vector<const Trial*> group) {
    std::sort(group.begin(), group.end());
    std::vector<const std::vector<double>*> xs;
    for (const Trial* trial : group) xs.push_back(&trial->x);
    return xs;
  };
  const std::vector<const std::vector<double>*> below = values(below_trials), above = values(above_trials);

  // Parameters with the same conditions form a subspace, modelled on the trials where it applied;
  // the unconditional one comes first, then each in the order of its first parameter (conditions
  // are on earlier parameters, so theirs are chosen by then).
  std::vector<std::vector<size_t>> subspaces;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const auto same = std::find_if(subspaces.begin(), subspaces.end(), [&](const std::vector<size_t>& members) {
      return SameConditions(parameters_[members.front()], parameters_[i]);
    });
    if (same != subspaces.end()) same->push_back(i);
    else subspaces.push_back({i});
  }
  std::vector<Hyperparameter> point(parameters_.size());  // by parameter; those that do not apply are dropped
  std::vector<bool> applies(parameters_.size(), false);
  const auto value_of = [&](const std::string& path) -> const std::string* {
    for (size_t i = 0; i < parameters_.size(); ++i)
      if (applies[i] && parameters_[i].path == path) return &point[i].value;
    return nullptr;
  };
  std::mt19937_64 rng = DrawGenerator(seed_, index, kTpeStream);
  for (const std::vector<size_t>& members : subspaces) {
    if (!Applies(parameters_[members.front()], value_of)) continue;
    // Constants and single points are written as they are; the rest is chosen from the model, all
    // together or one parameter at a time.
    std::vector<Dimension> varying;
    for (size_t i : members) {
      const ParameterSpace& p = parameters_[i];
      const NumericSpace space = SpaceOf(p);
      applies[i] = true;
      point[i] = {p.path, ""};
      if (p.kind == ParameterSpace::Kind::kConstant) point[i].value = p.values.front();
      else if (p.kind == ParameterSpace::Kind::kValues) varying.push_back({i, space, p.values.size()});
      else if (space.high > space.low) varying.push_back({i, space, 0});
      else point[i].value = Write(p, space, space.low);
    }
    const auto where_it_applied = [&](const std::vector<const std::vector<double>*>& group) {
      std::vector<const std::vector<double>*> kept;
      for (const std::vector<double>* x : group)
        if (!std::isnan((*x)[members.front()])) kept.push_back(x);
      return kept;
    };
    const auto sub_below = where_it_applied(below), sub_above = where_it_applied(above);
    if (sub_below.empty()) {
      for (const Dimension& dim : varying) point[dim.parameter].value = DrawValue(parameters_[dim.parameter], rng);
    } else if (multivariate_) {
      ChooseTogether(parameters_, varying, sub_below, sub_above, candidates_, rng, point);
    } else {
      for (const Dimension& dim : varying) ChooseTogether(parameters_, {dim}, sub_below, sub_above, candidates_, rng, point);
    }
  }
  std::vector<Hyperparameter> applied;
  for (size_t i = 0; i < parameters_.size(); ++i)
    if (applies[i]) applied.push_back(std::move(point[i]));
  return applied;
}

std::vector<double> TpeSearch::Numbers(const std::vector<Hyperparameter>& point) const {
  std::vector<double> x(parameters_.size(), 0.0);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const ParameterSpace& p = parameters_[i];
    const auto it = std::find_if(point.begin(), point.end(), [&](const Hyperparameter& h) { return h.path == p.path; });
    if (it == point.end()) {
      x[i] = std::numeric_limits<double>::quiet_NaN();  // it did not apply to this trial
      continue;
    }
    const std::string& text = it->value;
    if (p.kind == ParameterSpace::Kind::kValues) {
      x[i] = static_cast<double>(std::find(p.values.begin(), p.values.end(), text) - p.values.begin());
    } else if (p.kind == ParameterSpace::Kind::kIntUniform) {
      int64_t v = 0;
      std::from_chars(text.data(), text.data() + text.size(), v);
      x[i] = static_cast<double>(v);
    } else if (p.kind != ParameterSpace::Kind::kConstant) {
      std::from_chars(text.data(), text.data() + text.size(), x[i]);
    }
  }
  return x;
}

nlohmann::json TpeSearch::Snapshot() const {
  nlohmann::json trials = nlohmann::json::array();
  for (const Trial& trial : trials_) {
    nlohmann::json t = {{"x", trial.x}};
    if (trial.exited) t["exited"] = KindName(trial.kind);
    if (trial.reported) t["report"] = {trial.step, trial.loss};
    trials.push_back(std::move(t));
  }
  return {{"strategy", "tpe"}, {"max_trials", max_trials_}, {"started", started_}, {"trials", std::move(trials)}};
}

Status TpeSearch::Restore(const nlohmann::json& snapshot) {
  if (!snapshot.is_object() || snapshot.value("strategy", "") != "tpe" ||
      snapshot.value("max_trials", int64_t{-1}) != max_trials_)
    return InvalidArgument("tpe search: the saved state does not belong to this sweep (another strategy or max_trials)");
  std::vector<Trial> trials;
  int64_t exited_count = 0;
  try {
    for (const auto& saved : snapshot.at("trials")) {
      Trial trial;
      // A parameter that did not apply to the trial is saved as null (JSON has no NaN).
      for (const auto& value : saved.at("x"))
        trial.x.push_back(value.is_null() ? std::numeric_limits<double>::quiet_NaN() : value.get<double>());
      if (trial.x.size() != parameters_.size())
        return InvalidArgument("tpe search: a saved trial has " + std::to_string(trial.x.size()) + " values for " +
                               std::to_string(parameters_.size()) + " parameters");
      for (size_t i = 0; i < parameters_.size(); ++i) {
        // What Propose() relies on: list positions index the list, numbers lie in [min, max].
        const ParameterSpace& p = parameters_[i];
        if (std::isnan(trial.x[i]) && !p.when.empty()) continue;
        const bool fits = p.kind == ParameterSpace::Kind::kValues
                              ? trial.x[i] >= 0 && trial.x[i] < static_cast<double>(p.values.size())
                              : p.kind == ParameterSpace::Kind::kConstant || (trial.x[i] >= p.min && trial.x[i] <= p.max);
        if (!fits)
          return InvalidArgument("tpe search: a saved trial's value " + std::to_string(trial.x[i]) + " of " + p.path +
                                 " lies outside its search space");
      }
      if (saved.contains("exited")) {
        const auto kind = KindFromName(saved["exited"].get<std::string>());
        if (!kind) return InvalidArgument("tpe search: unknown exit " + saved["exited"].dump());
        trial.exited = true;
        trial.kind = *kind;
        ++exited_count;
      }
      if (saved.contains("report")) {
        trial.reported = true;
        trial.step = saved["report"].at(0).get<int64_t>();
        trial.loss = saved["report"].at(1).get<double>();
      }
      trials.push_back(std::move(trial));
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("tpe search: the saved trials are damaged: ") + e.what());
  }
  if (static_cast<int64_t>(trials.size()) > max_trials_)
    return InvalidArgument("tpe search: the saved state has more trials than max_trials");
  started_ = snapshot.value("started", false);
  trials_ = std::move(trials);
  exited_count_ = exited_count;
  return OkStatus();
}

}  // namespace orchard::coordinator
