#include "runs/runfollower.h"

#include "train/rundirectory.h"

#include <QFileInfo>
#include <QtConcurrent/QtConcurrentRun>

namespace liftlab {

RunFollower::RunFollower(QObject *parent)
    : QObject(parent)
{
    m_timer.setInterval(1000);
    connect(&m_timer, &QTimer::timeout, this, &RunFollower::poll);
    connect(&m_watcher, &QFutureWatcher<Contents>::finished, this, &RunFollower::onRead);
}

RunFollower::~RunFollower()
{
    m_watcher.waitForFinished();
}

RunFollower::FileState RunFollower::stateOf(const QString &path)
{
    const QFileInfo info(path);
    if (!info.exists())
        return {};
    return {info.size(), info.lastModified()};
}

void RunFollower::follow(const QString &runPath)
{
    const RunDirectory run = RunDirectory::open(runPath.toStdString()); // throws for a non-run
    m_config = run.config();
    m_path = runPath;
    m_metricsPath = QString::fromStdString(run.files().metrics());
    m_evalsPath = QString::fromStdString(run.files().evals());
    m_snapshotPath = QString::fromStdString(run.files().snapshot());
    ++m_generation;
    m_metrics = m_evals = m_snapshot = FileState();
    m_timer.start();
    poll();
}

void RunFollower::stop()
{
    ++m_generation;
    m_path.clear();
    m_timer.stop();
}

void RunFollower::poll()
{
    if (m_path.isEmpty() || m_watcher.isRunning())
        return;
    const FileState metricsNow = stateOf(m_metricsPath), evalsNow = stateOf(m_evalsPath),
                    snapshotNow = stateOf(m_snapshotPath);
    const bool readSteps = !(metricsNow == m_metrics), readEvals = !(evalsNow == m_evals),
               readSnapshot = !(snapshotNow == m_snapshot);
    if (!readSteps && !readEvals && !readSnapshot)
        return;
    m_metrics = metricsNow;
    m_evals = evalsNow;
    m_snapshot = snapshotNow;
    m_readGeneration = m_generation;
    const std::string metrics = m_metricsPath.toStdString(), evals = m_evalsPath.toStdString(),
                      snapshot = m_snapshotPath.toStdString();
    m_watcher.setFuture(QtConcurrent::run([=] {
        Contents c;
        c.stepsChanged = readSteps;
        c.evalsChanged = readEvals;
        c.snapshotChanged = readSnapshot;
        if (readSteps)
            c.steps = RunDirectory::readSteps(metrics);
        if (readEvals)
            c.evals = RunDirectory::readEvals(evals);
        if (readSnapshot)
            c.snapshot = RunDirectory::readSnapshot(snapshot);
        return c;
    }));
}

void RunFollower::onRead()
{
    if (m_readGeneration != m_generation) {
        poll(); // that read was for a run no longer shown: read the current one
        return;
    }
    const Contents c = m_watcher.result();
    if (c.stepsChanged)
        Q_EMIT stepsLoaded(c.steps);
    if (c.evalsChanged)
        Q_EMIT evalsLoaded(c.evals);
    if (c.snapshotChanged && c.snapshot.size > 0) {
        SnapshotFrame frame;
        frame.snapshot = c.snapshot;
        Q_EMIT snapshotLoaded(frame);
    }
}

} // namespace liftlab
