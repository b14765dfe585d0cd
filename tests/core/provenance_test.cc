// Provenance records: their JSON, and the differences between an attempt and a re-run in words.
#include "core/provenance.h"

#include <gtest/gtest.h>

namespace orchard {
namespace {

Provenance Example() {
  Provenance p;
  p.attempt = 2;
  p.recipe_file = "/r/digits.yaml";
  p.resolved_recipe = "name: digits\n";
  p.recipe_sha256 = std::string(64, 'a');
  p.data = {{"/d/train.csv", 1024, std::string(64, 'b')}};
  p.orchard_version = "0.1.0";
  p.commit = "0123456789abcdef0123456789abcdef01234567";
  p.libtorch = "2.11.0";
  p.cuda = "13.0";
  p.device = "cpu";
  p.host = "node-1";
  p.train_seed = 3;
  p.start_step = 200;
  p.recorded_at = 1796341722.5;
  return p;
}

TEST(Provenance, ReadsBackWhatItWrites) {
  const Provenance p = Example();
  const Provenance back = ParseProvenance(ProvenanceJson(p)).value();
  EXPECT_EQ(back.attempt, 2);
  EXPECT_EQ(back.resolved_recipe, p.resolved_recipe);
  ASSERT_EQ(back.data.size(), 1u);
  EXPECT_EQ(back.data[0].path, "/d/train.csv");
  EXPECT_EQ(back.data[0].bytes, 1024);
  EXPECT_EQ(back.commit, p.commit);
  EXPECT_EQ(back.cuda, "13.0");
  EXPECT_EQ(back.start_step, 200);
  EXPECT_DOUBLE_EQ(back.recorded_at, p.recorded_at);
  EXPECT_TRUE(ProvenanceDifferences(p, back).empty());
}

TEST(Provenance, SomethingElseIsRefusedNamingWhatIsWrong) {
  EXPECT_FALSE(ParseProvenance("").ok());
  EXPECT_FALSE(ParseProvenance("[1]").ok());
  const Status future = ParseProvenance(R"({"format": 2})").status();
  EXPECT_NE(future.message().find("format 2"), std::string::npos) << future.message();
  const Status partial = ParseProvenance(R"({"format": 1, "attempt": 1})").status();
  EXPECT_NE(partial.message().find("recipe"), std::string::npos) << partial.message();
}

TEST(Provenance, EachDifferenceIsNamedWithBothValues) {
  const Provenance original = Example();
  Provenance again = Example();
  again.data[0].sha256 = std::string(64, 'c');
  again.data[0].bytes = 1025;
  again.data.push_back({"/d/extra.csv", 1, std::string(64, 'd')});
  again.commit = "fedcba9876543210fedcba9876543210fedcba98";
  again.dirty = true;
  again.libtorch = "2.12.0";
  again.cuda = "";
  again.device = "cuda:0";
  again.world_size = 2;
  again.host = "node-2";      // where it ran does not decide the result
  again.start_step = 0;       // nor does resuming (exact on CPU)
  const std::vector<std::string> d = ProvenanceDifferences(original, again);
  const std::vector<std::string> expected = {
      "data file /d/train.csv changed: sha256 " + std::string(64, 'b') + " vs " + std::string(64, 'c') +
          " (1024 vs 1025 bytes)",
      "data file /d/extra.csv is read now but was not then",
      "built from commit 0123456789abcdef0123456789abcdef01234567 vs fedcba9876543210fedcba9876543210fedcba98",
      "built from a clean tree vs a modified one",
      "LibTorch 2.11.0 vs 2.12.0",
      "CUDA 13.0 vs none",
      "device cpu vs cuda:0",
      "world size 1 vs 2"};
  EXPECT_EQ(d, expected);
}

TEST(Provenance, ARecipeChangeAndAMissingFileAreNamed) {
  const Provenance original = Example();
  Provenance again = Example();
  again.recipe_sha256 = std::string(64, 'e');
  again.data.clear();
  const std::vector<std::string> d = ProvenanceDifferences(original, again);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0], "resolved recipe changed: sha256 aaaaaaaaaaaa vs eeeeeeeeeeee");
  EXPECT_EQ(d[1], "data file /d/train.csv was not read this time");
}

}  // namespace
}  // namespace orchard
