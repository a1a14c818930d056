#pragma once

#include "training/uitypes.h"
#include "training/session.h"
#include "train/tuning.h"

namespace liftlab {

// The GUI thread's handle on a comparison being trained, as TrainingSession
// is for one run: drives a ComparisonRun on its WorkerThread, a few steps of
// each run in turn, so that all runs move together and the heatmaps of all
// runs show the same batches (snapshots every kStepsPerTurn steps). Results
// leave as copied values in signals that name the run by its index in the
// comparison. Destroying it stops the comparison and waits until every run
// has saved its checkpoint.
class ComparisonSession : public Session
{
    Q_OBJECT

public:
    static constexpr int kStepsPerTurn = 10;

    explicit ComparisonSession(QObject *parent = nullptr);
    ~ComparisonSession() override;

    QString folder() const { return m_folder; }

    // Trains the comparison written to `folder` by Comparison::create, or
    // runs the tuning written there by Tuning::create and then trains the
    // comparison of the tuned losses; either goes on where it stopped
    // (ignored while one runs).
    void start(const QString &folder);

Q_SIGNALS:
    // A tuning: a trial's validation result at a rung; a loss's choice; the
    // comparison of the tuned losses (its folder), about to train.
    void trialScored(const liftlab::TrialResult &result);
    void lossTuned(int loss, int trial);
    void testStarting(const QString &folder);
    void started(const QStringList &classNames);
    void stepsReady(int run, const QVector<liftlab::TrainingStep> &steps);
    void evaluating(int run, qint64 step);
    void evalReady(int run, const liftlab::EvalReport &report);
    void snapshotReady(int run, const liftlab::SnapshotFrame &frame);
    // One run failed (its loss diverged); the others go on.
    void runFailed(int run, const QString &message);
    // Exactly one of these ends each comparison.
    void finished(bool cancelled);
    void failed(const QString &message);

private:
    // On the worker thread: trains and returns the ending (finished or failed).
    std::function<void()> compare(const QString &folder, RunControl &control);
    // The tuning's part of it; false when it was stopped.
    bool tune(const Tuning &tuning, RunControl &control);

    QString m_folder;
};

} // namespace liftlab
