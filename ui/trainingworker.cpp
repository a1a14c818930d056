#include "trainingworker.h"

#include "error.h"
#include "train/trainer.h"

namespace liftlab {

TrainingWorker::TrainingWorker(QObject *parent)
    : QObject(parent)
{
    registerUiMetaTypes();
}

void TrainingWorker::reset()
{
    m_control.reset();
}

void TrainingWorker::setPaused(bool paused)
{
    m_control.setPaused(paused);
}

void TrainingWorker::stop()
{
    m_control.stop();
}

void TrainingWorker::train(const ExperimentConfig &config, const QString &runDir)
{
    m_pending.clear();
    m_sinceEmit.start();
    QString runPath = runDir;
    try {
        Q_EMIT logMessage(tr("Loading %1 and building %2...")
                              .arg(QString::fromStdString(config.dataset), QString::fromStdString(config.model)));
        const LoadMonitor monitor =
            m_control.loadMonitor([this](int64_t done, int64_t total) { Q_EMIT loadProgress(done, total); });
        std::unique_ptr<Trainer> trainer = Trainer::start(config, runDir.toStdString(), monitor);
        runPath = QString::fromStdString(trainer->runPath());
        m_classNames.clear();
        for (const std::string &name : trainer->classNames())
            m_classNames.append(QString::fromStdString(name));
        Q_EMIT started(runPath, m_classNames);
        if (!trainer->skippedImages().empty())
            Q_EMIT imagesSkipped(int(trainer->skippedImages().size()), skippedImageLines(*trainer),
                                 QString::fromStdString(trainer->skippedImagesPath()));

        Trainer::Callbacks callbacks;
        callbacks.onStep = [&](const TrainingStep &step) { onStep(step, config); };
        callbacks.onEval = [&](const EvalReport &report) {
            flushSteps();
            Q_EMIT evalReady(report);
        };
        callbacks.onSnapshot = [&](const DistanceSnapshot &snapshot) {
            Q_EMIT snapshotReady(packSnapshot(*trainer, snapshot, m_classNames));
        };
        callbacks.onLog = [&](const std::string &text) { Q_EMIT logMessage(QString::fromStdString(text)); };
        const Trainer::Outcome outcome = trainer->run(callbacks, m_control.cancelFlag());
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
    if (evaluationNext && !m_control.isStopped())
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
    const bool paused = m_control.waitWhilePaused([this](bool paused) {
        if (paused)
            flushSteps();
        Q_EMIT pausedChanged(paused);
    });
    if (paused)
        m_sinceEmit.restart();
}

} // namespace liftlab
