#pragma once

#include "data/dataset.h"

#include <random>
#include <string>

namespace liftlab {

// How training images are varied. The test-time view is the centre crop of
// the same side (Normalization::cropSide), so train and test see one size.
enum class Augmentation {
    PadCrop,     // pad-crop: a crop of the full size from the image padded by `padding` (small images)
    Paper,       // paper: a random crop of cropSide (227 of 256 in the paper) and a mirror
    ResizedCrop, // resized-crop: a random 8-100% area, 3:4-4:3 aspect window scaled to cropSide (Inception's)
};

Augmentation augmentationFromString(const std::string &name); // throws liftlab::Error
// The side of the network input for images of side `side`: the paper's
// 227/256 and resized-crop's 224/256 of it, all of it for pad-crop.
int64_t inputSide(Augmentation a, int64_t side);

struct AugmentOptions
{
    bool enabled = true;
    Augmentation kind = Augmentation::PadCrop;
    int padding = 2;   // pad-crop
    bool flip = true;  // horizontal flip with probability 1/2
};

// Gathers images into a normalised float batch [B, C, s, s] (s = the
// normalisation's cropSide; without one, the images' own H x W), augmenting each image when
// `rng` is given (training) and taking the centre otherwise (evaluation).
// Works on the uint8 pixels directly: one pass, no intermediate tensors.
// With `first` and `stride`, only the images first, first + stride, ...
// of `indices` are made, each augmented exactly as in the whole batch (the
// augmentation of every image is still drawn from `rng`, in order): a
// process of a distributed run makes its share of the global batch.
// `workers` threads read and make the images (the images do not depend on
// their number). Throws liftlab::Error when an image file cannot be read.
torch::Tensor makeBatch(const Dataset &data, const std::vector<int64_t> &indices, const Normalization &norm,
                        const AugmentOptions &augment, std::mt19937_64 *rng, int64_t first = 0, int64_t stride = 1,
                        int workers = 1);

} // namespace liftlab
