#include "comparisonsession.h"

#include "comparisonworker.h"

namespace liftlab {

ComparisonSession::ComparisonSession(QObject *parent)
    : QObject(parent)
    , m_worker(new ComparisonWorker)
{
    registerUiMetaTypes();
    m_thread.setObjectName(QStringLiteral("comparison"));
    m_worker->moveToThread(&m_thread);
    connect(this, &ComparisonSession::compareRequested, m_worker, &ComparisonWorker::compare);

    // The worker's signals cross threads: queued, with copied values.
    connect(m_worker, &ComparisonWorker::started, this, &ComparisonSession::started);
    connect(m_worker, &ComparisonWorker::stepsReady, this, &ComparisonSession::stepsReady);
    connect(m_worker, &ComparisonWorker::evaluating, this, &ComparisonSession::evaluating);
    connect(m_worker, &ComparisonWorker::loadProgress, this, &ComparisonSession::loadProgress);
    connect(m_worker, &ComparisonWorker::imagesSkipped, this, &ComparisonSession::imagesSkipped);
    connect(m_worker, &ComparisonWorker::evalReady, this, &ComparisonSession::evalReady);
    connect(m_worker, &ComparisonWorker::snapshotReady, this, &ComparisonSession::snapshotReady);
    connect(m_worker, &ComparisonWorker::logMessage, this, &ComparisonSession::logMessage);
    connect(m_worker, &ComparisonWorker::runFailed, this, &ComparisonSession::runFailed);
    connect(m_worker, &ComparisonWorker::pausedChanged, this, &ComparisonSession::pausedChanged);
    connect(m_worker, &ComparisonWorker::finished, this, [this](bool cancelled) {
        setRunning(false);
        Q_EMIT finished(cancelled);
    });
    connect(m_worker, &ComparisonWorker::failed, this, [this](const QString &message) {
        setRunning(false);
        Q_EMIT failed(message);
    });
    m_thread.start();
}

ComparisonSession::~ComparisonSession()
{
    shutdown();
    delete m_worker; // its thread has ended
}

void ComparisonSession::start(const QString &folder)
{
    if (m_running)
        return;
    if (!m_thread.isRunning()) // after a shutdown()
        m_thread.start();
    m_worker->reset(); // here, so that a stop pressed before the worker starts still counts
    m_folder = folder;
    m_paused = false;
    setRunning(true);
    Q_EMIT compareRequested(folder);
}

void ComparisonSession::setPaused(bool paused)
{
    if (!m_running || paused == m_paused)
        return;
    m_paused = paused;
    m_worker->setPaused(paused);
    Q_EMIT stateChanged();
}

void ComparisonSession::stop()
{
    if (!m_running)
        return;
    m_worker->stop();
    if (m_paused) {
        m_paused = false;
        Q_EMIT stateChanged();
    }
}

void ComparisonSession::shutdown()
{
    m_worker->stop();
    m_thread.quit();
    m_thread.wait();
}

void ComparisonSession::setRunning(bool running)
{
    m_running = running;
    if (!running)
        m_paused = false;
    Q_EMIT stateChanged();
}

} // namespace liftlab
