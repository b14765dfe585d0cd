#include "core/fusion.h"

#include <algorithm>
#include <map>


namespace orchard {
namespace {

std::string FieldOf(const std::string& override_pair) { return override_pair.substr(0, override_pair.find('=')); }

// A member's overrides but for fusable fields, each field at its last value (a later --set wins).
std::map<std::string, std::string> ShapeDefiningOverrides(const Recipe& recipe) {
  std::map<std::string, std::string> kept;
  for (const std::string& pair : recipe.overrides) {
    const std::string field = FieldOf(pair);
    if (!CheckFusableField(field).ok()) kept[field] = pair;
  }
  return kept;
}

std::string JoinFields() {
  std::string joined;
  for (const std::string& field : FusableFields()) joined += (joined.empty() ? "" : ", ") + field;
  return joined;
}

}  // namespace

const std::vector<std::string>& FusableFields() {
  static const std::vector<std::string> fields = {
      "optimizer.lr",        "optimizer.momentum",  "optimizer.nesterov",  "optimizer.beta1",
      "optimizer.beta2",     "optimizer.eps",       "optimizer.weight_decay", "schedule.type",
      "schedule.warmup_steps", "schedule.min_lr_ratio", "schedule.step_size", "schedule.gamma",
      "train.grad_clip",     "model.dropout"};
  return fields;
}

Status CheckFusableField(const std::string& field) {
  const auto& fields = FusableFields();
  if (std::find(fields.begin(), fields.end(), field) != fields.end()) return OkStatus();
  return InvalidArgument(field + " changes a tensor's shape, the batches or the optimizer's state, so trials that differ "
                         "in it cannot be fused; fused trials may differ only in " + JoinFields());
}

Status CheckFusableGroup(const std::vector<Recipe>& members) {
  if (members.size() < 2) return InvalidArgument("a fused group needs at least 2 members, got " + std::to_string(members.size()));
  const Recipe& first = members.front();
  const auto first_fixed = ShapeDefiningOverrides(first);
  auto setting = [](const std::map<std::string, std::string>& fixed, const std::string& field) {
    const auto it = fixed.find(field);
    return it == fixed.end() ? "keeps the recipe's " + field : "sets " + it->second;
  };
  for (size_t i = 1; i < members.size(); ++i) {
    const std::string member = "fused member " + std::to_string(i);
    if (members[i].file != first.file) {
      return InvalidArgument(member + " is recipe " + members[i].file + ", member 0 is " + first.file +
                             "; a fused group trains one recipe");
    }
    const auto fixed = ShapeDefiningOverrides(members[i]);
    std::map<std::string, std::string> fields = fixed;
    fields.insert(first_fixed.begin(), first_fixed.end());
    for (const auto& [field, unused] : fields) {
      if (setting(fixed, field) == setting(first_fixed, field)) continue;
      return InvalidArgument(member + " " + setting(fixed, field) + " where member 0 " +
                             setting(first_fixed, field) + ": " + CheckFusableField(field).message());
    }
  }
  return OkStatus();
}

}  // namespace orchard
