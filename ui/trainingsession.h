#pragma once

#include "uitypes.h"

#include <QObject>
#include <QThread>

namespace liftlab {

class TrainingWorker;

// The GUI thread's handle on training: owns the worker thread for the
// lifetime of the window, starts runs on it, and knows whether one is
// running or paused. Destroying it stops a run and waits for its checkpoint.
class TrainingSession : public QObject
{
    Q_OBJECT

public:
    explicit TrainingSession(QObject *parent = nullptr);
    ~TrainingSession() override;

    bool isRunning() const { return m_running; }
    bool isPaused() const { return m_paused; }
    QString runPath() const { return m_runPath; }
    const ExperimentConfig &config() const { return m_config; }

    // Ignored while a run is going.
    void start(const ExperimentConfig &config, const QString &runDir);
    void setPaused(bool paused);
    void stop();
    // Stops a run and waits until the worker thread has ended (for closing
    // the window). Blocks for at most one batch plus the checkpoint.
    void shutdown();

Q_SIGNALS:
    void started(const QString &runPath, const QStringList &classNames);
    void stepsReady(const QVector<liftlab::TrainingStep> &steps);
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
    // Exactly one of these ends each run.
    void finished(const QString &runPath, bool cancelled);
    void failed(const QString &runPath, const QString &message);
    // Any change of isRunning() or isPaused().
    void stateChanged();

    // Internal: the queued request to the worker.
    void trainRequested(const liftlab::ExperimentConfig &config, const QString &runDir);

private:
    void setRunning(bool running);

    QThread m_thread;
    TrainingWorker *m_worker = nullptr; // lives in m_thread
    bool m_running = false;
    bool m_paused = false;
    QString m_runPath;
    ExperimentConfig m_config;
};

} // namespace liftlab
