#pragma once

class QWidget;

namespace liftlab {

// The Help menu's pages, each in a window of its own that the user can keep
// open beside the main window.
void showGettingStarted(QWidget *parent);
void showKeyboardShortcuts(QWidget *parent);

} // namespace liftlab
