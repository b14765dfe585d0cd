// PBT's checkpoint copy on a real file system: what is copied, what is replaced, what is refused.
#include "coordinator/registry/checkpoint_clone.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "coordinator/access/path_confinement.h"
#include "core/file_tree.h"
#include "tests/util/test_util.h"

namespace orchard::coordinator {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::string Read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class CheckpointCloneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(root_);
    roots_ = CanonicalRoots({root_.string()}).value();
    Write(root_ / "s/trial-0/checkpoints/step-40/rank-0.pt", "parent weights");
    Write(root_ / "s/trial-0/checkpoints/step-40/MANIFEST", "{}");
    Write(root_ / "s/trial-1/checkpoints/step-60/rank-0.pt", "own weights");
    Write(root_ / "s/trial-1/checkpoints/EPOCH", "3");
  }
  StatusOr<ClonedCheckpoint> Clone(const std::string& source, const std::string& source_trial = "s/trial-0") {
    return CloneCheckpoint(root_.string(), source, source_trial, "s/trial-1/checkpoints", roots_);
  }

  orchard::testing::TempDir dir_;
  fs::path root_ = dir_ / "storage";
  std::vector<std::string> roots_;
};

TEST_F(CheckpointCloneTest, ReplacesTheTrialsCheckpointsWithTheParentsAndKeepsItsEpoch) {
  auto cloned = Clone("s/trial-0/checkpoints/step-40");
  ASSERT_TRUE(cloned.ok()) << cloned.status().message();
  EXPECT_EQ(cloned->path, "s/trial-1/checkpoints/step-40");
  EXPECT_EQ(cloned->step, 40);
  const fs::path target = root_ / "s/trial-1/checkpoints";
  EXPECT_EQ(Read(target / "step-40/rank-0.pt"), "parent weights");
  EXPECT_TRUE(fs::exists(target / "step-40/MANIFEST"));
  EXPECT_FALSE(fs::exists(target / "step-60")) << "a newer own checkpoint would win the resume";
  EXPECT_EQ(Read(target / "EPOCH"), "3");
  // The parent's retention unlinking its files leaves the copy whole.
  RemoveTree(root_ / "s/trial-0/checkpoints/step-40");
  EXPECT_EQ(Read(target / "step-40/rank-0.pt"), "parent weights");
  EXPECT_FALSE(Clone("s/trial-0/checkpoints/step-40").ok()) << "the parent's checkpoint is gone now";
  EXPECT_EQ(Read(target / "step-40/rank-0.pt"), "parent weights") << "a failed copy leaves the last one";
}

TEST_F(CheckpointCloneTest, CopyingAgainGivesTheSameResult) {
  ASSERT_TRUE(Clone("s/trial-0/checkpoints/step-40").ok());
  ASSERT_TRUE(Clone("s/trial-0/checkpoints/step-40").ok());
  std::vector<std::string> entries;
  for (const auto& entry : fs::directory_iterator(root_ / "s/trial-1/checkpoints")) entries.push_back(entry.path().filename());
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries, (std::vector<std::string>{"EPOCH", "step-40"}));
}

TEST_F(CheckpointCloneTest, ReportedPathsCannotLeadOutOfTheParentsFolderNorFollowLinks) {
  Write(dir_ / "secret", "coordinator state");
  fs::create_symlink(dir_ / "secret", root_ / "s/trial-0/checkpoints/step-40/stolen");
  ASSERT_TRUE(Clone("s/trial-0/checkpoints/step-40").ok());
  EXPECT_FALSE(fs::exists(root_ / "s/trial-1/checkpoints/step-40/stolen")) << "a link is not followed";
  EXPECT_EQ(Clone("s/trial-1/checkpoints/step-40").status().code(), StatusCode::kPermissionDenied)
      << "another trial's folder";
  EXPECT_EQ(Clone("s/trial-0/../../../step-1").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(Clone("s/trial-0/checkpoints/latest").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace orchard::coordinator
