#include "worker/agent/exit_reason.h"

#include <string.h>

#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/trainer_exit_codes.h"

namespace orchard::worker {
namespace {

constexpr int64_t kTailBytes = 4096;
constexpr int kMessageLines = 5;

// The length of the UTF-8 sequence at text[i], or 0 when none starts there (overlong forms,
// surrogates and code points past U+10FFFF included).
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) length = 2;
  else if (lead == 0xE0) length = 3, low = 0xA0;
  else if (lead == 0xED) length = 3, high = 0x9F;
  else if (lead >= 0xE1 && lead <= 0xEF) length = 3;
  else if (lead == 0xF0) length = 4, low = 0x90;
  else if (lead >= 0xF1 && lead <= 0xF3) length = 4;
  else if (lead == 0xF4) length = 4, high = 0x8F;
  else return 0;
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (size_t k = 2; k < length; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return length;
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return lines;
}

std::string JoinLines(const std::vector<std::string_view>& lines, size_t from, size_t to) {
  std::string joined;
  for (size_t i = from; i < to; ++i) joined.append(i > from ? "\n" : "").append(lines[i]);
  return joined;
}

}  // namespace

std::string PrintableUtf8(std::string_view text) {
  std::string printable;
  printable.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      printable += '?';
      ++i;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (length == 1 && (c < 0x20 || c == 0x7F) && c != '\n' && c != '\t') printable += ' ';
    else printable.append(text.substr(i, length));
    i += length;
  }
  return printable;
}

std::string LogTail(const std::string& path, int lines) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  if (size <= 0) return "";  // empty, or not a regular file (tellg fails on a directory)
  const std::streamoff start = std::max<std::streamoff>(0, size - kTailBytes);
  in.seekg(start);
  std::string tail(static_cast<size_t>(size - start), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  tail.resize(static_cast<size_t>(std::max<std::streamsize>(0, in.gcount())));
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r' || tail.back() == ' ')) tail.pop_back();
  const std::vector<std::string_view> all = SplitLines(tail);
  const size_t keep = std::min(all.size(), static_cast<size_t>(std::max(lines, 0)));
  return PrintableUtf8(JoinLines(all, all.size() - keep, all.size()));
}

std::string TrainerMessage(std::string_view tail) {
  const std::vector<std::string_view> lines = SplitLines(tail);
  for (size_t i = lines.size(); i-- > 0;) {
    if (lines[i].substr(0, 14) != "orchard-train:") continue;
    size_t end = i + 1;
    while (end < lines.size() && end - i < kMessageLines && lines[end].substr(0, 3) != "---") ++end;
    return JoinLines(lines, i, end);
  }
  return JoinLines(lines, lines.size() - std::min<size_t>(lines.size(), kMessageLines), lines.size());
}

std::optional<MemberEnd> FusedMemberEnd(const std::string& summary_json) {
  const nlohmann::json summary = nlohmann::json::parse(summary_json, nullptr, false);
  if (!summary.is_object() || !summary.contains("outcome") || !summary["outcome"].is_string()) return std::nullopt;
  const std::string outcome = summary["outcome"].get<std::string>();
  const std::string message =
      summary.contains("message") && summary["message"].is_string() ? summary["message"].get<std::string>() : "";
  if (outcome == "completed") return MemberEnd{train::kExitCompleted, "completed"};
  if (outcome == "diverged") return MemberEnd{train::kExitDiverged, PrintableUtf8(message.substr(0, kTailBytes))};
  if (outcome == "preempted")
    return MemberEnd{train::kExitPreempted, PrintableUtf8(message.substr(0, kTailBytes))};
  return std::nullopt;
}

std::string ExitReason(const TrainerExit& exit, const std::string& log_path) {
  if (!exit.note.empty()) return PrintableUtf8(exit.note.substr(0, kTailBytes));
  if (exit.signal != 0)
    return "killed by signal " + std::to_string(exit.signal) + " (" + strsignal(exit.signal) + ")" +
           (exit.signal == SIGKILL ? "; out of memory?" : "");
  const auto last = [&] {
    const std::string message = TrainerMessage(LogTail(log_path, 40));
    return message.empty() ? std::string("the trainer wrote nothing to its log " + log_path) : message;
  };
  switch (exit.exit_code) {
    case train::kExitCompleted: return "completed";
    case train::kExitBadInput: return "invalid recipe or data: " + last();
    case train::kExitDiverged: return last();
    case train::kExitPreempted: return "preempted: stopped with SIGTERM after writing a checkpoint";
    case train::kExitFenced: return "fenced: a newer attempt of the trial owns its output";
    case 127: return "cannot run the trainer binary";
    default: return "failed (exit " + std::to_string(exit.exit_code) + "): " + last();
  }
}

}  // namespace orchard::worker
