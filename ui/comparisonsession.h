#pragma once

#include "uitypes.h"

#include <QObject>
#include <QThread>

namespace liftlab {

class ComparisonWorker;

// The GUI thread's handle on a comparison being trained, as TrainingSession
// is for one run: owns the worker thread, knows whether a comparison runs
// or is paused. Destroying it stops the comparison and waits until every
// run has saved its checkpoint.
class ComparisonSession : public QObject
{
    Q_OBJECT

public:
    explicit ComparisonSession(QObject *parent = nullptr);
    ~ComparisonSession() override;

    bool isRunning() const { return m_running; }
    bool isPaused() const { return m_paused; }
    QString folder() const { return m_folder; }

    // Trains the comparison written to `folder` (ignored while one runs).
    void start(const QString &folder);
    void setPaused(bool paused);
    void stop();
    // Stops and waits for the worker thread to end (for closing the window).
    void shutdown();

Q_SIGNALS:
    void started(const QStringList &classNames);
    void stepsReady(int run, const QVector<liftlab::TrainingStep> &steps);
    void evaluating(int run, qint64 step);
    void loadProgress(qint64 done, qint64 total);
    void evalReady(int run, const liftlab::EvalReport &report);
    void snapshotReady(int run, const liftlab::SnapshotFrame &frame);
    // Images of the dataset could not be used (`lines`: the first of them,
    // "path: reason"); all are listed in `reportFile`.
    void imagesSkipped(int count, const QStringList &lines, const QString &reportFile);
    void logMessage(const QString &text);
    void runFailed(int run, const QString &message);
    void pausedChanged(bool paused);
    void finished(bool cancelled);
    void failed(const QString &message);
    // Any change of isRunning() or isPaused().
    void stateChanged();

    // Internal: the queued request to the worker.
    void compareRequested(const QString &folder);

private:
    void setRunning(bool running);

    QThread m_thread;
    ComparisonWorker *m_worker = nullptr; // lives in m_thread
    bool m_running = false;
    bool m_paused = false;
    QString m_folder;
};

} // namespace liftlab
