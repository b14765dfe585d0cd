// Variables in a recipe's text that are filled in just before it is parsed: a schedule fills
// ${date}, ${time}, ${datetime}, ${schedule} and ${run} each time it fires (docs/schedules.md), so
// that one stored recipe reads fresh data every night:
//
//   data: {type: csv, path: data/${date}/train.csv}
//
//   ASSIGN_OR_RETURN(std::string text, SubstituteVariables(yaml, {{"date", "2026-11-21"}}, "nightly.yaml"));
//
// A variable is `${` NAME `}`; `$${` stands for a literal `${`. Substitution is textual (comments
// included) and happens before YAML parsing. Pure; thread-compatible.
#pragma once

#include <map>
#include <string>

#include "core/status.h"

namespace orchard {

// `text` with every ${NAME} replaced by values.at(NAME). InvalidArgument lists every variable that
// `values` does not name and every `${` without its `}`, one per line, as
// "FILE:LINE:COL: unknown variable ${dat}; the known ones are ${date}, ${run}" (known ones in the
// order of `values`' keys).
StatusOr<std::string> SubstituteVariables(const std::string& text, const std::map<std::string, std::string>& values,
                                          const std::string& file);

}  // namespace orchard
