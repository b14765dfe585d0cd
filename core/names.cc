#include "core/names.h"

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

bool IsValidName(const std::string& name) {
  if (name.empty() || name.size() > 64 || !std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

}  // namespace orchard
