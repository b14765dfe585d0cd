#include "worker/train/datasets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tests/util/test_util.h"

namespace orchard::train {
namespace {

using orchard::testing::TempDir;
using orchard::testing::WriteFile;

DataSpec Spec(const std::string& type) {
  DataSpec s;
  s.type = type;
  s.task = "classification";
  return s;
}

TEST(DatasetsTest, SyntheticIsDeterministicAndSplit) {
  DataSpec s = Spec("synthetic");
  s.samples = 100;
  s.features = 3;
  s.validation_fraction = 0.2;
  auto a = LoadDataset(s, 0), b = LoadDataset(s, 0);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->train.count, 80);
  EXPECT_EQ(a->validation.count, 20);
  EXPECT_EQ(a->train.inputs, b->train.inputs);
  EXPECT_EQ(a->sample_shape, (std::vector<int64_t>{3}));
  s.seed = 1;
  auto c = LoadDataset(s, 0);
  EXPECT_NE(a->train.inputs, c->train.inputs);
}

TEST(DatasetsTest, PermutationIsAPermutationAndStable) {
  auto p = Permutation(1000, 42);
  std::set<int64_t> unique(p.begin(), p.end());
  EXPECT_EQ(unique.size(), 1000u);
  EXPECT_EQ(*unique.begin(), 0);
  EXPECT_EQ(*unique.rbegin(), 999);
  EXPECT_EQ(p, Permutation(1000, 42));
  EXPECT_NE(p, Permutation(1000, 43));
}

TEST(DatasetsTest, CsvWithLabelColumn) {
  TempDir dir;
  WriteFile(dir / "t.csv", "a,label,b\n1,0,2\n3,1,4\n5,2,6\n7,1,8\n");
  DataSpec s = Spec("csv");
  s.path = dir / "t.csv";
  s.validation_fraction = 0.25;
  s.normalize = false;
  auto d = LoadDataset(s, 0);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->classes, 3);
  EXPECT_EQ(d->sample_shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(d->train.count + d->validation.count, 4);
  // Rows keep their features paired with their label: a=1,b=2 has label 0, etc.
  for (const Samples* part : {&d->train, &d->validation}) {
    for (int64_t i = 0; i < part->count; ++i) {
      float a = part->inputs[2 * i], label = part->targets[i];
      EXPECT_EQ(label, a == 1 ? 0 : a == 5 ? 2 : 1);
    }
  }
}

TEST(DatasetsTest, CsvErrorsNameFileAndLine) {
  TempDir dir;
  struct Case { std::string text, expected; };
  for (const Case& c : std::vector<Case>{
           {"x,label\n1,0\n2,oops\n", ":3: column \"label\": expected a finite number, found \"oops\""},
           {"x,label\n1,0\n2\n", ":3: expected 2 columns, found 1"},
           {"x,y\n1,0\n2,1\n", ":1: no column named \"label\""},
           {"x,label\n1,0.5\n2,1\n", ":2: the label must be a class index"},
           {"x,label\n1,0\n", ": need at least 2 data rows"},
       }) {
    WriteFile(dir / "bad.csv", c.text);
    DataSpec s = Spec("csv");
    s.path = dir / "bad.csv";
    auto d = LoadDataset(s, 0);
    ASSERT_FALSE(d.ok()) << c.text;
    EXPECT_NE(d.status().message().find(s.path + c.expected), std::string::npos)
        << "expected \"" << c.expected << "\" in " << d.status().message();
  }
}

TEST(DatasetsTest, CsvRegressionAndReshape) {
  TempDir dir;
  WriteFile(dir / "r.csv", "p0,p1,p2,p3,label\n0,1,2,3,0.5\n4,5,6,7,-1.25\n");
  DataSpec s = Spec("csv");
  s.task = "regression";
  s.path = dir / "r.csv";
  s.shape = {1, 2, 2};
  s.validation_fraction = 0;
  auto d = LoadDataset(s, 0);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->sample_shape, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(d->validation.count, 0);
  EXPECT_EQ(d->train.targets, (std::vector<float>{0.5f, -1.25f}));
  s.shape = {1, 3, 3};
  EXPECT_NE(LoadDataset(s, 0).status().message().find("data.shape has 9 values per sample"), std::string::npos);
}

std::string BigEndian(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

TEST(DatasetsTest, IdxImagesAndLabels) {
  TempDir dir;
  std::string images = BigEndian(0x803) + BigEndian(3) + BigEndian(2) + BigEndian(2);
  for (int i = 0; i < 12; ++i) images.push_back(static_cast<char>(i * 20));
  std::string labels = BigEndian(0x801) + BigEndian(3) + std::string{0, 1, 2};
  WriteFile(dir / "img", images);
  WriteFile(dir / "lbl", labels);
  DataSpec s = Spec("idx");
  s.path = dir / "img";
  s.labels_path = dir / "lbl";
  s.validation_fraction = 0;
  s.normalize = false;
  auto d = LoadDataset(s, 0);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->sample_shape, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(d->classes, 3);
  EXPECT_FLOAT_EQ(d->train.inputs[5], 100.0f / 255.0f);

  WriteFile(dir / "img", images.substr(0, images.size() - 1));
  EXPECT_NE(LoadDataset(s, 0).status().message().find("truncated"), std::string::npos);
  WriteFile(dir / "img", "not an idx file at all");
  EXPECT_NE(LoadDataset(s, 0).status().message().find("not an idx image file"), std::string::npos);
}

TEST(DatasetsTest, TextWindowsOverlapByOneByte) {
  TempDir dir;
  WriteFile(dir / "c.txt", "abcdefghij");  // 10 bytes, context 3: windows abcd, defg, ghij
  DataSpec s = Spec("text");
  s.task = "language_model";
  s.path = dir / "c.txt";
  s.validation_fraction = 0;
  auto d = LoadDataset(s, 3);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->train.count, 3);
  EXPECT_EQ(d->sample_shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(d->train.inputs[4], 'd');
  EXPECT_EQ(d->train.inputs[11], 'j');
  WriteFile(dir / "c.txt", "abc");
  EXPECT_NE(LoadDataset(s, 3).status().message().find("needs at least 7"), std::string::npos);
}

TEST(DatasetsTest, MissingFilesAreNotFound) {
  DataSpec s = Spec("digits");
  s.path = "/nonexistent/digits.csv";
  auto d = LoadDataset(s, 0);
  EXPECT_EQ(d.status().code(), StatusCode::kNotFound);
  EXPECT_NE(d.status().message().find("run scripts/setup"), std::string::npos);
}

TEST(DatasetsTest, StandardisationUsesTrainingStatistics) {
  DataSpec s = Spec("synthetic");
  s.samples = 2000;
  s.features = 4;
  auto d = LoadDataset(s, 0);
  ASSERT_TRUE(d.ok());
  double mean = 0, sq = 0;
  for (int64_t i = 0; i < d->train.count; ++i) mean += d->train.inputs[i * 4], sq += d->train.inputs[i * 4] * d->train.inputs[i * 4];
  mean /= d->train.count;
  EXPECT_NEAR(mean, 0.0, 1e-4);
  EXPECT_NEAR(sq / d->train.count, 1.0, 1e-3);
}

}  // namespace
}  // namespace orchard::train
