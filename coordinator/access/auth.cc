#include "coordinator/access/auth.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <cctype>
#include <stdexcept>

#include "core/sha256.h"

namespace orchard::coordinator {
namespace {

std::string Hex(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  text.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    text.push_back(kDigits[bytes[i] >> 4]);
    text.push_back(kDigits[bytes[i] & 0xf]);
  }
  return text;
}

const char* Prefix(TokenKind kind) {
  switch (kind) {
    case TokenKind::kUser: return "orc_u_";
    case TokenKind::kWorker: return "orc_w_";
    case TokenKind::kAttempt: return "orc_a_";
  }
  return "orc_";
}

}  // namespace

std::string NewToken(TokenKind kind) {
  std::array<unsigned char, 32> random{};
  // Without the system's random source no token can be trusted; there is nothing sensible to go on with.
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed: no secure random source for tokens");
  return Prefix(kind) + Hex(random.data(), random.size());
}

std::string HashToken(std::string_view token) { return Sha256Hex(token); }

bool TokensEqual(std::string_view a, std::string_view b) {
  // Lengths are not secret (every hash has 64 digits); the contents are compared in constant time.
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string> BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return std::nullopt;
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return std::string(token);
}

}  // namespace orchard::coordinator
