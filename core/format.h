// How numbers read in messages, logs and events everywhere: the stream's default formatting
// (6 significant digits, "nan", "inf"), so that one value reads the same in every process.
#pragma once

#include <string>

namespace orchard {

std::string FormatNumber(double value);

}  // namespace orchard
