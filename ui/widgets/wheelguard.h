#pragma once

class QWidget;

namespace liftlab {

// Scrolling over a form must not change its fields. The combo boxes, spin
// boxes and sliders in `root` (and `root` itself) take the wheel only once
// they have focus, from a click or Tab; until then the wheel goes to what
// holds them, a scroll area scrolls. Call it again for fields added later.
void guardWheel(QWidget *root);

} // namespace liftlab
