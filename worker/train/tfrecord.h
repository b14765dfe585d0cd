// TFRecord framing, the container format of TensorBoard event files. Each record is
//
//   uint64 length | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC-32C of data
//
// all little-endian; mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8.
//
//   std::string file;
//   AppendRecord(serialized_event, &file);
//   StatusOr<std::vector<std::string>> back = ParseRecords(file);
//
// Pure functions, thread-safe. No protobuf here: records are opaque bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace orchard::train {

// The masked CRC-32C (Castagnoli) of `size` bytes, as TFRecord stores it.
uint32_t MaskedCrc32c(const void* data, size_t size);

// Appends one framed record holding `data` to `out`.
void AppendRecord(std::string_view data, std::string* out);

// The data of every record in `bytes`, in order. DataLoss, naming the record's offset, when a
// checksum does not match or the last record is cut short (a writer still writing it, or a torn
// write).
StatusOr<std::vector<std::string>> ParseRecords(std::string_view bytes);

}  // namespace orchard::train
