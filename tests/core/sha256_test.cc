// SHA-256 against FIPS 180-4's test vectors, fed whole and in uneven pieces.
#include "core/sha256.h"

#include <gtest/gtest.h>

#include <string>

namespace orchard {
namespace {

TEST(Sha256, MatchesTheStandardsVectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // 56 bytes: the padding needs a second block.
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, PiecesOfAnySizeGiveTheDigestOfTheWhole) {
  const std::string million(1'000'000, 'a');
  const std::string expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  EXPECT_EQ(Sha256Hex(million), expected);
  Sha256 pieces;
  size_t offset = 0;
  for (size_t size = 1; offset < million.size(); size = size * 3 % 1000 + 1) {
    const size_t take = std::min(size, million.size() - offset);
    pieces.Update(million.data() + offset, take);
    offset += take;
  }
  EXPECT_EQ(pieces.HexDigest(), expected);
}

}  // namespace
}  // namespace orchard
