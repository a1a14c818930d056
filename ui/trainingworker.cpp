#include "trainingworker.h"

#include "error.h"
#include "train/trainer.h"

namespace liftlab {

namespace {

QImage toQImage(const Trainer::Image &image)
{
    if (image.pixels.empty() || (image.channels != 1 && image.channels != 3))
        return {};
    const QImage::Format format = image.channels == 3 ? QImage::Format_RGB888 : QImage::Format_Grayscale8;
    // The QImage only borrows the pixels: copy() before they go away.
    return QImage(image.pixels.data(), image.width, image.height, image.width * image.channels, format).copy();
}

} // namespace

TrainingWorker::TrainingWorker(QObject *parent)
    : QObject(parent)
{
    registerUiMetaTypes();
}

void TrainingWorker::reset()
{
    m_cancel.store(false);
    std::lock_guard<std::mutex> lock(m_mutex);
    m_paused = false;
}

void TrainingWorker::setPaused(bool paused)
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_paused = paused;
    }
    m_wake.notify_all();
}

void TrainingWorker::stop()
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_cancel.store(true);
    }
    m_wake.notify_all();
}

void TrainingWorker::train(const ExperimentConfig &config, const QString &runDir)
{
    m_pending.clear();
    m_sinceEmit.start();
    QString runPath = runDir;
    try {
        Q_EMIT logMessage(tr("Loading %1 and building %2...")
                              .arg(QString::fromStdString(config.dataset), QString::fromStdString(config.model)));
        std::unique_ptr<Trainer> trainer = Trainer::start(config, runDir.toStdString());
        runPath = QString::fromStdString(trainer->runPath());
        m_classNames.clear();
        for (const std::string &name : trainer->classNames())
            m_classNames.append(QString::fromStdString(name));
        Q_EMIT started(runPath, m_classNames);

        Trainer::Callbacks callbacks;
        callbacks.onStep = [&](const TrainingStep &step) { onStep(step, config); };
        callbacks.onEval = [&](const EvalReport &report) {
            flushSteps();
            Q_EMIT evalReady(report);
        };
        callbacks.onSnapshot = [&](const DistanceSnapshot &snapshot) {
            Q_EMIT snapshotReady(packSnapshot(*trainer, snapshot));
        };
        callbacks.onLog = [&](const std::string &text) { Q_EMIT logMessage(QString::fromStdString(text)); };
        const Trainer::Outcome outcome = trainer->run(callbacks, m_cancel);
        flushSteps();
        Q_EMIT finished(runPath, outcome == Trainer::Outcome::Cancelled);
    } catch (const Error &e) {
        flushSteps();
        Q_EMIT failed(runPath, QString::fromStdString(e.what()));
    } catch (const std::exception &e) {
        // Not the user's doing (a torch or I/O failure), but still no crash.
        flushSteps();
        Q_EMIT failed(runPath, tr("Internal error: %1").arg(QString::fromLocal8Bit(e.what())));
    }
}

void TrainingWorker::onStep(const TrainingStep &step, const ExperimentConfig &config)
{
    m_pending.append(step);
    // An evaluation follows this step and may take seconds: send what we have first.
    const bool evaluationNext = step.step == step.iterations || (config.evalEvery > 0 && step.step % config.evalEvery == 0);
    if (evaluationNext || m_sinceEmit.elapsed() >= kEmitIntervalMs)
        flushSteps();
    waitWhilePaused();
    if (evaluationNext && !m_cancel.load())
        Q_EMIT evaluating(step.step);
}

void TrainingWorker::flushSteps()
{
    if (m_pending.isEmpty())
        return;
    Q_EMIT stepsReady(m_pending);
    m_pending.clear();
    m_sinceEmit.restart();
}

void TrainingWorker::waitWhilePaused()
{
    std::unique_lock<std::mutex> lock(m_mutex);
    if (!m_paused || m_cancel.load())
        return;
    lock.unlock();
    flushSteps();
    Q_EMIT pausedChanged(true);
    lock.lock();
    m_wake.wait(lock, [this] { return !m_paused || m_cancel.load(); });
    lock.unlock();
    if (!m_cancel.load()) // a stop while paused ends the run instead
        Q_EMIT pausedChanged(false);
    m_sinceEmit.restart();
}

SnapshotFrame TrainingWorker::packSnapshot(const Trainer &trainer, const DistanceSnapshot &snapshot) const
{
    SnapshotFrame frame;
    frame.snapshot = snapshot;
    frame.classNames = m_classNames;
    frame.images.reserve(int(snapshot.indices.size()));
    for (const int64_t index : snapshot.indices)
        frame.images.append(toQImage(trainer.trainImage(index)));
    return frame;
}

} // namespace liftlab
