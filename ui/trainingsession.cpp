#include "trainingsession.h"

#include "trainingworker.h"

namespace liftlab {

TrainingSession::TrainingSession(QObject *parent)
    : QObject(parent)
    , m_worker(new TrainingWorker)
{
    registerUiMetaTypes();
    m_thread.setObjectName(QStringLiteral("training"));
    m_worker->moveToThread(&m_thread);
    connect(this, &TrainingSession::trainRequested, m_worker, &TrainingWorker::train);

    // The worker's signals cross threads: queued, with copied values.
    connect(m_worker, &TrainingWorker::started, this, [this](const QString &runPath, const QStringList &classNames) {
        m_runPath = runPath;
        Q_EMIT started(runPath, classNames);
    });
    connect(m_worker, &TrainingWorker::stepsReady, this, &TrainingSession::stepsReady);
    connect(m_worker, &TrainingWorker::evaluating, this, &TrainingSession::evaluating);
    connect(m_worker, &TrainingWorker::loadProgress, this, &TrainingSession::loadProgress);
    connect(m_worker, &TrainingWorker::imagesSkipped, this, &TrainingSession::imagesSkipped);
    connect(m_worker, &TrainingWorker::evalReady, this, &TrainingSession::evalReady);
    connect(m_worker, &TrainingWorker::snapshotReady, this, &TrainingSession::snapshotReady);
    connect(m_worker, &TrainingWorker::logMessage, this, &TrainingSession::logMessage);
    connect(m_worker, &TrainingWorker::pausedChanged, this, &TrainingSession::pausedChanged);
    connect(m_worker, &TrainingWorker::finished, this, [this](const QString &runPath, bool cancelled) {
        setRunning(false);
        Q_EMIT finished(runPath, cancelled);
    });
    connect(m_worker, &TrainingWorker::failed, this, [this](const QString &runPath, const QString &message) {
        setRunning(false);
        Q_EMIT failed(runPath, message);
    });
    m_thread.start();
}

TrainingSession::~TrainingSession()
{
    shutdown();
    delete m_worker; // its thread has ended
}

void TrainingSession::start(const ExperimentConfig &config, const QString &runDir)
{
    if (m_running)
        return;
    if (!m_thread.isRunning()) // after a shutdown()
        m_thread.start();
    // Reset here, not on the worker: a stop pressed before the worker picks
    // the request up must still count.
    m_worker->reset();
    m_config = config;
    m_runPath = runDir;
    m_paused = false;
    setRunning(true);
    Q_EMIT trainRequested(config, runDir);
}

void TrainingSession::setPaused(bool paused)
{
    if (!m_running || paused == m_paused)
        return;
    m_paused = paused;
    m_worker->setPaused(paused);
    Q_EMIT stateChanged();
}

void TrainingSession::stop()
{
    if (!m_running)
        return;
    m_worker->stop();
    if (m_paused) {
        m_paused = false;
        Q_EMIT stateChanged();
    }
}

void TrainingSession::shutdown()
{
    m_worker->stop();
    m_thread.quit();
    m_thread.wait();
}

void TrainingSession::setRunning(bool running)
{
    m_running = running;
    if (!running)
        m_paused = false;
    Q_EMIT stateChanged();
}

} // namespace liftlab
