#include "worker/train/checkpoint_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <future>

#include "tests/util/test_util.h"

namespace orchard::train {
namespace {

using orchard::testing::ReadFile;
using orchard::testing::TempDir;
using orchard::testing::WriteFile;
namespace fs = std::filesystem;

TEST(CheckpointStoreTest, CommitWritesFilesAndManifest) {
  TempDir dir;
  CheckpointStore store(dir.path(), 3);
  ASSERT_TRUE(store.Commit(10, {{"rank-0.pt", "weights"}}, {{"recipe", "x"}}).ok());
  std::vector<std::string> warnings;
  auto latest = store.Latest(&warnings);
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->step, 10);
  EXPECT_EQ((*latest)->manifest["metadata"]["recipe"], "x");
  auto bytes = CheckpointStore::ReadFile(**latest, "rank-0.pt");
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, "weights");
  EXPECT_TRUE(warnings.empty());
  // Nothing temporary is left behind.
  for (const auto& e : fs::directory_iterator(dir.path())) EXPECT_EQ(e.path().filename(), "step-10");
}

TEST(CheckpointStoreTest, RetentionKeepsTheLatestK) {
  TempDir dir;
  CheckpointStore store(dir.path(), 2);
  for (int step : {5, 10, 15, 20}) ASSERT_TRUE(store.Commit(step, {{"rank-0.pt", std::to_string(step)}}, {}).ok());
  std::vector<int64_t> steps;
  for (const auto& cp : store.List()) steps.push_back(cp.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{15, 20}));
}

TEST(CheckpointStoreTest, NumericNotLexicalOrder) {
  TempDir dir;
  CheckpointStore store(dir.path(), 5);
  ASSERT_TRUE(store.Commit(9, {{"rank-0.pt", "a"}}, {}).ok());
  ASSERT_TRUE(store.Commit(10, {{"rank-0.pt", "b"}}, {}).ok());
  auto latest = store.Latest(nullptr);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->step, 10);
}

TEST(CheckpointStoreTest, CheckpointWithoutManifestDoesNotExist) {
  TempDir dir;
  CheckpointStore store(dir.path(), 3);
  ASSERT_TRUE(store.Commit(10, {{"rank-0.pt", "good"}}, {}).ok());
  // A writer that died before its manifest: files, no MANIFEST.
  fs::create_directories(dir.path() / "step-20");
  WriteFile((dir.path() / "step-20" / "rank-0.pt").string(), "partial");
  std::vector<std::string> warnings;
  auto latest = store.Latest(&warnings);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->step, 10);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("no MANIFEST"), std::string::npos) << warnings[0];
}

TEST(CheckpointStoreTest, TruncatedFileIsSkippedAndCorruptionIsCaughtOnRead) {
  TempDir dir;
  CheckpointStore store(dir.path(), 3);
  ASSERT_TRUE(store.Commit(1, {{"rank-0.pt", "older"}}, {}).ok());
  ASSERT_TRUE(store.Commit(2, {{"rank-0.pt", "newer"}}, {}).ok());
  WriteFile((dir.path() / "step-2" / "rank-0.pt").string(), "new");  // truncated
  std::vector<std::string> warnings;
  auto latest = store.Latest(&warnings);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->step, 1);
  EXPECT_NE(warnings.at(0).find("wrong size"), std::string::npos);

  WriteFile((dir.path() / "step-1" / "rank-0.pt").string(), "OLDER");  // same size, other bytes
  auto opened = CheckpointStore::Open(dir.path() / "step-1");
  ASSERT_TRUE(opened.ok());
  auto bytes = CheckpointStore::ReadFile(*opened, "rank-0.pt");
  EXPECT_EQ(bytes.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(bytes.status().message().find("checksum mismatch"), std::string::npos);
}

TEST(CheckpointStoreTest, LatestVerifiesChecksumsAndFallsBackPastACorruptCheckpoint) {
  TempDir dir;
  CheckpointStore store(dir.path(), 3);
  ASSERT_TRUE(store.Commit(1, {{"rank-0.pt", "older"}}, {}).ok());
  ASSERT_TRUE(store.Commit(2, {{"rank-0.pt", "newer"}}, {}).ok());
  WriteFile((dir.path() / "step-2" / "rank-0.pt").string(), "NEWER");  // same size, flipped bits
  std::vector<std::string> warnings;
  auto latest = store.Latest(&warnings);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->step, 1);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("checksum mismatch"), std::string::npos) << warnings[0];
}

