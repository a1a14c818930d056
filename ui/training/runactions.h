#pragma once

#include <QObject>

class QAction;
class QWidget;

namespace liftlab {

class Session;

// Start, Pause (which reads Resume while paused) and Stop, the one set of
// run actions that the main and the comparison windows both use: icons and
// tooltips; Pause and Stop act on the window's session, and all three follow
// its state. What Start does is the window's.
class RunActions : public QObject
{
    Q_OBJECT

public:
    // Object names are start<what>Action, pause<what>Action, stop<what>Action.
    RunActions(const QString &what, Session *session, QWidget *parent);

    QAction *start() const { return m_start; }
    QAction *pause() const { return m_pause; }
    QAction *stop() const { return m_stop; }

    // Start while idle and `canStart`, Pause and Stop while running; Pause
    // is checked, and reads Resume, while paused. Never emits toggled.
    void update(bool canStart = true);

Q_SIGNALS:
    // What Pause and Stop did, for the window's log.
    void message(const QString &text);

private:
    QWidget *m_parent;
    Session *m_session;
    bool m_canStart = true;
    QAction *m_start;
    QAction *m_pause;
    QAction *m_stop;
};

} // namespace liftlab
