// RemoveTree on a real directory tree: everything under the root goes, links are removed without
// being followed, a missing root is no error, and a failure is reported rather than skipped.
#include "core/file_tree.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/util/test_util.h"

namespace orchard {
namespace {

namespace fs = std::filesystem;

TEST(RemoveTree, RemovesNestedFilesAndFolders) {
  testing::TempDir dir;
  const fs::path root = dir.path() / "run";
  fs::create_directories(root / "checkpoints/step-10");
  fs::create_directories(root / "empty");
  std::ofstream(root / "metrics.jsonl") << "{}\n";
  std::ofstream(root / "checkpoints/step-10/model.pt") << "weights";
  EXPECT_FALSE(RemoveTree(root));
  EXPECT_FALSE(fs::exists(root));
  EXPECT_TRUE(fs::exists(dir.path()));
}

TEST(RemoveTree, RemovesLinksWithoutFollowingThem) {
  testing::TempDir dir;
  const fs::path kept = dir.path() / "kept";
  fs::create_directories(kept);
  std::ofstream(kept / "data.csv") << "1,2\n";
  const fs::path root = dir.path() / "run";
  fs::create_directories(root);
  fs::create_directory_symlink(kept, root / "link-to-folder");
  fs::create_symlink(kept / "data.csv", root / "link-to-file");
  fs::create_symlink(dir.path() / "nowhere", root / "dangling");
  EXPECT_FALSE(RemoveTree(root));
  EXPECT_FALSE(fs::exists(root));
  EXPECT_TRUE(fs::exists(kept / "data.csv"));
}

TEST(RemoveTree, AMissingRootIsNoErrorAndAFileRootIsRemoved) {
  testing::TempDir dir;
  EXPECT_FALSE(RemoveTree(dir.path() / "never-made"));
  std::ofstream(dir.path() / "lone.txt") << "x";
  EXPECT_FALSE(RemoveTree(dir.path() / "lone.txt"));
  EXPECT_FALSE(fs::exists(dir.path() / "lone.txt"));
}

TEST(RemoveTree, APathThatCannotBeReadIsReported) {
  testing::TempDir dir;
  std::ofstream(dir.path() / "file") << "x";
  // A path through a file: lstat fails with ENOTDIR (permissions would not stop root, who runs CI).
  const std::error_code error = RemoveTree(dir.path() / "file/child");
  EXPECT_EQ(error, std::errc::not_a_directory) << error.message();
  EXPECT_TRUE(fs::exists(dir.path() / "file"));
}

}  // namespace
}  // namespace orchard
