// Which build of Orchard this is: its version, and the git commit it was built from (baked in at
// every build by cmake/BuildInfo.cmake), so every trained model can name the code that made it.
#pragma once

#include <string>

namespace orchard {

struct BuildInfo {
  std::string version;  // the project's version, e.g. "0.1.0"
  std::string commit;   // full hash; "unknown" when built outside a git checkout
  bool dirty = false;   // tracked files differed from the commit (uncommitted changes were built)
};

const BuildInfo& ThisBuild();

}  // namespace orchard
