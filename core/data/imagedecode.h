#pragma once

// Decoding a listing's images once into an ImageStore of uint8 RGB
// [N, 3, S, S]. Each image is read with OpenCV (JPEG, PNG, BMP, WebP, ...;
// gray, RGB, RGBA and 16-bit all become 8-bit RGB), optionally cropped to its
// bounding box, scaled so that its longer side is S and centred on a black
// S x S square (the paper's "pad to 256 x 256"): nothing of the object is cut.
//
// Where the decoded images stay: in memory when they take at most half of
// LoadOptions::memoryBudget, else in a file read on demand (the cache file
// below, or an unnamed temporary file when there is no cache), so that a
// dataset of any size trains in bounded memory; the OS page cache holds
// what memory is free. Decoding then writes each image to the file as it
// is made: the whole set is never in memory at once.
//
// With a cache folder, the decoded images of a listing are written there
// once and read back by later loads of the same listing at the same size,
// as long as every image file keeps its size and modification time. The
// cache keeps the four most recently used datasets and never fills the
// disk (it is skipped when less than 1 GiB would be left).

#include "data/imagesets.h"

#include <vector>

namespace liftlab {

struct DecodedImages
{
    ImageStore images;                   // M images of 3 x S x S, M <= N
    std::vector<int64_t> kept;           // for each of the M, its index in the listing
    std::vector<SkippedImage> skipped;   // the others, in listing order
};

// Decodes every image of the listing on options.threads threads, at
// options.imageSize (S); a set cancel flag makes it throw Error. An image
// that is missing, unreadable or corrupt is skipped and reported; nothing
// else stops.
DecodedImages decodeImages(const ImageListing &listing, const LoadOptions &options);

// Decodes one image as decodeImages() does, into `out` (uint8 3 x side x
// side, zeroed beforehand): cropped to entry.box when `cropToBox`, scaled so
// that its longer side is `side`, centred. Returns why it cannot be used
// ("missing", "cannot be decoded ..."), or an empty string.
std::string decodeImage(const ImageEntry &entry, int side, bool cropToBox, uint8_t *out);

// The cache folder for decoded images: $LIFTLAB_CACHE if set (set but
// empty: no cache), else $XDG_CACHE_HOME/liftlab/images or
// ~/.cache/liftlab/images.
std::string defaultImageCacheFolder();

} // namespace liftlab
