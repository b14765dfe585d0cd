// The state database's schema: one migration per version (Database::Migrate applies them in
// order). Never edit a released migration; append a new one.
#pragma once

#include <string>
#include <vector>

namespace orchard::coordinator {

const std::vector<std::string>& SchemaMigrations();

}  // namespace orchard::coordinator
