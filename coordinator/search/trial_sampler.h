// Turns a search space into concrete hyperparameters: the grid's points in order, seeded random
// draws, or a seeded low-discrepancy sequence. Pure; the same (space, seed, index) always gives the
// same values.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "coordinator/search/search_strategy.h"
#include "core/search_space.h"

namespace orchard::coordinator {

// Point `index` of the grid over `parameters` when none has conditions, by index arithmetic (first
// parameter slowest): the same point GridPoints gives, without the points before it.
std::vector<Hyperparameter> GridPoint(const std::vector<ParameterSpace>& parameters, int64_t index);

// The first `count` points of the grid over `parameters` (every parameter a list of values or a
// constant), in row-major order with the first parameter varying slowest; a parameter whose `when`
// does not hold is left out of a point and adds no points (core/search_space.h).
std::vector<std::vector<Hyperparameter>> GridPoints(const std::vector<ParameterSpace>& parameters, int64_t count);

// Whether `p`'s conditions hold for the values already in `point`.
bool AppliesTo(const ParameterSpace& p, const std::vector<Hyperparameter>& point);

// Random draw number `index` for a sweep seeded with `seed`: values uniformly from lists, uniform,
// log-uniform or integer-uniform within [min, max] for distributions; parameters whose conditions
// do not hold are left out. Each index has its own
// generator stream, so draws need no saved generator state.
std::vector<Hyperparameter> RandomPoint(const std::vector<ParameterSpace>& parameters, int64_t seed,
                                        int64_t index);

// Point `index` of a scrambled Halton sequence over the parameters that vary (constants are left
// as they are), for a sweep seeded with `seed`: dimension d takes the radical inverse of `index` in
// the d-th prime base with its digits permuted, then shifted modulo 1 (both from the seed). Its first
// n points cover the space more evenly than n random draws, which clump and leave gaps.
std::vector<Hyperparameter> QuasiRandomPoint(const std::vector<ParameterSpace>& parameters, int64_t seed,
                                             int64_t index);

// The value of `p` at `u` in [0, 1): `u`'s share of a list, or of [min, max] on the distribution's
// scale. A constant ignores `u`.
std::string ValueAt(const ParameterSpace& p, double u);

// The generator for draw `index` of a sweep seeded with `seed`. `stream` tells apart independent
// uses of the same index (0 is RandomPoint's), so a strategy's state never needs a saved generator.
std::mt19937_64 DrawGenerator(int64_t seed, int64_t index, uint64_t stream = 0);

// Uniform in [0, 1) from 53 random bits: unlike std::uniform_real_distribution its output is the
// same with every standard library, so a sweep's draws do not depend on the build.
double Unit(std::mt19937_64& rng);

// One value of `p` drawn from its space, as the text of its override.
std::string DrawValue(const ParameterSpace& p, std::mt19937_64& rng);

}  // namespace orchard::coordinator
