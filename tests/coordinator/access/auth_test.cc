// Tokens: their shape, their hash and how a bearer header is read.
#include "coordinator/access/auth.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace orchard::coordinator {
namespace {

TEST(Tokens, EachKindHasItsPrefixAnd256RandomBitsThatNeverRepeat) {
  const std::pair<TokenKind, const char*> kinds[] = {
      {TokenKind::kUser, "orc_u_"}, {TokenKind::kWorker, "orc_w_"}, {TokenKind::kAttempt, "orc_a_"}};
  std::set<std::string> seen;
  for (const auto& [kind, prefix] : kinds) {
    for (int i = 0; i < 100; ++i) {
      const std::string token = NewToken(kind);
      EXPECT_TRUE(std::regex_match(token, std::regex(std::string(prefix) + "[0-9a-f]{64}"))) << token;
      EXPECT_TRUE(seen.insert(token).second) << "a token repeated: " << token;
    }
  }
}

TEST(Tokens, TheHashIsSha256InHex) {
  // FIPS 180-2's test vectors.
  EXPECT_EQ(HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HashToken(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string token = NewToken(TokenKind::kUser);
  EXPECT_EQ(HashToken(token), HashToken(token));
  EXPECT_NE(HashToken(token), HashToken(token + "x"));
}

TEST(Tokens, EqualityComparesWholeStrings) {
  EXPECT_TRUE(TokensEqual("abcdef", "abcdef"));
  EXPECT_FALSE(TokensEqual("abcdef", "abcdeg"));
  EXPECT_FALSE(TokensEqual("abcdef", "bbcdef"));
  EXPECT_FALSE(TokensEqual("abcdef", "abcde"));
  EXPECT_FALSE(TokensEqual("", "a"));
  EXPECT_TRUE(TokensEqual("", ""));
}

TEST(Tokens, BearerHeadersAreReadAndAnythingElseIsNot) {
  const std::pair<const char*, std::optional<std::string>> cases[] = {
      {"Bearer orc_u_abc", "orc_u_abc"},
      {"bearer orc_u_abc", "orc_u_abc"},
      {"BEARER   orc_u_abc  ", "orc_u_abc"},
      {"Bearer ", std::nullopt},
      {"Bearer    ", std::nullopt},
      {"Basic dXNlcjpwYXNz", std::nullopt},
      {"orc_u_abc", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& [header, expected] : cases) EXPECT_EQ(BearerToken(header), expected) << "'" << header << "'";
}

}  // namespace
}  // namespace orchard::coordinator
