// Training on a CUDA GPU with bf16 autocast. Skipped, with a message, where no GPU is visible.
#include <gtest/gtest.h>

#include "kernels/kernels.h"
#include "tests/util/test_util.h"
#include "worker/train/trainer.h"

namespace orchard::train {
namespace {

TEST(TrainerGpuTest, Bf16TrainingOnGpuLearnsAndResumes) {
  if (!kernels::CudaKernelsAvailable()) GTEST_SKIP() << "no CUDA GPU visible: GPU training is tested on a GPU machine";
  orchard::testing::TempDir dir;
  auto recipe = ParseRecipe("model: {type: transformer, layers: 2, heads: 4, width: 64, context: 32}\n"
                            "data: {type: text, path: /usr/share/common-licenses/GPL-3}\n"
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
  std::filesystem::remove_all(dir.path() / "out/checkpoints/step-60");
  options.resume = true;
  auto resumed = Train(*recipe, options);
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  EXPECT_EQ(resumed->start_step, 30);
  EXPECT_EQ(resumed->steps, 60);
}

}  // namespace
}  // namespace orchard::train
