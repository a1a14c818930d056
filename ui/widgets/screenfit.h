#pragma once

#include <QSize>

class QWidget;

namespace liftlab {

// Sizes a top-level window for a screen whose available area is `screen`
// (logical pixels): `wanted` where that fits, else the screen's size,
// maximised.
void fitToScreen(QWidget *window, const QSize &wanted, const QSize &screen);

} // namespace liftlab
