#include "core/flag_file.h"

#include <fstream>
#include <sstream>

namespace orchard {

StatusOr<std::string> ReadFlagFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) return InvalidArgument(flag + " " + path + ": cannot read the file, or it is empty");
  return text.str();
}

}  // namespace orchard
