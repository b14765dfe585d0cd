// How a trainer ended, in words for the attempt's record and `orchard trials`, from its exit status
// and the tail of its log.
//
//   const std::string reason = ExitReason(exit, "runs/sweep-1/trial-0/attempt-2.log");
//
// The log is the trainer's to write, so it is untrusted input: it may be missing, empty, binary,
// huge or cut off mid-line. Nothing here throws, at most the last 4 KiB are read, and the result is
// printable UTF-8 of at most 4 KiB plus a short prefix (or the log's path when the log is empty),
// which the coordinator takes as a reason (a proto3 string must be valid UTF-8, or the whole report
// fails to parse).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "worker/agent/trainer_launcher.h"

namespace orchard::worker {

// The last `lines` lines of the file's last 4 KiB, trailing blanks dropped, made printable; empty
// when the file is missing, empty or unreadable.
std::string LogTail(const std::string& path, int lines);

// The trainer's own last message in `tail`: from the last line that starts with "orchard-train:"
// up to the next line of dashes (mpirun's banners begin with one) or at most five lines; else
// the last five lines. Under mpirun the launcher's banner ("... exiting improperly") follows the
// trainer's words, and the trainer's are the reason.
std::string TrainerMessage(std::string_view tail);

// A summary of how orchard-train ended (its exit codes are in core/trainer_exit_codes.h).
std::string ExitReason(const TrainerExit& exit, const std::string& log_path);

// How one member of a fused group ended (docs/fusion.md), from its summary (orchard-train's
// --summary JSON): its own exit code and reason, as if it had trained alone. nullopt when the
// summary is missing or not one (the trainer died before writing it: its own exit says why).
struct MemberEnd {
  int exit_code = 0;
  std::string reason;
};
std::optional<MemberEnd> FusedMemberEnd(const std::string& summary_json);

// `text` with every byte sequence that is not UTF-8 replaced by '?' and every control character
// other than newline and tab by a space.
std::string PrintableUtf8(std::string_view text);

}  // namespace orchard::worker
