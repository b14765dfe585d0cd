#include "core/metric_name.h"

#include <cctype>

namespace orchard {

Status CheckMetricName(const std::string& name, const std::string& field) {
  if (name.empty() || name.size() > 128)
    return InvalidArgument(field + ": must be 1 to 128 characters, found " + std::to_string(name.size()));
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '/' && c != '-')
      return InvalidArgument(field + ": '" + name + "' may only contain letters, digits, '_', '.', '/' and '-'");
  return OkStatus();
}

}  // namespace orchard
