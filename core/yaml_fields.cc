#include "core/yaml_fields.h"

#include <algorithm>
#include <cmath>

#include "core/format.h"

namespace orchard {
namespace {

std::string Join(const std::vector<std::string>& words, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) out += (i ? sep : "") + words[i];
  return out;
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string Describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsScalar()) return "\"" + node.Scalar() + "\"";
  YAML::Emitter out;
  out << YAML::Flow << node;
  std::string text = out.c_str();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return (node.IsMap() ? "a mapping " : "a list ") + text;
}

std::string Printable(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      constexpr char kHex[] = "0123456789abcdef";
      out += {'\\', 'x', kHex[byte >> 4], kHex[byte & 0xf]};
    } else {
      out += c;
    }
  }
  return out;
}

std::string KeyText(const YAML::Node& key) {
  return key.IsScalar() ? key.Scalar() : Describe(key);
}

std::string ClosestWord(const std::string& word, const std::vector<std::string>& known) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const std::string& k : known) {
    size_t d = EditDistance(word, k);
    if (d < best_distance) best_distance = d, best = k;
  }
  return best;
}

void Diagnostics::AddOverrideOrigin(const std::string& field, const std::string& origin) {
  override_origins_[field] = origin;
}

void Diagnostics::Error(const YAML::Mark& mark, const std::string& field,
                        const std::string& message) {
  for (const auto& [prefix, origin] : override_origins_) {
    // A field inside an overridden one (or the field itself) was set on the command line.
    const bool inside = field == prefix || field.rfind(prefix + ".", 0) == 0;
    // A field on the way to an overridden one that the file lacks: --set created it.
    const bool created = mark.is_null() && prefix.rfind(field + ".", 0) == 0;
    if (inside || created) {
      errors_.push_back(Printable(origin + ": " + field + ": " + message));
      return;
    }
  }
  std::string where = file_;
  if (!mark.is_null()) {
    where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  errors_.push_back(Printable(where + ": " + field + ": " + message));
}

Status Diagnostics::ToStatus() const {
  if (errors_.empty()) return OkStatus();
  return InvalidArgument(Join(errors_, "\n"));
}

Fields::Fields(YAML::Node node, std::string path, Diagnostics* diag)
    : node_(std::move(node)), path_(std::move(path)), diag_(diag) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    diag_->Error(node_.Mark(), path_.empty() ? "recipe" : path_,
                 "expected a mapping of fields, found " + Describe(node_));
    // reset() rebinds; assigning would overwrite the document's node through the reference.
    node_.reset(YAML::Node());  // reads see an empty section: one error, not one per field
    not_a_mapping_ = true;
  }
}

std::string Fields::FieldPath(const std::string& key) const {
  if (key.empty()) return path_;
  return path_.empty() ? key : path_ + "." + key;
}

void Fields::Error(const std::string& key, const std::string& message) {
  // The value's position if it is there, else its mapping's (a missing field, or the section itself).
  YAML::Mark mark = node_.IsDefined() ? node_.Mark() : YAML::Mark::null_mark();
  if (!key.empty() && node_.IsMap() && node_[key].IsDefined()) mark = node_[key].Mark();
  diag_->Error(mark, FieldPath(key), message);
}

bool Fields::Has(const std::string& key) const {
  return node_.IsMap() && node_[key].IsDefined() && !node_[key].IsNull();
}

std::optional<YAML::Node> Fields::Lookup(const std::string& key, bool required) {
  known_.insert(key);
  if (!Has(key)) {
    if (required) {
      diag_->Error(node_.Mark(), FieldPath(key),
                   "is required but missing" +
                       std::string(path_.empty() ? "" : " from '" + path_ + "'"));
    }
    return std::nullopt;
  }
  return node_[key];
}

std::string Fields::String(const std::string& key, std::optional<std::string> def) {
  auto value = Lookup(key, !def.has_value());
  if (!value) return def.value_or("");
  if (!value->IsScalar()) {
    Error(key, "expected a string, found " + Describe(*value));
    return def.value_or("");
  }
  return value->Scalar();
}

