// Path confinement against real directories and symbolic links.
#include "coordinator/access/path_confinement.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/util/test_util.h"

namespace orchard::coordinator {
namespace {

namespace fs = std::filesystem;
using orchard::testing::TempDir;
using orchard::testing::WriteFile;

class PathConfinementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.path() / "storage/sweep");
    fs::create_directories(dir_.path() / "data");
    fs::create_directories(dir_.path() / "data2");
    fs::create_directories(dir_.path() / "outside");
    WriteFile(dir_ / "data/train.csv", "x,label\n1,0\n");
    WriteFile(dir_ / "data2/train.csv", "x,label\n1,0\n");
    WriteFile(dir_ / "outside/secret.csv", "x,label\n1,0\n");
    roots_ = CanonicalRoots({dir_ / "storage", dir_ / "data"}).value();
  }

  StatusOr<std::string> Confine(const std::string& path) { return ConfinePath("data.path", path, roots_); }

  TempDir dir_;
  std::vector<std::string> roots_;
};

TEST_F(PathConfinementTest, PathsInsideARootAreAcceptedExistingOrNot) {
  EXPECT_EQ(Confine(dir_ / "data/train.csv").value(), fs::canonical(dir_ / "data/train.csv").string());
  EXPECT_TRUE(Confine(dir_ / "storage/sweep/trial-0/metrics.jsonl").ok());
  EXPECT_TRUE(Confine(dir_ / "data").ok()) << "a root itself";
  EXPECT_TRUE(Confine(dir_ / "data/sub/../train.csv").ok()) << "'..' that stays inside";
}

TEST_F(PathConfinementTest, EscapesAreRefusedNamingTheFieldAndTheRoots) {
  for (const std::string& path : {dir_ / "data/../outside/secret.csv", std::string("/etc/passwd"),
                                  dir_ / "data2/train.csv", dir_ / "storage/../../etc"}) {
    auto confined = Confine(path);
    ASSERT_FALSE(confined.ok()) << path;
    EXPECT_EQ(confined.status().code(), StatusCode::kPermissionDenied);
    EXPECT_NE(confined.status().message().find("data.path: '" + path + "'"), std::string::npos) << confined.status().message();
    EXPECT_NE(confined.status().message().find(roots_[1]), std::string::npos) << confined.status().message();
    EXPECT_NE(confined.status().message().find("--allow-path"), std::string::npos);
  }
}

TEST_F(PathConfinementTest, SymbolicLinksAreFollowed) {
  fs::create_symlink(dir_ / "outside", dir_ / "data/escape");
  fs::create_symlink(dir_ / "outside/secret.csv", dir_ / "storage/sweep/secret.csv");
  fs::create_symlink(dir_ / "data/train.csv", dir_ / "storage/sweep/train.csv");
  EXPECT_FALSE(Confine(dir_ / "data/escape/secret.csv").ok()) << "a linked directory out of the root";
  EXPECT_FALSE(Confine(dir_ / "storage/sweep/secret.csv").ok()) << "a linked file out of the root";
  EXPECT_EQ(Confine(dir_ / "storage/sweep/train.csv").value(), fs::canonical(dir_ / "data/train.csv").string())
      << "a link from one root into another";
}

TEST_F(PathConfinementTest, ADanglingLinkIsRefusedSinceItsTargetCouldAppearOutside) {
  fs::create_symlink(dir_ / "outside/not-yet", dir_ / "data/later.csv");
  auto confined = Confine(dir_ / "data/later.csv");
  ASSERT_FALSE(confined.ok());
  EXPECT_NE(confined.status().message().find("dangling symbolic link"), std::string::npos) << confined.status().message();
}

