#include "comparisonworker.h"

#include "error.h"
#include "train/comparison.h"
#include "train/trainer.h"

#include <filesystem>
#include <memory>
#include <vector>

namespace liftlab {

ComparisonWorker::ComparisonWorker(QObject *parent)
    : QObject(parent)
{
    registerUiMetaTypes();
}

void ComparisonWorker::reset()
{
    m_control.reset();
}

void ComparisonWorker::setPaused(bool paused)
{
    m_control.setPaused(paused);
}

void ComparisonWorker::stop()
{
    m_control.stop();
}

void ComparisonWorker::compare(const QString &folder)
{
    std::vector<std::unique_ptr<Trainer>> trainers;
    try {
        const Comparison comparison = Comparison::open(folder.toStdString());
        const size_t n = comparison.losses().size();
        Q_EMIT logMessage(tr("Loading %1 and building %2 networks (one per loss, all from seed %3)...")
                              .arg(QString::fromStdString(comparison.base().dataset))
                              .arg(n)
                              .arg(comparison.base().seed));
        try {
            // The first run loads the dataset; the others share its images.
            const LoadMonitor monitor = m_control.loadMonitor(
                [this](int64_t done, int64_t total) { Q_EMIT loadProgress(done, total); });
            for (size_t i = 0; i < n && !m_control.isStopped(); ++i)
                trainers.push_back(Trainer::start(comparison.config(i), comparison.runPath(i), monitor,
                                                  trainers.empty() ? nullptr : trainers.front()->data()));
        } catch (const Error &) {
            if (m_control.isStopped()) { // stopped while decoding: nothing has trained yet
                Q_EMIT finished(true);
                return;
            }
            if (trainers.empty()) { // a bad experiment leaves nothing behind
                std::error_code ignored;
                std::filesystem::remove_all(folder.toStdString(), ignored);
            }
            throw;
        }
        if (trainers.size() < n) { // stopped while loading: nothing has trained yet
            Q_EMIT finished(true);
            return;
        }
        QStringList classNames;
        for (const std::string &name : trainers.front()->classNames())
            classNames.append(QString::fromStdString(name));
        Q_EMIT started(classNames);
        if (const Trainer &first = *trainers.front(); !first.skippedImages().empty()) // the same in every run
            Q_EMIT imagesSkipped(int(first.skippedImages().size()), skippedImageLines(first),
                                 QString::fromStdString(first.skippedImagesPath()));

        // Steps go out once per turn and before each evaluation, which may take seconds.
        std::vector<QVector<TrainingStep>> pending(n);
        auto flush = [&](size_t i) {
            if (!pending[i].isEmpty())
                Q_EMIT stepsReady(int(i), pending[i]);
            pending[i].clear();
        };
        auto pauseChanged = [&](bool paused) {
            for (size_t i = 0; i < n; ++i)
                flush(i);
            Q_EMIT pausedChanged(paused);
        };
        std::vector<Trainer::Callbacks> callbacks(n);
        for (size_t i = 0; i < n; ++i) {
            const ExperimentConfig config = comparison.config(i);
            const QString label = QString::fromStdString(comparison.losses()[i].label);
            Trainer::Callbacks &cb = callbacks[i];
            cb.snapshotEvery = kStepsPerTurn;
            cb.onStep = [&, i, config](const TrainingStep &step) {
                pending[i].append(step);
                const bool evaluationNext =
                    step.step == step.iterations || (config.evalEvery > 0 && step.step % config.evalEvery == 0);
                if (evaluationNext)
                    flush(i);
                m_control.waitWhilePaused(pauseChanged);
                if (evaluationNext && !m_control.isStopped())
                    Q_EMIT evaluating(int(i), step.step);
            };
            cb.onEval = [this, i](const EvalReport &report) { Q_EMIT evalReady(int(i), report); };
            cb.onSnapshot = [&, i](const DistanceSnapshot &snapshot) {
                Q_EMIT snapshotReady(int(i), packSnapshot(*trainers[i], snapshot, classNames));
            };
            cb.onLog = [this, label](const std::string &text) {
                Q_EMIT logMessage(QStringLiteral("[%1] %2").arg(label, QString::fromStdString(text)));
            };
        }

        std::vector<bool> done(n, false);
        bool cancelled = false;
        for (int64_t until = kStepsPerTurn; !cancelled; until += kStepsPerTurn) {
            bool anyLeft = false;
            for (size_t i = 0; i < n && !cancelled; ++i) {
                if (done[i])
                    continue;
                try {
                    const Trainer::Outcome outcome = trainers[i]->run(callbacks[i], m_control.cancelFlag(), until);
                    flush(i);
                    done[i] = outcome != Trainer::Outcome::Reached;
                    cancelled = outcome == Trainer::Outcome::Cancelled;
                } catch (const Error &e) {
                    flush(i);
                    done[i] = true;
                    Q_EMIT runFailed(int(i), QString::fromStdString(e.what()));
                }
                anyLeft = anyLeft || !done[i];
            }
            if (!anyLeft)
                break;
        }
        if (cancelled) // the runs waiting for their turn keep a checkpoint too
            for (size_t i = 0; i < n; ++i)
                if (!done[i])
                    trainers[i]->run(callbacks[i], m_control.cancelFlag());
        Q_EMIT finished(cancelled);
    } catch (const Error &e) {
        Q_EMIT failed(QString::fromStdString(e.what()));
    } catch (const std::exception &e) {
        // Not the user's doing (a torch or I/O failure), but still no crash.
        Q_EMIT failed(tr("Internal error: %1").arg(QString::fromLocal8Bit(e.what())));
    }
}

} // namespace liftlab