std::string Fields::Choice(const std::string& key, std::optional<std::string> def,
                           const std::vector<std::string>& allowed) {
  bool present = Has(key);
  if (present && !node_[key].IsScalar()) {
    String(key, def);  // records "expected a string"; that is the one problem
    return def.value_or(allowed.front());
  }
  std::string value = String(key, def);
  if (present && std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    std::string hint = ClosestWord(value, allowed);
    Error(key, "expected one of " + Join(allowed, ", ") + ", found \"" + value + "\"" +
                   (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)"));
    return def.value_or(allowed.front());
  }
  return value;
}

double Fields::Number(const std::string& key, std::optional<double> def, double min,
                      double max) {
  auto value = Lookup(key, !def.has_value());
  if (!value) return def.value_or(min);
  std::string range = "a number in [" + FormatNumber(min) + ", " + FormatNumber(max) + "]";
  double v;
  try {
    if (!value->IsScalar()) throw YAML::BadConversion(value->Mark());
    v = value->as<double>();
  } catch (const YAML::Exception&) {
    Error(key, "expected " + range + ", found " + Describe(*value));
    return def.value_or(min);
  }
  if (!std::isfinite(v) || v < min || v > max) {
    Error(key, "expected " + range + ", found " + Describe(*value));
    return def.value_or(min);
  }
  return v;
}

int64_t Fields::Integer(const std::string& key, std::optional<int64_t> def, int64_t min,
                        int64_t max) {
  auto value = Lookup(key, !def.has_value());
  if (!value) return def.value_or(min);
  std::string range = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  int64_t v;
  try {
    if (!value->IsScalar()) throw YAML::BadConversion(value->Mark());
    v = value->as<int64_t>();
  } catch (const YAML::Exception&) {
    Error(key, "expected " + range + ", found " + Describe(*value));
    return def.value_or(min);
  }
  if (v < min || v > max) {
    Error(key, "expected " + range + ", found " + Describe(*value));
    return def.value_or(min);
  }
  return v;
}

bool Fields::Bool(const std::string& key, bool def) {
  auto value = Lookup(key, false);
  if (!value) return def;
  try {
    if (!value->IsScalar()) throw YAML::BadConversion(value->Mark());
    return value->as<bool>();
  } catch (const YAML::Exception&) {
    Error(key, "expected true or false, found " + Describe(*value));
    return def;
  }
}

std::vector<int64_t> Fields::Integers(const std::string& key, std::vector<int64_t> def,
                                      int64_t min, int64_t max) {
  auto value = Lookup(key, false);
  if (!value) return def;
  std::string what = "a list of integers in [" + std::to_string(min) + ", " +
                     std::to_string(max) + "]";
  if (!value->IsSequence()) {
    Error(key, "expected " + what + ", found " + Describe(*value));
    return def;
  }
  std::vector<int64_t> out;
  for (const YAML::Node& item : *value) {
    try {
      int64_t v = item.as<int64_t>();
      if (v < min || v > max) throw YAML::BadConversion(item.Mark());
      out.push_back(v);
    } catch (const YAML::Exception&) {
      Error(key, "expected " + what + ", found " + Describe(*value));
      return def;
    }
  }
  return out;
}

Fields Fields::Map(const std::string& key) {
  known_.insert(key);
  return Fields(node_.IsMap() ? node_[key] : YAML::Node(), FieldPath(key), diag_);
}

void Fields::RejectRepeated() {
  if (!node_.IsMap()) return;
  std::map<std::string, YAML::Mark> first_seen;
  for (const auto& entry : node_) {
    std::string key = KeyText(entry.first);
    auto [first, inserted] = first_seen.emplace(key, entry.first.Mark());
    if (!inserted) {
      diag_->Error(entry.first.Mark(), FieldPath(key),
                   "given twice (first on line " + std::to_string(first->second.line + 1) +
                       "); keep one");
    }
  }
}

void Fields::RejectUnknown() {
  RejectRepeated();
  if (!node_.IsMap()) return;
  std::vector<std::string> known(known_.begin(), known_.end());
  for (const auto& entry : node_) {
    std::string key = KeyText(entry.first);
    if (known_.count(key)) continue;
    std::string hint = ClosestWord(key, known);
    diag_->Error(entry.first.Mark(), FieldPath(key),
                 "unknown field" + (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)") +
                     "; known fields here: " + Join(known, ", "));
  }
}

}  // namespace orchard
