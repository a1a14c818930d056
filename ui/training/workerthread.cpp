#include "training/workerthread.h"

namespace liftlab {

WorkerThread::WorkerThread(const QString &name, QObject *parent, QThread::Priority priority)
    : QObject(parent)
    , m_priority(priority)
    , m_context(new QObject)
{
    m_thread.setObjectName(name);
    m_context->moveToThread(&m_thread);
    m_thread.start(m_priority);
}

WorkerThread::~WorkerThread()
{
    shutdown();
    delete m_context; // its thread has ended
}

void WorkerThread::start(Job job)
{
    if (m_running)
        return;
    if (!m_thread.isRunning()) // after a shutdown()
        m_thread.start(m_priority);
    m_control.reset();
    m_paused = false;
    setRunning(true);
    QMetaObject::invokeMethod(
        m_context,
        [this, job = std::move(job)] {
            std::function<void()> ending = job(m_control);
            post([this, ending = std::move(ending)] {
                setRunning(false);
                if (ending)
                    ending();
            });
        },
        Qt::QueuedConnection);
}

void WorkerThread::setPaused(bool paused)
{
    if (!m_running || paused == m_paused)
        return;
    m_paused = paused;
    m_control.setPaused(paused);
    Q_EMIT stateChanged();
}

void WorkerThread::stop()
{
    if (!m_running)
        return;
    m_control.stop();
    if (m_paused) {
        m_paused = false;
        Q_EMIT stateChanged();
    }
}

void WorkerThread::shutdown()
{
    m_control.stop();
    m_thread.quit();
    m_thread.wait();
}

void WorkerThread::enqueue(std::function<void()> task)
{
    if (!m_thread.isRunning()) // after a shutdown()
        m_thread.start(m_priority);
    QMetaObject::invokeMethod(m_context, std::move(task), Qt::QueuedConnection);
}

void WorkerThread::post(std::function<void()> function)
{
    QMetaObject::invokeMethod(this, std::move(function), Qt::QueuedConnection);
}

void WorkerThread::setRunning(bool running)
{
    m_running = running;
    if (!running)
        m_paused = false;
    Q_EMIT stateChanged();
}

} // namespace liftlab
