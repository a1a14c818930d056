#pragma once

#include <QColor>
#include <QRgb>

namespace liftlab {

// Viridis (van der Walt and Smith, matplotlib): perceptually uniform and
// readable in greyscale and by colour-blind viewers. Interpolated linearly
// between its colours at 0, 0.1, ..., 1, which stays within a few levels of
// the full 256-entry table.
QRgb viridis(double t); // t in [0, 1], clamped

// Colours for classes, which have no order: Tableau 10 (distinct, and
// friendly to colour-blind viewers for the first few) for the first ten,
// then hues a golden angle apart, so any number of classes stay distinct.
QRgb categorical(int index);

// The colour of run i wherever several runs are drawn, the same in every view.
QColor runColour(int run);

} // namespace liftlab
