// Training on a CUDA GPU with bf16 autocast. Skipped, with a message, where no GPU is visible
// (failed instead where ORCHARD_REQUIRE_GPU=1, as in scripts/gpu-check).
#include <gtest/gtest.h>

#include "core/file_tree.h"
#include "kernels/kernels.h"
#include "tests/util/gpu_test.h"
#include "tests/util/test_util.h"
#include "worker/train/trainer.h"

namespace orchard::train {
namespace {

TEST(TrainerGpuTest, Bf16TrainingOnGpuLearnsAndResumes) {
  ORCHARD_NEEDS_GPU(kernels::CudaKernelsAvailable(), "no CUDA GPU visible: GPU training is tested on a GPU machine");
  orchard::testing::TempDir dir;
  orchard::testing::WriteCorpus(dir / "corpus.txt");
  auto recipe = ParseRecipe("model: {type: transformer, layers: 2, heads: 4, width: 64, context: 32}\n"
                            "data: {type: text, path: corpus.txt}\n"
                            "optimizer: {type: adamw, lr: 0.003}\n"
                            "train: {steps: 60, batch_size: 32, device: cuda, precision: bf16, grad_clip: 1.0}\n"
                            "checkpoint: {interval: 30}\n",
                            dir / "r.yaml", {});
  ASSERT_TRUE(recipe.ok()) << recipe.status().message();
  TrainOptions options;
  options.output_dir = dir / "out";
  auto r = Train(*recipe, options);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->device, "cuda:0");
  EXPECT_LT(r->final_train_loss, 0.7 * r->first_train_loss);
  RemoveTree(dir.path() / "out/checkpoints/step-60");
  options.resume = true;
  auto resumed = Train(*recipe, options);
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  EXPECT_EQ(resumed->start_step, 30);
  EXPECT_EQ(resumed->steps, 60);
  // Not bit for bit on a GPU (cuBLAS and fused attention may round differently from run to run),
  // but the resumed run continues the same training: its final loss is the uninterrupted one's, closely.
  EXPECT_NEAR(resumed->final_train_loss, r->final_train_loss, 0.1 * r->final_train_loss);
}

// A trainer capped at a share of the GPU that its model does not fit in fails alone, saying so: the
// process orchard-train, as the worker starts it for a trial that shares a GPU.
TEST(TrainerGpuTest, ATrialPastItsGpuMemoryShareFailsSayingSo) {
  ORCHARD_NEEDS_GPU(kernels::CudaKernelsAvailable(), "no CUDA GPU visible: the GPU memory cap is tested on a GPU machine");
  orchard::testing::TempDir dir;
  // About 1.6 GB of fp32 parameters and their AdamW state, against a share of 0.1% of the GPU (at
  // most a few hundred MB on any current GPU).
  orchard::testing::WriteFile(dir / "big.yaml",
                              "name: big\nmodel: {type: mlp, hidden: [20000, 20000]}\n"
                              "data: {type: synthetic, samples: 256, features: 16}\ntrain: {steps: 2, device: cuda}\n");
  const orchard::testing::ProcessResult r = orchard::testing::RunProcess(
      {ORCHARD_TRAIN_BIN, dir / "big.yaml", "--out", dir / "out", "--gpu-memory-fraction", "0.001"});
  EXPECT_EQ(r.exit_code, kExitBadInput) << r.output;
  EXPECT_NE(r.output.find("exceeded its GPU memory share (0.1% of the GPU's memory"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace orchard::train
