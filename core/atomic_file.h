// Small files replaced whole: written beside and renamed over, so a reader (or a crash) never
// leaves half of one, and read whole. Not for large files (no streaming) and not fsynced (callers
// that need a durable file sync themselves).
#pragma once

#include <optional>
#include <string>

#include "core/status.h"

namespace orchard {

// Internal when it cannot be written (a full disk, permissions); parent directories are created.
Status WriteFileAtomically(const std::string& path, const std::string& text);

// The whole file, byte for byte; nullopt when it cannot be opened or read.
std::optional<std::string> ReadWholeFile(const std::string& path);

}  // namespace orchard
