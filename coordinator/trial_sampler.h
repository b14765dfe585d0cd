// Turns a search space into concrete hyperparameters: the grid's points in order, or seeded random
// draws. Pure; the same (space, seed, index) always gives the same values.
#pragma once

#include <cstdint>
#include <vector>

#include "coordinator/search_strategy.h"
#include "core/search_space.h"

namespace orchard::coordinator {

// Point `index` of the grid over `parameters` (every parameter a list of values or a constant),
// in row-major order with the first parameter varying slowest. index < GridSize(parameters).
std::vector<Hyperparameter> GridPoint(const std::vector<ParameterSpace>& parameters, int64_t index);

// Random draw number `index` for a sweep seeded with `seed`: values uniformly from lists, uniform,
// log-uniform or integer-uniform within [min, max] for distributions. Each index has its own
// generator stream, so draws need no saved generator state.
std::vector<Hyperparameter> RandomPoint(const std::vector<ParameterSpace>& parameters, int64_t seed,
                                        int64_t index);

}  // namespace orchard::coordinator
