#include "core/search_space.h"

namespace orchard {

int64_t GridSize(const std::vector<ParameterSpace>& parameters) {
  int64_t size = 1;
  for (const ParameterSpace& p : parameters) {
    switch (p.kind) {
      case ParameterSpace::Kind::kConstant: break;
      case ParameterSpace::Kind::kValues: size *= static_cast<int64_t>(p.values.size()); break;
      default: return 0;
    }
  }
  return size;
}

}  // namespace orchard