TEST(CheckpointStoreTest, ANewerEpochFencesAStaleWriterOut) {
  TempDir dir;
  CheckpointStore stale(dir.path(), 3, /*epoch=*/1);
  ASSERT_TRUE(stale.Claim().ok());
  ASSERT_TRUE(stale.Commit(10, {{"rank-0.pt", "from attempt 1"}}, {}).ok());

  CheckpointStore current(dir.path(), 3, /*epoch=*/2);  // the trial was queued again elsewhere
  ASSERT_TRUE(current.Claim().ok());
  const Status refused = stale.Commit(20, {{"rank-0.pt", "stale"}}, {});
  EXPECT_EQ(refused.code(), StatusCode::kAborted);
  EXPECT_NE(refused.message().find("fenced"), std::string::npos) << refused.message();
  EXPECT_EQ(stale.Claim().code(), StatusCode::kAborted);
  ASSERT_TRUE(current.Commit(15, {{"rank-0.pt", "from attempt 2"}}, {}).ok());

  std::vector<int64_t> steps;
  for (const auto& cp : current.List()) steps.push_back(cp.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{10, 15}));  // nothing of the stale writer's after the fence
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".step-20"), std::string::npos) << "temporary left behind";
  EXPECT_EQ(current.List().back().manifest["epoch"], 2);
}

TEST(CheckpointStoreTest, AClaimCannotLandBetweenAStaleWritersCheckAndItsRename) {
  TempDir dir;
  CheckpointStore stale(dir.path(), 3, /*epoch=*/1);
  ASSERT_TRUE(stale.Claim().ok());
  // A newer attempt's claim holds the epoch lock while a stale commit gets under way.
  const int fd = ::open((dir.path() / "EPOCH.lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  std::future<Status> commit = std::async(std::launch::async, [&] { return stale.Commit(10, {{"rank-0.pt", "x"}}, {}); });
  EXPECT_EQ(commit.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout) << "published without the lock";
  WriteFile((dir.path() / "EPOCH").string(), "2\n");  // the claim lands, then lets go
  ::close(fd);
  EXPECT_EQ(commit.get().code(), StatusCode::kAborted);
  EXPECT_TRUE(stale.List().empty());
}

TEST(CheckpointStoreTest, GarbageManifestIsReported) {
  TempDir dir;
  fs::create_directories(dir.path() / "step-3");
  WriteFile((dir.path() / "step-3" / "MANIFEST").string(), "{not json");
  auto opened = CheckpointStore::Open(dir.path() / "step-3");
  EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(opened.status().message().find("cannot parse"), std::string::npos);
}

TEST(CheckpointStoreTest, RecommittingAStepReplacesIt) {
  TempDir dir;
  CheckpointStore store(dir.path(), 3);
  ASSERT_TRUE(store.Commit(4, {{"rank-0.pt", "first"}}, {}).ok());
  ASSERT_TRUE(store.Commit(4, {{"rank-0.pt", "second"}}, {}).ok());
  auto latest = store.Latest(nullptr);
  EXPECT_EQ(*CheckpointStore::ReadFile(**latest, "rank-0.pt"), "second");
}

TEST(CheckpointStoreTest, RejectsFileNamesThatAreNotPlain) {
  TempDir dir;
  CheckpointStore store(dir.path(), 3);
  for (const char* bad : {"../escape.pt", "MANIFEST", "", ".hidden"}) {
    EXPECT_EQ(store.Commit(1, {{bad, "x"}}, {}).code(), StatusCode::kInvalidArgument) << bad;
  }
}

// Temporary files of commits that failed (a full disk, a killed writer) do not pile up: a failed
// commit removes its own, and other processes' are removed at the next claim and commit.
TEST(CheckpointStoreTest, TemporaryFilesOfFailedCommitsAreRemoved) {
  TempDir dir;
  const fs::path root = dir.path() / "checkpoints";
  CheckpointStore store(root, 2, /*epoch=*/2);
  EXPECT_FALSE(store.Commit(5, {{"a/b", "x"}}, {}).ok());
  for (const auto& entry : fs::directory_iterator(root))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();

  fs::create_directories(root / ".step-7.tmp-999999");
  WriteFile((root / ".step-7.tmp-999999" / "rank-0.pt").string(), "half");
  WriteFile((root / ".EPOCH.tmp-999998").string(), "1");
  ASSERT_TRUE(store.Claim().ok());
  EXPECT_FALSE(fs::exists(root / ".step-7.tmp-999999"));
  EXPECT_FALSE(fs::exists(root / ".EPOCH.tmp-999998"));

  fs::create_directories(root / ".step-8.tmp-999997");
  ASSERT_TRUE(store.Commit(9, {{"rank-0.pt", "ok"}}, {}).ok());
  EXPECT_FALSE(fs::exists(root / ".step-8.tmp-999997"));
  EXPECT_TRUE(fs::exists(root / "step-9" / "MANIFEST"));
}

TEST(CheckpointStoreTest, EmptyOrMissingRootHasNoCheckpoint) {
  TempDir dir;
  CheckpointStore store(dir.path() / "absent", 3);
  auto latest = store.Latest(nullptr);
  ASSERT_TRUE(latest.ok());
  EXPECT_FALSE(latest->has_value());
}

}  // namespace
}  // namespace orchard::train
