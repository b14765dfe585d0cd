// SHA-256 (FIPS 180-4), fed in pieces: fingerprints of data files and final parameters, and token
// hashes. Written here rather than taken from OpenSSL so the training runtime, which also builds
// on machines without OpenSSL's headers, can use it.
//
//   Sha256 hash;
//   hash.Update(bytes.data(), bytes.size());
//   std::string hex = hash.HexDigest();
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace orchard {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  // Ends the hash: call once, then discard the object.
  std::array<uint8_t, 32> Digest();
  std::string HexDigest();  // 64 lowercase hex digits

 private:
  void Compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> pending_{};
  size_t pending_size_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string Sha256Hex(std::string_view bytes);

}  // namespace orchard
