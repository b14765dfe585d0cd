// CRC-32C (Castagnoli), the checksum in checkpoint manifests. Pure; thread-safe.
//
//   uint32_t crc = Crc32c(bytes.data(), bytes.size());
//   crc = Crc32cExtend(crc, more.data(), more.size());   // streaming
#pragma once

#include <cstddef>
#include <cstdint>

namespace orchard {

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);
inline uint32_t Crc32c(const void* data, size_t size) { return Crc32cExtend(0, data, size); }

}  // namespace orchard
