#include "worker/train/tfrecord.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace orchard::train {
namespace {

TEST(TfRecordTest, MaskedCrcOfKnownBuffers) {
  // Expected values from TensorBoard's own masked_crc32c (tensorflow_stub.pywrap_tensorflow).
  struct Case { std::string data; uint32_t masked; };
  for (const Case& c : std::vector<Case>{{"", 0xa282ead8u}, {"a", 0x28e46e78u}, {"123456789", 0xc78ab0e5u}}) {
    EXPECT_EQ(MaskedCrc32c(c.data.data(), c.data.size()), c.masked) << '"' << c.data << '"';
  }
}

TEST(TfRecordTest, FramesLikeTensorBoardsRecordWriter) {
  // Event{wall_time: 1700000000.5, file_version: "brain.Event:2"}, serialized, framed by
  // tensorboard.summary.writer.record_writer.RecordWriter.
  const std::string event("\x09\x00\x00\x20\x40\xfc\x54\xd9\x41\x1a\x0d" "brain.Event:2", 24);
  std::string framed;
  AppendRecord(event, &framed);
  const std::string expected = std::string("\x18\x00\x00\x00\x00\x00\x00\x00", 8) + "\xa3\x7f\x4b\x22" + event +
                               "\x2b\x35\x31\x10";
  EXPECT_EQ(framed, expected);
}

TEST(TfRecordTest, ReadsBackWhatItFramed) {
  const std::vector<std::string> records = {"", "one", std::string(1000, 'x'), std::string("\0\xff", 2)};
  std::string file;
  for (const std::string& r : records) AppendRecord(r, &file);
  EXPECT_EQ(file.size(), 4 * 16 + 3 + 1000 + 2);
  auto back = ParseRecords(file);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, records);
}

TEST(TfRecordTest, RefusesCorruptAndTornRecords) {
  std::string file;
  AppendRecord("first", &file);
  AppendRecord("second", &file);
  const size_t second_at = 16 + 5;
  struct Case { std::string name; std::string bytes; std::string message; };
  std::string flipped_data = file;
  flipped_data[second_at + 12] ^= 1;
  std::string flipped_length = file;
  flipped_length[second_at] ^= 1;
  for (const Case& c : std::vector<Case>{
           {"data", flipped_data, "the record at byte 21 has data whose checksum does not match"},
           {"length", flipped_length, "the record at byte 21 has a length whose checksum does not match"},
           {"torn data", file.substr(0, file.size() - 1), "the record at byte 21 is cut short: 6 bytes of data announced"},
           {"torn header", file.substr(0, second_at + 5), "the record at byte 21 is cut short in its header"},
       }) {
    auto back = ParseRecords(c.bytes);
    ASSERT_FALSE(back.ok()) << c.name;
    EXPECT_EQ(back.status().code(), StatusCode::kDataLoss) << c.name;
    EXPECT_EQ(back.status().message(), c.message) << c.name;
  }
}

}  // namespace
}  // namespace orchard::train
