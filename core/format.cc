#include "core/format.h"

#include <sstream>

namespace orchard {

std::string FormatNumber(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace orchard
