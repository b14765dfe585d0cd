#include "core/recipe_variables.h"

#include <vector>

namespace orchard {

StatusOr<std::string> SubstituteVariables(const std::string& text, const std::map<std::string, std::string>& values,
                                          const std::string& file) {
  std::string known;
  for (const auto& [name, value] : values) known += (known.empty() ? "${" : ", ${") + name + "}";
  if (known.empty()) known = "none";
  std::string out;
  std::vector<std::string> errors;
  int64_t line = 1;
  size_t line_start = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {  // the escape for a literal "${"
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      if (text[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
      out += text[i++];
      continue;
    }
    const std::string where = file + ":" + std::to_string(line) + ":" + std::to_string(i - line_start + 1) + ": ";
    const size_t close = text.find('}', i + 2);
    if (close == std::string::npos || close > text.find('\n', i + 2)) {
      errors.push_back(where + "'${' without a closing '}' on its line (write $${ for a literal ${)");
      out += "${";
      i += 2;
      continue;
    }
    const std::string name = text.substr(i + 2, close - i - 2);
    const auto value = values.find(name);
    if (value == values.end()) errors.push_back(where + "unknown variable ${" + name + "}; the known ones are " + known);
    else out += value->second;
    i = close + 1;
  }
  if (errors.empty()) return out;
  std::string message;
  for (const std::string& e : errors) message += (message.empty() ? "" : "\n") + e;
  return InvalidArgument(message);
}

}  // namespace orchard
