// Data sources of the training runtime, loaded into memory without torch: synthetic, csv, idx
// (MNIST's format), text (a byte corpus) and digits (the 8x8 handwritten digits that scikit-learn
// ships; scripts/setup extracts them). Split into training and validation by a seed and standardised
// with the training split's statistics.
//
//   StatusOr<SplitDataset> data = LoadDataset(recipe.data, /*text_context=*/64);
//
// Errors name the file and, for text formats, the line. Plain values; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"

namespace orchard::train {

// Samples stored row-major: `inputs` holds count * prod(sample_shape) values.
struct Samples {
  std::vector<float> inputs;
  std::vector<float> targets;  // class index, regression target; for language models unused
  int64_t count = 0;
};

struct SplitDataset {
  std::string task;                   // classification | regression | language_model
  std::vector<int64_t> sample_shape;  // e.g. {16}, {1, 8, 8}; language model: {context + 1} bytes
  int64_t classes = 0;                // classification: number of classes; language model: 256
  Samples train;
  Samples validation;
  // The standardisation applied to both splits, per input value (prod(sample_shape) each):
  // x' = (x - mean) * inv_std. Empty when data.normalize is off or for language models.
  std::vector<float> mean;
  std::vector<float> inv_std;
};

// `text_context` is the language model's context (used by text data when data.context is 0).
StatusOr<SplitDataset> LoadDataset(const DataSpec& spec, int64_t text_context);

// The permutation of [0, n) for `seed`; the same on every platform (own Fisher-Yates over SplitMix64).
std::vector<int64_t> Permutation(int64_t n, uint64_t seed);

}  // namespace orchard::train
