// Typed, validated reads from a YAML document, for recipe parsing.
//
//   Diagnostics diag("recipe.yaml");
//   Fields train(root["train"], "train", &diag);
//   int64_t steps = train.Integer("steps", 100, 1, kMaxSteps);
//   train.RejectUnknown();
//   if (!diag.ok()) return diag.ToStatus();
//
// Reads never fail hard: a bad or missing value records an error (file, line, column, field,
// expected and found) and returns the default, so one pass reports every problem. Not thread-safe.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"

namespace orchard {

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  // Fields set on the command line are reported as "--set FIELD=VALUE" instead of a file position,
  // and so are fields with no position that lead to one (a misspelt section named by --set).
  void AddOverrideOrigin(const std::string& field, const std::string& origin);

  // Records "FILE:LINE:COL: FIELD: MESSAGE" (or the override's origin), on one line (Printable).
  void Error(const YAML::Mark& mark, const std::string& field, const std::string& message);

  bool ok() const { return errors_.empty(); }
  const std::vector<std::string>& errors() const { return errors_; }
  // All errors, one per line, as an InvalidArgument status; OK if there are none.
  Status ToStatus() const;

 private:
  std::string file_;
  std::map<std::string, std::string> override_origins_;
  std::vector<std::string> errors_;
};

// One YAML mapping at a dotted path. Remembers which keys were read so that RejectUnknown can name
// the rest (with a suggestion when one is close to a known key).
class Fields {
 public:
  // `node` may be undefined or null (an absent section): every read then yields its default.
  Fields(YAML::Node node, std::string path, Diagnostics* diag);

  bool Has(const std::string& key) const;
  std::string String(const std::string& key, std::optional<std::string> def);
  std::string Choice(const std::string& key, std::optional<std::string> def,
                     const std::vector<std::string>& allowed);
  double Number(const std::string& key, std::optional<double> def, double min, double max);
  int64_t Integer(const std::string& key, std::optional<int64_t> def, int64_t min, int64_t max);
  bool Bool(const std::string& key, bool def);
  std::vector<int64_t> Integers(const std::string& key, std::vector<int64_t> def, int64_t min,
                                int64_t max);
  Fields Map(const std::string& key);
  // Marks `key` as known without reading it (for sections parsed elsewhere).
  void Skip(const std::string& key) { known_.insert(key); }

  // Errors for every key that no read asked for (with a suggestion when one is close to a known
  // key), and for every key given twice (RejectRepeated).
  void RejectUnknown();
  // Errors for every key given twice: YAML forbids it, and yaml-cpp would silently keep the first.
  void RejectRepeated();
  // True when the section is present but not a mapping: that error is recorded once, and checks
  // across its fields would only repeat it.
  bool NotAMapping() const { return not_a_mapping_; }

  void Error(const std::string& key, const std::string& message);
  std::string FieldPath(const std::string& key) const;
  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  Diagnostics* diagnostics() const { return diag_; }

 private:
  // The value at `key`, or nullopt (after recording an error if it is required) when absent.
  std::optional<YAML::Node> Lookup(const std::string& key, bool required);

  YAML::Node node_;
  std::string path_;
  Diagnostics* diag_;
  std::set<std::string> known_;
  bool not_a_mapping_ = false;
};

// A mapping's key as a field name: its text, or a description when it is not a scalar.
std::string KeyText(const YAML::Node& key);

// A scalar or sequence as it would appear in YAML flow style, quoted, for messages.
std::string Describe(const YAML::Node& node);

// `text` with control characters written as escapes (\n, \t, \x01), so that a message quoting a
// value or a key stays on one line.
std::string Printable(const std::string& text);

// The known word closest to `word` if it is a likely typo of it, else "".
std::string ClosestWord(const std::string& word, const std::vector<std::string>& known);

}  // namespace orchard
