// Small files replaced whole: written beside and renamed over, so a reader (or a crash) never
// leaves half of one. Not for large files (no streaming) and not fsynced (callers that need a
// durable file sync themselves).
#pragma once

#include <string>

#include "core/status.h"

namespace orchard {

// Internal when it cannot be written (a full disk, permissions); parent directories are created.
Status WriteFileAtomically(const std::string& path, const std::string& text);

}  // namespace orchard