TEST_F(PathConfinementTest, RootsAreResolvedAndMustBeDirectories) {
  fs::create_symlink(dir_ / "data", dir_ / "data-link");
  const auto roots = CanonicalRoots({dir_ / "data-link"}).value();
  EXPECT_EQ(roots, std::vector<std::string>{fs::canonical(dir_ / "data").string()});
  EXPECT_TRUE(ConfinePath("data.path", dir_ / "data-link/train.csv", roots).ok());
  EXPECT_TRUE(ConfinePath("data.path", dir_ / "data/train.csv", roots).ok());
  auto missing = CanonicalRoots({dir_ / "no-such-dir"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("no-such-dir"), std::string::npos);
  EXPECT_FALSE(CanonicalRoots({dir_ / "data/train.csv"}).ok()) << "a file is not a root";
}

class RecipePathsTest : public PathConfinementTest {
 protected:
  Status Check(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    const std::string file = dir_ / "data/recipe.yaml";
    auto recipe = ParseRecipe(yaml, file, overrides);
    EXPECT_TRUE(recipe.ok()) << recipe.status().message();
    return ConfineRecipePaths(*recipe, yaml, file, overrides, roots_);
  }
};

TEST_F(RecipePathsTest, RelativePathsResolveAgainstTheRecipesDirectory) {
  EXPECT_TRUE(Check("name: r\nmodel: {type: mlp}\ndata: {type: csv, path: train.csv}\ntrain: {steps: 1}\n").ok());
  const Status escaped = Check("name: r\nmodel: {type: mlp}\ndata: {type: csv, path: ../outside/secret.csv}\ntrain: {steps: 1}\n");
  ASSERT_FALSE(escaped.ok());
  EXPECT_NE(escaped.message().find("recipe.yaml: data.path: '" + (dir_ / "outside/secret.csv") + "'"), std::string::npos)
      << escaped.message();
}

TEST_F(RecipePathsTest, EveryPathFieldOverrideAndSweepValueIsChecked) {
  const Status idx = Check("name: r\nmodel: {type: mlp}\ndata: {type: idx, images: train.csv, labels: /etc/passwd}\n"
                           "train: {steps: 1}\n");
  ASSERT_FALSE(idx.ok());
  EXPECT_NE(idx.message().find("data.labels"), std::string::npos) << idx.message();
  EXPECT_EQ(idx.message().find("data.path"), std::string::npos) << "the images are inside: " << idx.message();

  EXPECT_FALSE(Check("name: r\nmodel: {type: torchscript, path: /etc/net.pt}\ndata: {type: synthetic}\ntrain: {steps: 1}\n").ok());
  EXPECT_FALSE(Check("name: r\nmodel: {type: mlp}\ndata: {type: csv, path: train.csv}\ntrain: {steps: 1}\n",
                     {"data.path=/etc/passwd"}).ok());

  const Status swept = Check(
      "name: r\nmodel: {type: mlp}\ndata: {type: csv, path: train.csv}\ntrain: {steps: 1}\n"
      "sweep:\n  strategy: grid\n  parameters:\n    data.path: {values: [train.csv, ../outside/secret.csv]}\n");
  ASSERT_FALSE(swept.ok());
  EXPECT_NE(swept.message().find("(sweep value ../outside/secret.csv)"), std::string::npos) << swept.message();
}

// A path that only a conditional branch sets is checked in that branch's trials: the base recipe
// (synthetic data) has no path at all, and the csv trials would read outside the roots.
TEST_F(RecipePathsTest, APathSetOnlyInAConditionalBranchIsChecked) {
  const Status swept = Check(
      "name: r\nmodel: {type: mlp}\ndata: {type: synthetic}\ntrain: {steps: 1}\n"
      "sweep:\n  strategy: grid\n  parameters:\n    data.type: {values: [synthetic, csv]}\n"
      "    data.path: {values: [train.csv, ../outside/secret.csv], when: {data.type: csv}}\n");
  ASSERT_FALSE(swept.ok());
  EXPECT_NE(swept.message().find("(sweep value ../outside/secret.csv)"), std::string::npos) << swept.message();
  EXPECT_EQ(swept.message().find("cannot check"), std::string::npos) << swept.message();
}

TEST_F(RecipePathsTest, TheMetricsFileStaysInTheTrialsOutputDirectory) {
  const std::string base = "name: r\nmodel: {type: mlp}\ndata: {type: synthetic}\ntrain: {steps: 1}\n";
  EXPECT_TRUE(Check(base + "metrics: {file: logs/metrics.jsonl}\n").ok());
  for (const char* file : {"../../other-trial/metrics.jsonl", "/tmp/metrics.jsonl"}) {
    const Status status = Check(base + "metrics: {file: \"" + file + "\"}\n");
    ASSERT_FALSE(status.ok()) << file;
    EXPECT_NE(status.message().find("metrics.file"), std::string::npos) << status.message();
  }
}

}  // namespace
}  // namespace orchard::coordinator
