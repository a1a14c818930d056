#include "training/runactions.h"

#include "training/session.h"

#include <QAction>
#include <QStyle>
#include <QWidget>

namespace liftlab {

RunActions::RunActions(const QString &what, Session *session, QWidget *parent)
    : QObject(parent)
    , m_parent(parent)
    , m_session(session)
{
    QStyle *s = parent->style();
    m_start = new QAction(s->standardIcon(QStyle::SP_MediaPlay), tr("&Start"), parent);
    m_start->setObjectName(QStringLiteral("start%1Action").arg(what));
    m_pause = new QAction(s->standardIcon(QStyle::SP_MediaPause), tr("&Pause"), parent);
    m_pause->setObjectName(QStringLiteral("pause%1Action").arg(what));
    m_pause->setCheckable(true);
    m_pause->setToolTip(tr("Pause after the current batch; press again to resume"));
    m_stop = new QAction(s->standardIcon(QStyle::SP_MediaStop), tr("S&top"), parent);
    m_stop->setObjectName(QStringLiteral("stop%1Action").arg(what));
    m_stop->setToolTip(tr("Stop after the current batch and keep a checkpoint"));
    connect(m_pause, &QAction::toggled, this, [this](bool paused) {
        m_session->setPaused(paused);
        if (m_session->isRunning())
            Q_EMIT message(paused ? tr("Pausing after the current batch...") : tr("Resuming..."));
    });
    connect(m_stop, &QAction::triggered, this, [this] {
        if (!m_session->isRunning())
            return;
        Q_EMIT message(tr("Stopping after the current batch..."));
        m_session->stop();
    });
    connect(m_session, &Session::stateChanged, this, [this] { update(m_canStart); });
    update();
}

void RunActions::update(bool canStart)
{
    m_canStart = canStart;
    const bool running = m_session->isRunning(), paused = m_session->isPaused();
    m_start->setEnabled(!running && canStart);
    m_pause->setEnabled(running);
    m_stop->setEnabled(running);
    {
        const QSignalBlocker block(m_pause);
        m_pause->setChecked(running && paused);
    }
    m_pause->setText(m_pause->isChecked() ? tr("&Resume") : tr("&Pause"));
    m_pause->setIcon(m_parent->style()->standardIcon(m_pause->isChecked() ? QStyle::SP_MediaPlay
                                                                           : QStyle::SP_MediaPause));
}

} // namespace liftlab
