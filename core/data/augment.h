#pragma once

#include "data/dataset.h"

#include <random>

namespace liftlab {

struct AugmentOptions
{
    bool enabled = true;
    int padding = 2;   // random crop of the original size from the zero-padded image
    bool flip = true;  // horizontal flip with probability 1/2
};

// Gathers images into a normalised float batch [B, C, H, W], augmenting each
// image when `rng` is given (training) and not otherwise (evaluation). Works
// on the uint8 pixels directly: one pass, no intermediate tensors.
torch::Tensor makeBatch(const Dataset &data, const std::vector<int64_t> &indices, const Normalization &norm,
                        const AugmentOptions &augment, std::mt19937_64 *rng);

} // namespace liftlab
