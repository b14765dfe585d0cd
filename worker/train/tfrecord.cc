#include "worker/train/tfrecord.h"

#include "core/crc32c.h"

namespace orchard::train {
namespace {

constexpr uint32_t kMaskDelta = 0xa282ead8u;
constexpr size_t kHeaderBytes = 8 + 4;
constexpr size_t kFooterBytes = 4;

void AppendLittleEndian(uint64_t value, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

uint64_t ReadLittleEndian(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(p[i]);
  return value;
}

}  // namespace

uint32_t MaskedCrc32c(const void* data, size_t size) {
  const uint32_t crc = Crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

void AppendRecord(std::string_view data, std::string* out) {
  std::string length;
  AppendLittleEndian(data.size(), 8, &length);
  out->append(length);
  AppendLittleEndian(MaskedCrc32c(length.data(), length.size()), 4, out);
  out->append(data);
  AppendLittleEndian(MaskedCrc32c(data.data(), data.size()), 4, out);
}

StatusOr<std::vector<std::string>> ParseRecords(std::string_view bytes) {
  std::vector<std::string> records;
  size_t at = 0;
  while (at < bytes.size()) {
    const std::string where = "the record at byte " + std::to_string(at);
    if (bytes.size() - at < kHeaderBytes) return DataLoss(where + " is cut short in its header");
    const char* header = bytes.data() + at;
    if (ReadLittleEndian(header + 8, 4) != MaskedCrc32c(header, 8)) {
      return DataLoss(where + " has a length whose checksum does not match");
    }
    const uint64_t length = ReadLittleEndian(header, 8);
    if (length > bytes.size() - at - kHeaderBytes || bytes.size() - at - kHeaderBytes - length < kFooterBytes) {
      return DataLoss(where + " is cut short: " + std::to_string(length) + " bytes of data announced");
    }
    const char* data = header + kHeaderBytes;
    if (ReadLittleEndian(data + length, 4) != MaskedCrc32c(data, length)) {
      return DataLoss(where + " has data whose checksum does not match");
    }
    records.emplace_back(data, length);
    at += kHeaderBytes + length + kFooterBytes;
  }
  return records;
}

}  // namespace orchard::train
