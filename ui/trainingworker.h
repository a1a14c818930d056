#pragma once

#include "runcontrol.h"
#include "uitypes.h"

#include <QElapsedTimer>
#include <QObject>

namespace liftlab {

class Trainer;

// Owns a Trainer on its own thread (the Tiled FolderScanner shape): a run is
// requested with a queued call to train(), which blocks this object's thread
// until the run ends; results leave as copied values in queued signals.
// Pause and stop are thread-safe calls, since the worker's event loop is busy
// while it trains; both act between two batches.
class TrainingWorker : public QObject
{
    Q_OBJECT

public:
    explicit TrainingWorker(QObject *parent = nullptr);

    // Thread-safe. Call before requesting a run: clears stop and pause.
    void reset();
    // Thread-safe. The next finished batch waits until resumed or stopped.
    void setPaused(bool paused);
    // Thread-safe. The run saves a checkpoint after the current batch and ends.
    void stop();

public Q_SLOTS:
    void train(const liftlab::ExperimentConfig &config, const QString &runDir);

Q_SIGNALS:
    void started(const QString &runPath, const QStringList &classNames);
    // Steps are batched: one signal at most every kEmitIntervalMs.
    void stepsReady(const QVector<liftlab::TrainingStep> &steps);
    // An evaluation of the test split begins (it may take seconds).
    void evaluating(qint64 step);
    // Decoding an image dataset: `done` of `total` images (about each percent).
    void loadProgress(qint64 done, qint64 total);
    void evalReady(const liftlab::EvalReport &report);
    void snapshotReady(const liftlab::SnapshotFrame &frame);
    // Images of the dataset could not be used (`lines`: the first of them,
    // "path: reason"); all are listed in `reportFile`.
    void imagesSkipped(int count, const QStringList &lines, const QString &reportFile);
    void logMessage(const QString &text);
    void pausedChanged(bool paused);
    void finished(const QString &runPath, bool cancelled);
    void failed(const QString &runPath, const QString &message);

private:
    void onStep(const TrainingStep &step, const ExperimentConfig &config);
    void flushSteps();
    void waitWhilePaused();

    static constexpr int kEmitIntervalMs = 80;

    RunControl m_control;

    // Only touched on the worker thread.
    QVector<TrainingStep> m_pending;
    QElapsedTimer m_sinceEmit;
    QStringList m_classNames;
};

} // namespace liftlab
