// Data fingerprints and their cache, on real files in a temporary directory.
#include "core/data_fingerprint.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "core/sha256.h"
#include "tests/util/test_util.h"

namespace orchard {
namespace {

using testing::TempDir;
using testing::WriteFile;

// Sets the file's modification time `seconds_ago` into the past (its ctime becomes now).
void Backdate(const std::string& path, int seconds_ago) {
  const auto now = std::chrono::system_clock::now() - std::chrono::seconds(seconds_ago);
  timespec times[2];
  times[0].tv_sec = times[1].tv_sec = std::chrono::system_clock::to_time_t(now);
  times[0].tv_nsec = times[1].tv_nsec = 0;
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

TEST(FingerprintCache, HashesTheContentAndAnswersAnUnchangedSettledFileFromTheCache) {
  TempDir dir;
  const std::string data = dir / "data.csv";
  WriteFile(data, "a,b,label\n1,2,0\n");
  Backdate(data, 3600);
  FingerprintCache cache(dir / "cache.json");
  const FileFingerprint first = cache.Fingerprint(data).value();
  EXPECT_EQ(first.sha256, Sha256Hex("a,b,label\n1,2,0\n"));
  EXPECT_EQ(first.bytes, 16);
  ASSERT_TRUE(cache.Save().ok());

  FingerprintCache reopened(dir / "cache.json");
  EXPECT_EQ(reopened.Fingerprint(data).value().sha256, first.sha256);
  EXPECT_EQ(reopened.files_hashed(), 0) << "an unchanged file hashed an hour after its last write is not read again";
}

TEST(FingerprintCache, ReHashesAFileWhoseContentChangedAtTheSameSize) {
  TempDir dir;
  const std::string data = dir / "data.csv";
  WriteFile(data, "1,2,0\n");
  Backdate(data, 3600);
  FingerprintCache cache(dir / "cache.json");
  const std::string before = cache.Fingerprint(data).value().sha256;
  ASSERT_TRUE(cache.Save().ok());

  // Rewritten at the same size: the mtime moves.
  WriteFile(data, "1,3,0\n");
  FingerprintCache after_write(dir / "cache.json");
  EXPECT_EQ(after_write.Fingerprint(data).value().sha256, Sha256Hex("1,3,0\n"));
  EXPECT_EQ(after_write.files_hashed(), 1);

  // Rewritten again, then backdated to the same old mtime: the ctime still gives it away. (The pause
  // puts the ctime past the clock tick of the first backdating's, whatever the kernel's granularity.)
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  WriteFile(data, "1,4,0\n");
  Backdate(data, 3600);
  FingerprintCache backdated(dir / "cache.json");
  EXPECT_EQ(backdated.Fingerprint(data).value().sha256, Sha256Hex("1,4,0\n"));
  EXPECT_NE(before, Sha256Hex("1,4,0\n"));
}

TEST(FingerprintCache, AFileHashedRightAfterItsLastWriteIsHashedAgainNextTime) {
  TempDir dir;
  const std::string data = dir / "data.csv";
  WriteFile(data, "1,2,0\n");
  FingerprintCache cache(dir / "cache.json");
  ASSERT_TRUE(cache.Fingerprint(data).ok());
  // Within the timestamps' granularity a same-size write could leave size and times as they were.
  WriteFile(data, "9,9,9\n");
  EXPECT_EQ(cache.Fingerprint(data).value().sha256, Sha256Hex("9,9,9\n"));
  EXPECT_EQ(cache.files_hashed(), 2);
}

TEST(FingerprintCache, AMissingFileIsNamedAndACorruptCacheIsIgnored) {
  TempDir dir;
  WriteFile(dir / "cache.json", "{not json");
  FingerprintCache cache(dir / "cache.json");
  const StatusOr<FileFingerprint> missing = cache.Fingerprint(dir / "nope.csv");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.csv"), std::string::npos);
}

TEST(InputFiles, AreTheFilesEachDataTypeReads) {
  Recipe recipe;
  recipe.data.type = "synthetic";
  recipe.model.type = "mlp";
  EXPECT_TRUE(InputFiles(recipe).empty());
  recipe.data.type = "idx";
  recipe.data.path = "/d/images.idx";
  recipe.data.labels_path = "/d/labels.idx";
  EXPECT_EQ(InputFiles(recipe), (std::vector<std::string>{"/d/images.idx", "/d/labels.idx"}));
  recipe.data.type = "digits";
  recipe.data.path.clear();
  recipe.model.type = "torchscript";
  recipe.model.torchscript.path = "/m/../m/model.pt";
  EXPECT_EQ(InputFiles(recipe), (std::vector<std::string>{DefaultDigitsPath(), "/m/model.pt"}));
}

}  // namespace
}  // namespace orchard
