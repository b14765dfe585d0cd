// Buffers of more than 2^31 elements through the CPU twins, so 32-bit index arithmetic anywhere would
// show. Untouched anonymous memory reads as zeros without being backed, so only what a kernel writes
// costs memory: the norm test reads 8 GiB almost for free; the optimizer test writes 8 GiB of
// parameters and is skipped where that much memory is not available.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <string>

#include "kernels/kernels.h"

namespace orchard::kernels {
namespace {

constexpr int64_t kHuge = (int64_t{1} << 31) + 4096;

// An anonymous mapping of n floats, unmapped on destruction.
class LazyFloats {
 public:
  explicit LazyFloats(int64_t n) : bytes_(static_cast<size_t>(n) * sizeof(float)) {
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    data_ = p == MAP_FAILED ? nullptr : static_cast<float*>(p);
  }
  ~LazyFloats() {
    if (data_) munmap(data_, bytes_);
  }
  float* data() const { return data_; }

 private:
  size_t bytes_;
  float* data_;
};

double AvailableGiB() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  double kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemAvailable:") return kib / (1024.0 * 1024.0);
    meminfo.ignore(64, '\n');
  }
  return 0;
}

TEST(LargeTensorTest, GradNormSeesElementsPast2To31) {
  LazyFloats grads(kHuge);
  ASSERT_NE(grads.data(), nullptr);
  grads.data()[kHuge - 1] = 3.0f;
  grads.data()[(int64_t{1} << 31) + 7] = 4.0f;  // would alias a negative index with 32-bit arithmetic
  StepVerdict verdict{};
  Status judged = JudgeGradients({{{{grads.data(), kHuge}}, 0}}, nullptr, Device::kCpu, &verdict);
  ASSERT_TRUE(judged.ok()) << judged.message();
  EXPECT_DOUBLE_EQ(verdict.last_norm, 5.0);
}

TEST(LargeTensorTest, SgdStepsElementsPast2To31) {
  if (AvailableGiB() < 12) GTEST_SKIP() << "needs 12 GiB of available memory for an 8 GiB parameter, found " << AvailableGiB();
  LazyFloats params(kHuge), grads(kHuge);
  ASSERT_NE(params.data(), nullptr);
  ASSERT_NE(grads.data(), nullptr);
  const int64_t far = (int64_t{1} << 31) + 5;
  params.data()[5] = 1.0f;
  params.data()[far] = 1.0f;
  grads.data()[far] = 2.0f;
  auto sgd = MultiTensorOptimizer::Create(OptimizerKind::kSgd, {{params.data(), grads.data(), nullptr, nullptr, nullptr, kHuge}}, 1,
                                          Device::kCpu);
  ASSERT_TRUE(sgd.ok()) << sgd.status().message();
  OptimizerGroup group;
  group.lr = 0.25;
  ASSERT_TRUE((*sgd)->Step({group}).ok());
  EXPECT_EQ(params.data()[far], 0.5f);  // 1 - 0.25 * 2
  EXPECT_EQ(params.data()[5], 1.0f);    // zero gradient: unchanged, not hit by a wrapped index
  EXPECT_EQ(params.data()[kHuge - 1], 0.0f);
}

}  // namespace
}  // namespace orchard::kernels
