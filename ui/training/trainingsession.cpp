#include "training/trainingsession.h"

#include "error.h"
#include "train/trainer.h"

#include <QElapsedTimer>

namespace liftlab {

TrainingSession::TrainingSession(QObject *parent)
    : Session(QStringLiteral("training"), parent)
{
}

TrainingSession::~TrainingSession()
{
    shutdown(); // the job runs this class's code: it ends before this object does
}

void TrainingSession::start(const ExperimentConfig &config, const QString &runDir)
{
    if (isRunning())
        return;
    m_config = config;
    m_runPath = runDir;
    m_thread.start([this, config, runDir](RunControl &control) { return train(config, runDir, control); });
}

std::function<void()> TrainingSession::train(const ExperimentConfig &config, const QString &runDir, RunControl &control)
{
    // Steps go out in batches, and before each evaluation, which may take seconds.
    QVector<TrainingStep> pending;
    QElapsedTimer sinceEmit;
    sinceEmit.start();
    auto flush = [&] {
        if (!pending.isEmpty())
            m_thread.post([this, steps = pending] { Q_EMIT stepsReady(steps); });
        pending.clear();
        sinceEmit.restart();
    };
    QString runPath = runDir;
    try {
        log(tr("Loading %1 and building %2...")
                .arg(QString::fromStdString(config.dataset), QString::fromStdString(config.model)));
        std::unique_ptr<Trainer> trainer = Trainer::start(config, runDir.toStdString(), loadMonitor(control));
        runPath = QString::fromStdString(trainer->runPath());
        QStringList classNames;
        for (const std::string &name : trainer->classNames())
            classNames.append(QString::fromStdString(name));
        m_thread.post([this, runPath, classNames] {
            m_runPath = runPath;
            Q_EMIT started(runPath, classNames);
        });
        reportSkippedImages(*trainer);

        Trainer::Callbacks callbacks;
        callbacks.onStep = [&](const TrainingStep &step) {
            pending.append(step);
            const bool evaluationNext = config.evaluatesAt(step.step);
            if (evaluationNext || sinceEmit.elapsed() >= kEmitIntervalMs)
                flush();
            if (control.waitWhilePaused([&](bool paused) {
                    if (paused)
                        flush();
                    m_thread.post([this, paused] { Q_EMIT pausedChanged(paused); });
                }))
                sinceEmit.restart();
            if (evaluationNext && !control.isStopped())
                m_thread.post([this, at = step.step] { Q_EMIT evaluating(at); });
        };
        callbacks.onEval = [&](const EvalReport &report) {
            flush();
            m_thread.post([this, report] { Q_EMIT evalReady(report); });
        };
        callbacks.onSnapshot = [&](const DistanceSnapshot &snapshot) {
            m_thread.post([this, frame = packSnapshot(*trainer, snapshot, classNames)] { Q_EMIT snapshotReady(frame); });
        };
        callbacks.onLog = [this](const std::string &text) { log(QString::fromStdString(text)); };
        const bool cancelled = trainer->run(callbacks, control.cancelFlag()) == Trainer::Outcome::Cancelled;
        flush();
        return [this, runPath, cancelled] { Q_EMIT finished(runPath, cancelled); };
    } catch (const Error &e) {
        flush();
        return [this, runPath, message = QString::fromStdString(e.what())] { Q_EMIT failed(runPath, message); };
    } catch (const std::exception &e) {
        // Not the user's doing (a torch or I/O failure), but still no crash.
        flush();
        return [this, runPath, message = tr("Internal error: %1").arg(QString::fromLocal8Bit(e.what()))] {
            Q_EMIT failed(runPath, message);
        };
    }
}

} // namespace liftlab
