#include "training/session.h"

#include "training/uitypes.h"

namespace liftlab {

Session::Session(const QString &threadName, QObject *parent)
    : QObject(parent)
    , m_thread(threadName)
{
    registerUiMetaTypes();
    connect(&m_thread, &WorkerThread::stateChanged, this, &Session::stateChanged);
}

void Session::setPaused(bool paused)
{
    m_thread.setPaused(paused);
}

void Session::stop()
{
    m_thread.stop();
}

void Session::shutdown()
{
    m_thread.shutdown();
}

} // namespace liftlab
