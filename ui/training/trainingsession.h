#pragma once

#include "training/session.h"
#include "training/uitypes.h"

namespace liftlab {

// The GUI thread's handle on training: runs a Trainer on its WorkerThread
// and hands what it reports over as copied values in signals on the GUI
// thread. Destroying it stops a run and waits for its checkpoint.
class TrainingSession : public Session
{
    Q_OBJECT

public:
    explicit TrainingSession(QObject *parent = nullptr);
    ~TrainingSession() override;

    QString runPath() const { return m_runPath; }
    const ExperimentConfig &config() const { return m_config; }

    // Ignored while a run is going.
    void start(const ExperimentConfig &config, const QString &runDir);

Q_SIGNALS:
    void started(const QString &runPath, const QStringList &classNames);
    // Steps are batched: one signal at most every kEmitIntervalMs.
    void stepsReady(const QVector<liftlab::TrainingStep> &steps);
    // An evaluation of the test set begins (it may take seconds).
    void evaluating(qint64 step);
    void evalReady(const liftlab::EvalReport &report);
    void snapshotReady(const liftlab::SnapshotFrame &frame);
    // Exactly one of these ends each run.
    void finished(const QString &runPath, bool cancelled);
    void failed(const QString &runPath, const QString &message);

private:
    static constexpr int kEmitIntervalMs = 80;

    // On the worker thread: trains and returns the ending (finished or failed).
    std::function<void()> train(const ExperimentConfig &config, const QString &runDir, RunControl &control);

    QString m_runPath;
    ExperimentConfig m_config;
};

} // namespace liftlab
