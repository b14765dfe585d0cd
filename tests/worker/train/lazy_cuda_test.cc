// orchard-train does not link LibTorch's CUDA library (cmake/OrchardDependencies.cmake): a run that
// may use a GPU loads it before anything asks LibTorch about CUDA. This binary links the trainer as
// orchard-train does, and each case runs in a fresh process (a death test), since LibTorch settles
// whether it has CUDA once per process.
#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <dlfcn.h>
#include <limits.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "core/recipe.h"
#include "kernels/kernels.h"
#include "tests/util/test_util.h"
#include "worker/train/fused_trainer.h"
#include "worker/train/trainer.h"

namespace orchard::train {
namespace {

using orchard::testing::TempDir;

// LibTorch's CUDA library, beside libtorch_cpu.so (found as LoadLibTorchCuda finds it); empty for a
// CPU-only build of torch.
std::string LibTorchCudaPath() {
  void* cpu = dlopen("libtorch_cpu.so", RTLD_LAZY | RTLD_NOLOAD);
  char origin[PATH_MAX];
  const bool found = cpu != nullptr && dlinfo(cpu, RTLD_DI_ORIGIN, origin) == 0;
  if (cpu != nullptr) dlclose(cpu);
  if (!found) return "";
  const std::filesystem::path path = std::filesystem::path(origin) / "libtorch_cuda.so";
  return std::filesystem::exists(path) ? path.string() : "";
}

bool LibTorchCudaLoaded(const std::string& path) { return dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD) != nullptr; }

StatusOr<TrainResult> TrainOn(const std::string& device, const TempDir& dir) {
  auto recipe = ParseRecipe("model: {type: mlp}\ndata: {type: synthetic, samples: 100}\ntrain: {steps: 2, device: " +
                                device + "}\n",
                            dir / "r.yaml", {});
  if (!recipe.ok()) return recipe.status();
  TrainOptions options;
  options.output_dir = dir / "out";
  return Train(*recipe, options);
}

class LazyCudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process for each case's run
    path_ = LibTorchCudaPath();
    if (path_.empty()) GTEST_SKIP() << "this LibTorch is a CPU-only build: it has no CUDA library to load";
    ASSERT_FALSE(LibTorchCudaLoaded(path_)) << "this test must not link LibTorch's CUDA library (TORCH_LIBRARIES)";
  }
  std::string path_;
};

TEST_F(LazyCudaTest, ACpuRunLeavesLibTorchsCudaLibraryUnloaded) {
  EXPECT_EXIT(
      {
        TempDir dir;
        auto result = TrainOn("cpu", dir);
        if (!result.ok()) std::cerr << result.status().message() << "\n";
        std::exit(result.ok() && !LibTorchCudaLoaded(path_) ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(LazyCudaTest, ACudaRunLoadsItBeforeLibTorchSettlesWhetherItHasCuda) {
  EXPECT_EXIT(
      {
        TempDir dir;
        auto result = TrainOn("cuda", dir);
        // Trained, or refused for want of a GPU, and never the too-late load's Internal error.
        const bool answered = result.ok() || (result.status().code() == StatusCode::kUnavailable &&
                                              result.status().message().find("no CUDA GPU is visible") != std::string::npos);
        if (!answered) std::cerr << result.status().message() << "\n";
        // LibTorch took the library in: its CUDA runtime hooks and its CUDA kernels.
        const bool registered = LibTorchCudaLoaded(path_) && at::globalContext().hasCUDART() &&
                                c10::Dispatcher::singleton().findSchemaOrThrow("aten::add", "Tensor")
                                    .hasKernelForDispatchKey(c10::DispatchKey::CUDA);
        std::exit(answered && registered ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// A fused group of two on cuda: 0 when it trained, or was refused for want of a GPU, with LibTorch's
// CUDA library loaded and taken in.
int FusedGroupOnCuda(const std::string& cuda_library) {
  TempDir dir;
  std::vector<FusedMember> members;
  for (const std::string lr : {"0.01", "0.02"}) {
    auto recipe = ParseRecipe("model: {type: mlp}\ndata: {type: synthetic, samples: 100}\ntrain: {steps: 2, device: cuda}\n",
                              dir / "r.yaml", {"optimizer.lr=" + lr});
    if (!recipe.ok()) return 2;
    FusedMember member{*recipe, {}};
    member.options.output_dir = dir / lr;
    members.push_back(member);
  }
  auto result = TrainFused(members);
  const bool answered = result.ok() || (result.status().code() == StatusCode::kUnavailable &&
                                        result.status().message().find("no CUDA GPU is visible") != std::string::npos);
  if (!answered) std::cerr << result.status().message() << "\n";
  return answered && LibTorchCudaLoaded(cuda_library) && at::globalContext().hasCUDART() ? 0 : 1;
}

// A fused group resolves its device before it seeds, as a lone run does.
TEST_F(LazyCudaTest, AFusedGroupOnCudaLoadsItBeforeLibTorchSettles) {
  EXPECT_EXIT(std::exit(FusedGroupOnCuda(path_)), ::testing::ExitedWithCode(0), "");
}

// The check behind the order above can fail: a question about CUDA before the load is told as
// orchard-train's bug, not as a machine without a GPU.
TEST_F(LazyCudaTest, AQuestionAboutCudaBeforeTheLoadIsToldAsABug) {
  EXPECT_EXIT(
      {
        (void)at::globalContext().hasCUDA();  // LibTorch settles: no CUDA
        TempDir dir;
        auto result = TrainOn("cuda", dir);
        const bool told = !result.ok() && result.status().code() == StatusCode::kInternal &&
                          result.status().message().find("settled") != std::string::npos;
        if (!told) std::cerr << (result.ok() ? "trained" : result.status().message()) << "\n";
        std::exit(told ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace orchard::train
