// The model registry's trainer side on CPU: a checkpoint exported as TorchScript computes what the
// trainer's own model computes (loaded back in C++, and in Python when the venv's is there), and
// --evaluate-only judges a checkpoint on other data without training it.
#include "worker/train/torchscript_export.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>

#include <filesystem>
#include <random>
#include <sstream>

#include "tests/util/test_util.h"
#include "worker/train/checkpoint_store.h"
#include "worker/train/models.h"
#include "worker/train/trainer.h"

namespace orchard::train {
namespace {

namespace fs = std::filesystem;
using orchard::testing::ReadFile;
using orchard::testing::RunProcess;
using orchard::testing::TempDir;
using orchard::testing::WriteFile;

Recipe MustParse(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  auto recipe = ParseRecipe(yaml, "/recipes/export.yaml", overrides);
  if (!recipe.ok()) throw std::runtime_error(recipe.status().message());
  return *recipe;
}

TrainResult MustTrain(const Recipe& recipe, const std::string& out, bool evaluate_only = false) {
  TrainOptions options;
  options.output_dir = out;
  options.evaluate_only = evaluate_only;
  auto result = Train(recipe, options);
  if (!result.ok()) throw std::runtime_error(result.status().message());
  return *result;
}

// 6x6 one-channel images whose class is the brightest third of the image, with a header row.
void WriteImageCsv(const std::string& path, int rows) {
  std::mt19937 rng(3);
  std::ostringstream csv;
  for (int i = 0; i < 36; ++i) csv << "p" << i << ",";
  csv << "label\n";
  for (int r = 0; r < rows; ++r) {
    const int label = static_cast<int>(rng() % 3);
    for (int i = 0; i < 36; ++i) csv << (i / 12 == label ? 100 + rng() % 50 : rng() % 80) << ",";
    csv << label << "\n";
  }
  WriteFile(path, csv.str());
}

// What the trainer's model makes of raw inputs: the checkpoint's model in evaluation mode after the
// checkpoint's standardisation.
torch::Tensor TrainersOutput(const Recipe& recipe, const std::string& checkpoint_dir, const std::vector<int64_t>& shape,
                             int64_t outputs, const torch::Tensor& raw) {
  auto checkpoint = CheckpointStore::Open(checkpoint_dir);
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status().message();
  const std::string bytes = CheckpointStore::ReadFile(*checkpoint, "rank-0.pt").value();
  torch::serialize::InputArchive archive;
  std::istringstream in(bytes);
  archive.load_from(in);
  auto model = BuildModel(recipe.model, shape, outputs);
  EXPECT_TRUE(model.ok());
  EXPECT_TRUE(RestoreModelState(**model, archive, checkpoint_dir).ok());
  torch::Tensor mean, inv_std;
  archive.read("data/mean", mean);
  archive.read("data/inv_std", inv_std);
  (*model)->SetTraining(false);
  torch::NoGradGuard no_grad;
  return (*model)->Forward((raw - mean) * inv_std);
}

struct ExportCase {
  std::string name;
  std::string recipe;
  std::vector<int64_t> sample_shape;
  int64_t outputs;
};

TEST(TorchScriptExport, TheExportedModuleComputesWhatTheTrainersModelDoesInCppAndPython) {
  TempDir dir;
  WriteImageCsv(dir / "images.csv", 240);
  const std::vector<ExportCase> cases = {
      {"mlp",
       "name: m\nmodel: {type: mlp, hidden: [16, 8], activation: gelu, dropout: 0.2}\n"
       "data: {type: synthetic, samples: 256, features: 8, classes: 3}\ntrain: {steps: 20, batch_size: 16}\n",
       {8}, 3},
      // Two stages of two blocks: a strided block with a projection, and identity shortcuts.
      {"cnn",
       "name: c\nmodel: {type: cnn, channels: 4, stages: 1, blocks: 2, dropout: 0.2}\n"
       "data: {type: csv, path: " + (dir / "images.csv") + ", shape: [1, 6, 6]}\ntrain: {steps: 12, batch_size: 16}\n",
       {1, 6, 6}, 3},
  };
  // What Python's torch.jit.load must reproduce: per case the file, the raw inputs and the outputs.
  nlohmann::json python_cases = nlohmann::json::array();
  std::vector<torch::Tensor> expected_outputs;
  for (const ExportCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Recipe recipe = MustParse(c.recipe);
    const TrainResult trained = MustTrain(recipe, dir / c.name);
    const std::string file = dir / (c.name + ".pt");
    const Status exported = ExportTorchScript(recipe, trained.last_checkpoint, file);
    ASSERT_TRUE(exported.ok()) << exported.message();

    std::vector<int64_t> batch_shape = {5};
    batch_shape.insert(batch_shape.end(), c.sample_shape.begin(), c.sample_shape.end());
    torch::manual_seed(7);
    const torch::Tensor raw = torch::rand(batch_shape) * 120;  // raw, as a server would receive them
    const torch::Tensor expected = TrainersOutput(recipe, trained.last_checkpoint, c.sample_shape, c.outputs, raw);
    torch::jit::Module loaded = torch::jit::load(file);
    const torch::Tensor got = loaded.forward({raw}).toTensor();
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_TRUE(torch::allclose(got, expected, /*rtol=*/1e-5, /*atol=*/1e-5)) << got << "\nvs\n" << expected;
    EXPECT_TRUE(torch::allclose(loaded.forward({raw}).toTensor(), got)) << "not deterministic: dropout left on?";

    const torch::Tensor contiguous = raw.contiguous();
    python_cases.push_back({{"file", file},
                            {"shape", batch_shape},
                            {"input", std::vector<float>(contiguous.data_ptr<float>(),
                                                         contiguous.data_ptr<float>() + contiguous.numel())}});
    expected_outputs.push_back(expected);
  }

  // Python's torch, when the build's interpreter has it: one process for every case.
  WriteFile(dir / "cases.json", python_cases.dump());
  WriteFile(dir / "run.py", "import json, sys\n"
                            "try:\n"
                            "    import torch\n"
                            "except ImportError:\n"
                            "    print('no torch'); sys.exit(3)\n"
                            "outputs = []\n"
                            "for case in json.load(open(sys.argv[1])):\n"
                            "    model = torch.jit.load(case['file'])\n"
                            "    outputs.append(model(torch.tensor(case['input']).reshape(case['shape'])).tolist())\n"
                            "print(json.dumps(outputs))\n");
  const auto run = RunProcess({ORCHARD_PYTHON, dir / "run.py", dir / "cases.json"}, 120);
  if (run.exit_code == 3 || !fs::exists(ORCHARD_PYTHON)) {
    // The C++ checks above stand; only this part needs the venv.
    std::cout << "[ SKIPPED  ] the Python check: " << ORCHARD_PYTHON << " cannot import torch\n";
    return;
  }
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto outputs = nlohmann::json::parse(run.output.substr(run.output.find('[')));
  ASSERT_EQ(outputs.size(), cases.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    SCOPED_TRACE(cases[k].name + " in Python");
    ASSERT_EQ(outputs[k].size(), 5u);
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t j = 0; j < cases[k].outputs; ++j)
        EXPECT_NEAR(outputs[k][i][j].get<double>(), expected_outputs[k][i][j].item<double>(), 1e-4)
            << "row " << i << ", output " << j;
  }
}

TEST(TorchScriptExport, OtherModelTypesAndOtherModelsCheckpointsAreClearErrors) {
  TempDir dir;
  const Recipe mlp = MustParse("model: {type: mlp, hidden: [4]}\ndata: {type: synthetic, samples: 64, features: 4}\n"
                               "train: {steps: 2, batch_size: 8}\n");
  const TrainResult trained = MustTrain(mlp, dir / "mlp");

  const Recipe transformer = MustParse("model: {type: transformer}\ndata: {type: text, path: corpus.txt}\ntrain: {steps: 1}\n");
  const Status unsupported = ExportTorchScript(transformer, trained.last_checkpoint, dir / "t.pt");
  EXPECT_EQ(unsupported.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unsupported.message().find("model.type transformer cannot be exported to TorchScript yet (exportable: mlp, cnn)"),
            std::string::npos) << unsupported.message();

  const Recipe wider = MustParse("model: {type: mlp, hidden: [16]}\ndata: {type: synthetic, samples: 64, features: 4}\n"
                                 "train: {steps: 2, batch_size: 8}\n");
  const Status mismatch = ExportTorchScript(wider, trained.last_checkpoint, dir / "w.pt");
  EXPECT_EQ(mismatch.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(mismatch.message().find("does not match this model"), std::string::npos) << mismatch.message();
  EXPECT_FALSE(fs::exists(dir / "w.pt"));

  const Status missing = ExportTorchScript(mlp, dir / "mlp/checkpoints/step-999", dir / "m.pt");
  EXPECT_FALSE(missing.ok());
}

TEST(EvaluateOnly, JudgesTheLatestCheckpointOnTheRecipesDataWithItsOwnStandardisationWithoutTraining) {
  TempDir dir;
  const std::string yaml = "model: {type: mlp, hidden: [16]}\n"
                           "data: {type: synthetic, samples: 400, features: 6, classes: 3, noise: 2.0}\n"
                           "train: {steps: 30, batch_size: 16}\n";
  const TrainResult trained = MustTrain(MustParse(yaml), dir / "champion");

  // On its own data it scores exactly what training's final evaluation did.
  fs::create_directories(dir / "same/checkpoints");
  fs::copy(trained.last_checkpoint, dir / "same/checkpoints/step-30", fs::copy_options::recursive);
  const TrainResult same = MustTrain(MustParse(yaml), dir / "same", /*evaluate_only=*/true);
  EXPECT_EQ(same.steps, 30);
  EXPECT_EQ(same.parameter_digest, trained.parameter_digest) << "it trained";
  EXPECT_NEAR(same.final_eval.at("val_loss"), trained.final_eval.at("val_loss"), 1e-5);
  EXPECT_DOUBLE_EQ(same.final_eval.at("val_accuracy"), trained.final_eval.at("val_accuracy"));
  const std::string metrics = ReadFile(dir / "same/metrics.jsonl");
  EXPECT_NE(metrics.find("\"name\":\"val_accuracy\""), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\"step\":30"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("train_loss"), std::string::npos) << metrics;

  // Another night's data (another seed): other figures, the same model.
  fs::create_directories(dir / "other/checkpoints");
  fs::copy(trained.last_checkpoint, dir / "other/checkpoints/step-30", fs::copy_options::recursive);
  const TrainResult other = MustTrain(MustParse(yaml, {"data.seed=5"}), dir / "other", /*evaluate_only=*/true);
  EXPECT_EQ(other.parameter_digest, trained.parameter_digest);
  EXPECT_NE(other.final_eval.at("val_loss"), trained.final_eval.at("val_loss"));

  TrainOptions options;
  options.output_dir = dir / "empty";
  options.evaluate_only = true;
  auto nothing = Train(MustParse(yaml), options);
  ASSERT_FALSE(nothing.ok());
  EXPECT_EQ(nothing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(nothing.status().message().find("--evaluate-only needs a checkpoint"), std::string::npos);
}

}  // namespace
}  // namespace orchard::train
