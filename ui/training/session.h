#pragma once

#include "training/workerthread.h"

#include <QObject>
#include <QStringList>

namespace liftlab {

class Trainer;
struct LoadMonitor;

// What a window controls of a long job on a worker thread: whether it runs
// or is paused, Pause, Stop, and waiting for it to end. TrainingSession and
// ComparisonSession are sessions; RunActions drives either. A session whose
// job runs its own code stops it in its destructor, before it is gone.
class Session : public QObject
{
    Q_OBJECT

public:
    bool isRunning() const { return m_thread.isRunning(); }
    bool isPaused() const { return m_thread.isPaused(); }
    // Both act after the current batch.
    void setPaused(bool paused);
    void stop();
    // Stops the job and waits until the worker thread has ended (for closing
    // a window): at most one batch plus the checkpoints.
    void shutdown();

Q_SIGNALS:
    // Any change of isRunning() or isPaused().
    void stateChanged();
    // The job itself paused or resumed (after its batch).
    void pausedChanged(bool paused);
    void logMessage(const QString &text);
    // Decoding an image dataset: `done` of `total` images (about each percent).
    void loadProgress(qint64 done, qint64 total);
    // Images of the dataset could not be used (`lines`: the first of them,
    // "path: reason"); all are listed in `reportFile`.
    void imagesSkipped(int count, const QStringList &lines, const QString &reportFile);

protected:
    Session(const QString &threadName, QObject *parent);

    // On the worker thread: each reports through the signals above.
    void log(const QString &text);
    LoadMonitor loadMonitor(RunControl &control);
    void reportSkippedImages(const Trainer &trainer);

    WorkerThread m_thread;
};

} // namespace liftlab
