// What recipe.cc (the training fields, overrides, loading) and recipe_sweep.cc (the sweep block)
// share. Internal to the recipe parser: include recipe.h elsewhere.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "core/yaml_fields.h"

namespace orchard::recipe_internal {

// The largest count (trials, steps, ...) a recipe may ask for.
inline constexpr int64_t kMaxCount = int64_t{1} << 40;

// The text of a --set value that reads back as `node`: scalars are quoted where YAML needs it
// ("a: b", "#x", "").
std::string ToFlowYaml(const YAML::Node& node);

// Sets the dotted `path` of `root` to `value`, creating mappings on the way; a null value removes it.
Status SetPath(YAML::Node root, const std::string& path, const YAML::Node& value);

// The metrics a model of `task` reports.
std::vector<std::string> MetricsOfTask(const std::string& task);

// Everything but the sweep; also used to check each candidate value of a sweep parameter.
void ReadTrainingFields(const YAML::Node& root, const std::string& file, Recipe* r, Diagnostics* diag);

// The sweep block, checked against the recipe it varies (`base`).
void ReadSweep(Fields f, const YAML::Node& root, const std::string& file, const Recipe& base, SweepSpec* s);

}  // namespace orchard::recipe_internal
