// Files named by a command-line flag (tokens, certificates, keys): read whole, with an error that
// names the flag and the path.
#pragma once

#include <string>

#include "core/status.h"

namespace orchard {

// The contents of `path`, given as `flag`; InvalidArgument when it cannot be read or is empty.
StatusOr<std::string> ReadFlagFile(const std::string& flag, const std::string& path);

}  // namespace orchard
