#include "core/flag_file.h"

#include "core/atomic_file.h"

namespace orchard {

StatusOr<std::string> ReadFlagFile(const std::string& flag, const std::string& path) {
  std::optional<std::string> text = ReadWholeFile(path);
  if (!text || text->empty()) return InvalidArgument(flag + " " + path + ": cannot read the file, or it is empty");
  return std::move(*text);
}

}  // namespace orchard
