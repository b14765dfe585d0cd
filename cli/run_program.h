// Running another program to completion from a command (orchard-train for `models export` and
// `reproduce`), with this process's stdout and stderr.
#pragma once

#include <string>
#include <vector>

namespace orchard::cli {

// `argv[0]` is the program's path. Its exit code, or -1 when it could not start or was killed.
int RunToCompletion(const std::vector<std::string>& argv);

}  // namespace orchard::cli
