#include "widgets/screenfit.h"

#include <QWidget>

namespace liftlab {

void fitToScreen(QWidget *window, const QSize &wanted, const QSize &screen)
{
    const bool small = screen.width() < wanted.width() || screen.height() < wanted.height();
    window->resize(wanted.boundedTo(screen));
    window->setWindowState(small ? window->windowState() | Qt::WindowMaximized
                                 : window->windowState() & ~Qt::WindowMaximized);
}

} // namespace liftlab
