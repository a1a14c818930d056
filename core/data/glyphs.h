#pragma once

// "glyphs": a synthetic many-class dataset, Stanford Online Products in
// miniature without a download. Each class is one character; its images
// are that character rendered by FreeType from the installed DejaVu faces
// (Sans, Serif, Mono, condensed, bold, oblique, ...), each instance with its
// own face, size, rotation, stroke weight, position and noise, white on
// black, 32 x 32 gray. The characters are the first `classes` of Latin,
// Greek, Cyrillic, Armenian, Georgian and symbol blocks that at least four
// faces draw. Everything is a function of the seed (and the font files).
//   zero-shot: the first half of the classes train, the rest test
//   seen:      the first two thirds of each class's images train

#include "data/dataset.h"

namespace liftlab {

struct GlyphOptions
{
    int classes = 600;
    int perClass = 12;
    uint64_t seed = 0;
};

// The folder the faces are read from.
std::string glyphFontFolder();

// Throws liftlab::Error (naming the font folder) when too few characters
// can be drawn for `classes`.
ExperimentData makeGlyphs(SplitKind split, const GlyphOptions &options = {});

} // namespace liftlab
