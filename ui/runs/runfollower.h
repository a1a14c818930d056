#pragma once

#include "training/uitypes.h"

#include <QDateTime>
#include <QFutureWatcher>
#include <QObject>
#include <QTimer>

#include <vector>

namespace liftlab {

// Shows a run from its directory and keeps following it while something
// (liftlab-cli, here or on a shared disk) is still writing it: polls every
// second and re-reads a file only when its size or time changed. Reading
// happens on the thread pool, so a long metrics.jsonl never stalls the GUI.
class RunFollower : public QObject
{
    Q_OBJECT

public:
    struct Contents
    {
        bool stepsChanged = false, evalsChanged = false, snapshotChanged = false;
        std::vector<TrainingStep> steps;
        std::vector<EvalReport> evals;
        DistanceSnapshot snapshot;
    };

    explicit RunFollower(QObject *parent = nullptr);
    ~RunFollower() override;

    // Reads `runPath` now (configuration errors throw liftlab::Error), then
    // keeps polling it until stop() or another follow().
    void follow(const QString &runPath);
    void stop();
    QString runPath() const { return m_path; }
    const ExperimentConfig &config() const { return m_config; }

public Q_SLOTS:
    void poll();

Q_SIGNALS:
    // Whole contents each time (a resumed run may have dropped records).
    void stepsLoaded(const std::vector<liftlab::TrainingStep> &steps);
    void evalsLoaded(const std::vector<liftlab::EvalReport> &reports);
    void snapshotLoaded(const liftlab::SnapshotFrame &frame);

private:
    struct FileState
    {
        qint64 size = -1;
        QDateTime modified;
        bool operator==(const FileState &o) const { return size == o.size && modified == o.modified; }
    };
    static FileState stateOf(const QString &path);
    void onRead();

    QString m_path;
    QString m_metricsPath, m_evalsPath, m_snapshotPath;
    ExperimentConfig m_config;
    FileState m_metrics, m_evals, m_snapshot;
    int m_generation = 0;  // which follow() a read belongs to
    int m_readGeneration = 0;
    QTimer m_timer;
    QFutureWatcher<Contents> m_watcher;
};

} // namespace liftlab
