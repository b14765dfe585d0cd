// The 16-bit casts' CPU twin against LibTorch's own float -> bfloat16/half conversions, bit for bit.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <limits>

#include "kernels/kernels.h"

namespace orchard::kernels {
namespace {

// Random values over many magnitudes, plus the cases rounding gets wrong first: ties, overflow,
// subnormals, infinities, NaN, signed zero.
torch::Tensor Values() {
  torch::manual_seed(13);
  torch::Tensor random = torch::randn({300000}) * torch::pow(10.0, torch::randint(-9, 9, {300000}).to(torch::kFloat32));
  const float inf = std::numeric_limits<float>::infinity();
  torch::Tensor special = torch::tensor({1.0f + 1.0f / 256, 1.0f + 3.0f / 256, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048,
                                        65504.0f, 65520.0f, 1e-8f, 6e-5f, std::numeric_limits<float>::max(),
                                        std::numeric_limits<float>::denorm_min(), inf, -inf, 0.0f, -0.0f});
  return torch::cat({random, special});
}

std::vector<uint16_t> Bits(const torch::Tensor& half) {
  std::vector<uint16_t> out(half.numel());
  std::memcpy(out.data(), half.data_ptr(), out.size() * sizeof(uint16_t));
  return out;
}

void ExpectMatchesTorch(HalfType type, torch::ScalarType torch_type) {
  torch::Tensor values = Values();
  std::vector<uint16_t> ours(values.numel());
  ASSERT_TRUE(CastToHalf(values.data_ptr<float>(), ours.data(), values.numel(), type, Device::kCpu).ok());
  EXPECT_EQ(ours, Bits(values.to(torch_type)));

  std::vector<float> back(values.numel());
  ASSERT_TRUE(CastFromHalf(ours.data(), back.data(), values.numel(), type, 0.5f, Device::kCpu).ok());
  torch::Tensor expected = values.to(torch_type).to(torch::kFloat32) * 0.5f;
  EXPECT_TRUE(torch::equal(torch::from_blob(back.data(), {values.numel()}), expected));
}

TEST(CastsCpuTest, Bf16MatchesTorchBitForBit) { ExpectMatchesTorch(HalfType::kBFloat16, torch::kBFloat16); }
TEST(CastsCpuTest, Fp16MatchesTorchBitForBit) { ExpectMatchesTorch(HalfType::kFloat16, torch::kHalf); }

TEST(CastsCpuTest, NanStaysNan) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (HalfType type : {HalfType::kBFloat16, HalfType::kFloat16}) {
    uint16_t h = 0;
    float back = 0;
    ASSERT_TRUE(CastToHalf(&nan, &h, 1, type, Device::kCpu).ok());
    ASSERT_TRUE(CastFromHalf(&h, &back, 1, type, 1.0f, Device::kCpu).ok());
    EXPECT_TRUE(std::isnan(back));
  }
}

TEST(CastsCpuTest, RejectsBadBuffers) {
  uint16_t h = 0;
  Status s = CastToHalf(nullptr, &h, 1, HalfType::kBFloat16, Device::kCpu);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("must not be null"), std::string::npos) << s.message();
  EXPECT_FALSE(CastFromHalf(&h, nullptr, -1, HalfType::kFloat16, 1.0f, Device::kCpu).ok());
  EXPECT_TRUE(CastToHalf(nullptr, nullptr, 0, HalfType::kFloat16, Device::kCpu).ok());
}

}  // namespace
}  // namespace orchard::kernels
