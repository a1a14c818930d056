#include "compare/comparisonsession.h"

#include "error.h"
#include "train/comparisonrun.h"

namespace liftlab {

ComparisonSession::ComparisonSession(QObject *parent)
    : Session(QStringLiteral("comparison"), parent)
{
}

ComparisonSession::~ComparisonSession()
{
    shutdown(); // the job runs this class's code: it ends before this object does
}

void ComparisonSession::start(const QString &folder)
{
    if (isRunning())
        return;
    m_folder = folder;
    m_thread.start([this, folder](RunControl &control) { return compare(folder, control); });
}

bool ComparisonSession::tune(const Tuning &tuning, RunControl &control)
{
    log(tr("Tuning %1 losses: %2 trials each on %3% of the training classes, held out for validation.")
            .arg(tuning.losses().size())
            .arg(tuning.plan().trials)
            .arg(tuning.plan().validationFraction * 100, 0, 'f', 0));
    TuningRun::Callbacks callbacks;
    callbacks.trialScored = [this](const TrialResult &result) {
        m_thread.post([this, result] { Q_EMIT trialScored(result); });
    };
    callbacks.lossTuned = [this](size_t loss, int trial) {
        m_thread.post([this, loss = int(loss), trial] { Q_EMIT lossTuned(loss, trial); });
    };
    callbacks.log = [this](const std::string &text) { log(QString::fromStdString(text)); };
    auto pauseChanged = [this](bool paused) { m_thread.post([this, paused] { Q_EMIT pausedChanged(paused); }); };
    callbacks.trainer.onStep = [&](const TrainingStep &) { control.waitWhilePaused(pauseChanged); };
    const std::optional<Comparison> test = TuningRun::run(tuning, callbacks, control.cancelFlag(), loadMonitor(control));
    if (!test)
        return false;
    m_thread.post([this, folder = QString::fromStdString(test->folder())] { Q_EMIT testStarting(folder); });
    return true;
}

std::function<void()> ComparisonSession::compare(const QString &path, RunControl &control)
{
    try {
        QString folder = path;
        if (Tuning::isTuning(path.toStdString())) {
            const Tuning tuning = Tuning::open(path.toStdString());
            if (!tune(tuning, control))
                return [this] { Q_EMIT finished(true); };
            folder = QString::fromStdString(tuning.testFolder());
        }
        const Comparison comparison = Comparison::open(folder.toStdString());
        const size_t n = comparison.runCount();
        log(tr("Loading %1 and building %2 networks (one per loss, all from seed %3)...")
                .arg(QString::fromStdString(comparison.base().dataset))
                .arg(n)
                .arg(comparison.base().seed));
        const std::unique_ptr<ComparisonRun> runs = ComparisonRun::start(comparison, loadMonitor(control));
        if (!runs) // stopped while loading: nothing has trained yet
            return [this] { Q_EMIT finished(true); };
        const Trainer &first = runs->trainer(0);
        QStringList classNames;
        for (const std::string &name : first.classNames())
            classNames.append(QString::fromStdString(name));
        m_thread.post([this, classNames] { Q_EMIT started(classNames); });
        reportSkippedImages(first); // the same in every run

        // Steps go out once per turn and before each evaluation, which may take seconds.
        std::vector<QVector<TrainingStep>> pending(n);
        auto flush = [&](size_t i) {
            if (!pending[i].isEmpty())
                m_thread.post([this, run = int(i), steps = pending[i]] { Q_EMIT stepsReady(run, steps); });
            pending[i].clear();
        };
        auto pauseChanged = [&](bool paused) {
            for (size_t i = 0; i < n; ++i)
                flush(i);
            m_thread.post([this, paused] { Q_EMIT pausedChanged(paused); });
        };
        std::vector<Trainer::Callbacks> callbacks(n);
        for (size_t i = 0; i < n; ++i) {
            const QString label = QString::fromStdString(comparison.runLabel(i));
            Trainer::Callbacks &cb = callbacks[i];
            cb.snapshotEvery = kStepsPerTurn;
            cb.onStep = [&, i, config = comparison.config(i)](const TrainingStep &step) {
                pending[i].append(step);
                const bool evaluationNext = config.evaluatesAt(step.step);
                if (evaluationNext)
                    flush(i);
                control.waitWhilePaused(pauseChanged);
                if (evaluationNext && !control.isStopped())
                    m_thread.post([this, run = int(i), at = step.step] { Q_EMIT evaluating(run, at); });
            };
            cb.onEval = [this, i](const EvalReport &report) {
                m_thread.post([this, run = int(i), report] { Q_EMIT evalReady(run, report); });
            };
            cb.onSnapshot = [&, i](const DistanceSnapshot &snapshot) {
                m_thread.post([this, run = int(i), frame = packSnapshot(runs->trainer(i), snapshot, classNames)] {
                    Q_EMIT snapshotReady(run, frame);
                });
            };
            cb.onLog = [this, label](const std::string &text) {
                log(QStringLiteral("[%1] %2").arg(label, QString::fromStdString(text)));
            };
        }
        ComparisonRun::Turns turns;
        turns.after = flush;
        turns.failed = [this](size_t i, const std::string &message) {
            m_thread.post([this, run = int(i), text = QString::fromStdString(message)] { Q_EMIT runFailed(run, text); });
        };
        const bool cancelled
            = runs->run(callbacks, turns, control.cancelFlag(), kStepsPerTurn) == ComparisonRun::Outcome::Cancelled;
        return [this, cancelled] { Q_EMIT finished(cancelled); };
    } catch (const Error &e) {
        return [this, message = QString::fromStdString(e.what())] { Q_EMIT failed(message); };
    } catch (const std::exception &e) {
        // Not the user's doing (a torch or I/O failure), but still no crash.
        return [this, message = tr("Internal error: %1").arg(QString::fromLocal8Bit(e.what()))] { Q_EMIT failed(message); };
    }
}

} // namespace liftlab
