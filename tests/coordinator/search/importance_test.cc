// fANOVA importance against objectives whose answer is known: which parameter ranks first and
// roughly how much of the variance each explains.
#include "coordinator/search/importance.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <map>
#include <random>

#include "coordinator/search/trial_sampler.h"
#include "tests/coordinator/search/search_spaces.h"

namespace orchard::coordinator {
namespace {

using Kind = ParameterSpace::Kind;
using Point = std::map<std::string, std::string>;
using Objective = std::function<double(const Point&)>;

double Number(const Point& values, const std::string& path) { return std::stod(values.at(path)); }

// `count` trials drawn at random from `space`, as random search would run them, scored by `objective`.
std::vector<ImportanceSample> Draw(const std::vector<ParameterSpace>& space, const Objective& objective, int count,
                                   uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  std::vector<ImportanceSample> samples;
  for (int i = 0; i < count; ++i) {
    ImportanceSample sample;
    for (const ParameterSpace& p : space) sample.hyperparameters[p.path] = DrawValue(p, rng);
    sample.objective = objective(sample.hyperparameters);
    samples.push_back(std::move(sample));
  }
  return samples;
}

double ShareOf(const ImportanceReport& report, const std::string& path) {
  for (const ParameterImportance& p : report.parameters)
    if (p.path == path) return p.importance;
  ADD_FAILURE() << path << " missing from the report";
  return -1;
}

ParameterSpace Constant(std::string path, std::string value) {
  ParameterSpace p;
  p.path = std::move(path);
  p.values = {std::move(value)};
  return p;
}

struct KnownCase {
  std::string name;
  std::vector<ParameterSpace> space;
  Objective objective;
  std::string top;         // ranks first, with at least min_top
  double min_top;
  double max_other;        // every other parameter explains less
};

class KnownAnswer : public ::testing::TestWithParam<KnownCase> {};

TEST_P(KnownAnswer, RanksTheParameterThatDrivesTheObjectiveFirst) {
  const KnownCase& c = GetParam();
  const ImportanceReport report = HyperparameterImportance(c.space, Draw(c.space, c.objective, 150), /*seed=*/1);
  ASSERT_EQ(report.parameters.size(), c.space.size()) << report.method;
  EXPECT_EQ(report.samples, 150);
  for (const ParameterImportance& p : report.parameters)
    std::cout << "  " << c.name << ": " << p.path << " " << p.importance << "\n";
  EXPECT_EQ(report.parameters.front().path, c.top);
  EXPECT_GT(report.parameters.front().importance, c.min_top);
  for (size_t i = 1; i < report.parameters.size(); ++i)
    EXPECT_LT(report.parameters[i].importance, c.max_other) << report.parameters[i].path;
}

INSTANTIATE_TEST_SUITE_P(
    Importance, KnownAnswer,
    ::testing::Values(
        // Var(10 x1) / Var(y) = 100 / 100.01: x1 explains nearly everything.
        KnownCase{"linear",
                  {Range("x1", Kind::kUniform, 0, 1), Range("x2", Kind::kUniform, 0, 1),
                   Values("activation", {"relu", "gelu", "tanh"})},
                  [](const Point& v) { return 10 * Number(v, "x1") + 0.1 * Number(v, "x2"); }, "x1", 0.8, 0.1},
        // Linear in log10(lr): drawn log-uniformly, so the forest must split on the log scale to see it
        // as evenly as the draws spread.
        KnownCase{"log_uniform",
                  {LearningRate(), Range("dropout", Kind::kUniform, 0, 0.5)},
                  [](const Point& v) { return std::log10(Number(v, "optimizer.lr")); }, "optimizer.lr", 0.8, 0.1},
        KnownCase{"categorical",
                  {Values("optimizer", {"adam", "sgd"}), Range("x", Kind::kUniform, 0, 1),
                   Range("layers", Kind::kIntUniform, 1, 8)},
                  [](const Point& v) { return v.at("optimizer") == "sgd" ? 1.0 : 0.0; }, "optimizer", 0.8, 0.1}),
    [](const ::testing::TestParamInfo<KnownCase>& info) { return info.param.name; });

TEST(Importance, AValueNotListedCountsAsACategoryOfItsOwn) {
  // The sweep ran rmsprop too (a recipe edited mid-sweep, say), and rmsprop alone is different.
  const std::vector<ParameterSpace> ran = {Values("opt", {"adam", "sgd", "rmsprop"}), Range("x", Kind::kUniform, 0, 1)};
  const auto samples = Draw(ran, [](const Point& v) { return v.at("opt") == "rmsprop" ? 1.0 : 0.0; }, 120);
  const std::vector<ParameterSpace> listed = {Values("opt", {"adam", "sgd"}), Range("x", Kind::kUniform, 0, 1)};
  const ImportanceReport report = HyperparameterImportance(listed, samples);
  EXPECT_EQ(report.samples, 120);
  EXPECT_GT(ShareOf(report, "opt"), 0.8);
  EXPECT_LT(ShareOf(report, "x"), 0.1);
}

TEST(Importance, TooFewUsableSamplesGiveNoEstimateAndSayWhy) {
  const std::vector<ParameterSpace> space = {Range("x", Kind::kUniform, 0, 1), Values("opt", {"adam", "sgd"})};
  const auto x = [](const Point& v) { return Number(v, "x"); };
  std::vector<ImportanceSample> unusable = Draw(space, x, 10);
  for (size_t i = 0; i < 4; ++i) unusable[i].objective = std::nan("");
  for (size_t i = 4; i < 7; ++i) unusable[i].hyperparameters.erase("x");
  unusable[7].hyperparameters["x"] = "not a number";
  const struct {
    std::string name;
    std::vector<ImportanceSample> samples;
    int64_t usable;
  } cases[] = {{"none", {}, 0}, {"three", Draw(space, x, 3), 3}, {"mostly unusable", unusable, 2}};
  for (const auto& c : cases) {
    const ImportanceReport report = HyperparameterImportance(space, c.samples);
    EXPECT_TRUE(report.parameters.empty()) << c.name;
    EXPECT_EQ(report.samples, c.usable) << c.name;
    EXPECT_NE(report.method.find("Too few trials"), std::string::npos) << c.name << ": " << report.method;
  }
}

TEST(Importance, SameSeedSameReport) {
  const std::vector<ParameterSpace> space = {Range("x1", Kind::kUniform, 0, 1), LearningRate(),
                                             Values("opt", {"adam", "sgd", "rmsprop"})};
  const auto samples = Draw(space, [](const Point& v) {
    return Number(v, "x1") * std::log10(Number(v, "optimizer.lr")) + (v.at("opt") == "sgd" ? 0.5 : 0.0);
  }, 120);
  const ImportanceReport a = HyperparameterImportance(space, samples, 42);
  const ImportanceReport b = HyperparameterImportance(space, samples, 42);
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.samples, b.samples);
  ASSERT_EQ(a.parameters.size(), 3u);
  ASSERT_EQ(a.parameters.size(), b.parameters.size());
  for (size_t i = 0; i < a.parameters.size(); ++i) {
    EXPECT_EQ(a.parameters[i].path, b.parameters[i].path);
    EXPECT_EQ(a.parameters[i].importance, b.parameters[i].importance);  // bit for bit
  }
}

TEST(Importance, LeavesOutConstantsAndSharesStayWithinOne) {
  const std::vector<ParameterSpace> space = {
      Constant("trainer.epochs", "10"), Values("model.hidden", {"[64, 64]"}),  // neither varies
      Range("x1", Kind::kUniform, 0, 1), Range("x2", Kind::kUniform, -1, 1), Range("batch", Kind::kIntUniform, 16, 16),
      Values("opt", {"adam", "sgd"})};
  // Mostly interaction: (x1 - 0.5) * x2 has no main effect at all, so the shares must leave room.
  const auto samples = Draw(space, [](const Point& v) {
    return (Number(v, "x1") - 0.5) * Number(v, "x2") + 0.3 * Number(v, "x1");
  }, 200);
  const ImportanceReport report = HyperparameterImportance(space, samples, 3);
  std::vector<std::string> paths;
  double sum = 0;
  for (const ParameterImportance& p : report.parameters) {
    paths.push_back(p.path);
    EXPECT_GE(p.importance, 0) << p.path;
    EXPECT_LE(p.importance, 1) << p.path;
    sum += p.importance;
    std::cout << "  interaction: " << p.path << " " << p.importance << "\n";
  }
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(paths, (std::vector<std::string>{"opt", "x1", "x2"}));
  EXPECT_LE(sum, 1 + 1e-9);
  EXPECT_LT(sum, 0.6);  // the interaction's variance is nobody's main effect
  EXPECT_GT(ShareOf(report, "x1"), ShareOf(report, "opt"));
}

}  // namespace
}  // namespace orchard::coordinator
