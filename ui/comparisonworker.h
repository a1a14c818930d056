#pragma once

#include "runcontrol.h"
#include "uitypes.h"

#include <QObject>

namespace liftlab {

// Trains the runs of a comparison on its own thread, interleaved: every run
// is advanced kStepsPerTurn steps in turn (Trainer::run up to a step), so
// all of them move together and the heatmaps of all runs show the same
// batches (snapshots every kStepsPerTurn steps). Interleaving gives exactly
// the results of the runs trained one after the other. The shape is the
// TrainingWorker's: requests as queued calls, results as copied values in
// queued signals that name the run by its index in the comparison.
class ComparisonWorker : public QObject
{
    Q_OBJECT

public:
    static constexpr int kStepsPerTurn = 10;

    explicit ComparisonWorker(QObject *parent = nullptr);

    // Thread-safe, as TrainingWorker's.
    void reset();
    void setPaused(bool paused);
    void stop();

public Q_SLOTS:
    // Trains the comparison whose manifest is in `folder` (Comparison::create
    // wrote it). A failure before any run has started (a missing dataset)
    // removes the folder again: nothing was trained.
    void compare(const QString &folder);

Q_SIGNALS:
    void started(const QStringList &classNames);
    void stepsReady(int run, const QVector<liftlab::TrainingStep> &steps);
    void evaluating(int run, qint64 step);
    // Decoding an image dataset (once, for all runs): `done` of `total` images (about each percent).
    void loadProgress(qint64 done, qint64 total);
    void evalReady(int run, const liftlab::EvalReport &report);
    void snapshotReady(int run, const liftlab::SnapshotFrame &frame);
    // Images of the dataset could not be used (`lines`: the first of them,
    // "path: reason"); all are listed in `reportFile`.
    void imagesSkipped(int count, const QStringList &lines, const QString &reportFile);
    void logMessage(const QString &text);
    // One run failed (its loss diverged); the others go on.
    void runFailed(int run, const QString &message);
    void pausedChanged(bool paused);
    // Exactly one of these ends each comparison.
    void finished(bool cancelled);
    void failed(const QString &message);

private:
    RunControl m_control;
};

} // namespace liftlab
