#include "runs/runlistmodel.h"

#include "error.h"
#include "train/comparison.h"
#include "train/rundirectory.h"
#include "util/atomicfile.h"

#include <QDir>
#include <QFileInfo>

namespace liftlab {

RunListModel::RunListModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void RunListModel::setWorkspace(const QString &folder)
{
    m_workspace = folder;
    beginResetModel();
    m_runs.clear();
    endResetModel();
    refresh();
}

bool RunListModel::readRun(const QString &path, Run *run)
{
    try {
        const RunDirectory dir = RunDirectory::open(path.toStdString());
        run->config = dir.config();
        run->loss = QString::fromStdString(dir.config().loss);
        run->dataset = QString::fromStdString(dir.config().dataset);
        run->iterations = dir.config().iterations;
    } catch (const Error &) {
        return false; // not a run directory, or not one we can read
    }
    run->path = path;
    run->name = QFileInfo(path).fileName();
    return true;
}

bool RunListModel::readComparison(const QString &path, Run *run)
{
    try {
        const Comparison comparison = Comparison::open(path.toStdString());
        QStringList losses;
        for (const LossChoice &loss : comparison.losses())
            losses << QString::fromStdString(loss.label);
        run->config = comparison.base();
        run->loss = comparison.seeds() > 1
                        ? tr("comparison: %1 (%2 seeds)").arg(losses.join(QStringLiteral(", "))).arg(comparison.seeds())
                        : tr("comparison: %1").arg(losses.join(QStringLiteral(", ")));
        run->dataset = QString::fromStdString(comparison.base().dataset);
        run->iterations = comparison.base().iterations;
        // The results table is written when every run has ended.
        run->status.state = QFileInfo::exists(QString::fromStdString(comparison.resultsPath(Comparison::Results::Csv)))
                                ? RunState::Finished
                                : RunState::Stopped;
    } catch (const Error &) {
        return false;
    }
    run->path = path;
    run->name = QFileInfo(path).fileName();
    run->comparison = true;
    return true;
}

void RunListModel::refresh()
{
    QVector<Run> runs;
    const QFileInfoList entries = QDir(m_workspace).entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
    for (const QFileInfo &entry : entries) {
        // A run being created (or one whose creation was killed) is staged
        // under a temporary name; it is not a run yet.
        if (isTemporaryName(entry.fileName().toStdString()))
            continue;
        const RunFiles files(entry.filePath().toStdString());
        if (!QFileInfo::exists(QString::fromStdString(files.config()))) {
            Run comparison;
            if (readComparison(entry.filePath(), &comparison)) {
                comparison.modified = entry.lastModified();
                runs.append(comparison);
            }
            continue;
        }
        Run run;
        const int known = rowOf(entry.filePath());
        if (known >= 0)
            run = m_runs.at(known);
        else if (!readRun(entry.filePath(), &run))
            continue;
        const QFileInfo metrics(QString::fromStdString(files.metrics()));
        run.modified = metrics.exists() ? metrics.lastModified() : entry.lastModified();
        run.status = RunDirectory::readStatus(files.dir());
        runs.append(run);
    }

    const int tickedBefore = int(tickedRuns().size());
    bool samePaths = runs.size() == m_runs.size();
    for (int i = 0; samePaths && i < runs.size(); ++i)
        samePaths = runs[i].path == m_runs[i].path;
    if (!samePaths) {
        beginResetModel();
        m_runs = runs;
        endResetModel();
        if (int(tickedRuns().size()) != tickedBefore) // a ticked run went
            Q_EMIT tickedChanged();
        return;
    }
    m_runs = runs;
    if (!m_runs.isEmpty())
        Q_EMIT dataChanged(index(0, ModifiedColumn), index(int(m_runs.size()) - 1, StateColumn));
}

QString RunListModel::stateText(RunState state)
{
    switch (state) {
    case RunState::Created:
        return tr("created");
    case RunState::Training:
        return tr("training");
    case RunState::Stopped:
        return tr("stopped");
    case RunState::Finished:
        return tr("finished");
    case RunState::Failed:
        return tr("failed");
    }
    return {};
}

int RunListModel::rowOf(const QString &path) const
{
    const QString clean = QDir::cleanPath(path);
    for (int i = 0; i < m_runs.size(); ++i)
        if (QDir::cleanPath(m_runs[i].path) == clean)
            return i;
    return -1;
}

int RunListModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_runs.size());
}

int RunListModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant RunListModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_runs.size())
        return {};
    const Run &run = m_runs.at(index.row());
    if (role == PathRole)
        return run.path;
    if (role == ComparisonRole)
        return run.comparison;
    if (role == Qt::CheckStateRole && index.column() == NameColumn)
        return run.ticked ? Qt::Checked : Qt::Unchecked;
    if (role == Qt::ToolTipRole) {
        // The Steps column, which names a distributed run's ranks, is off
        // screen on a small one: the tooltip says it too.
        QString tip = run.path;
        if (run.config.worldSize > 1)
            tip += QLatin1Char('\n') + tr("trained by %n ranks", nullptr, run.config.worldSize);
        if (!run.status.message.empty())
            tip += QStringLiteral("\n%1: %2").arg(stateText(run.status.state), QString::fromStdString(run.status.message));
        return tip;
    }
    const bool sort = role == SortRole;
    if (role != Qt::DisplayRole && !sort)
        return {};
    switch (index.column()) {
    case NameColumn:
        return run.name;
    case LossColumn:
        return run.loss;
    case DatasetColumn:
        return QFileInfo(run.dataset).fileName().isEmpty() ? run.dataset : QFileInfo(run.dataset).fileName();
    case IterationsColumn:
        // A distributed run says how many processes train it.
        if (!sort && run.config.worldSize > 1)
            return tr("%1 (%n ranks)", nullptr, run.config.worldSize).arg(run.iterations);
        return run.iterations;
    case ModifiedColumn:
        return sort ? QVariant(run.modified) : QVariant(run.modified.toString(QStringLiteral("yyyy-MM-dd hh:mm")));
    case StateColumn:
        if (run.status.state == RunState::Failed && !sort)
            return tr("%1: %2").arg(stateText(run.status.state), QString::fromStdString(run.status.message));
        return stateText(run.status.state);
    }
    return {};
}

Qt::ItemFlags RunListModel::flags(const QModelIndex &index) const
{
    Qt::ItemFlags flags = QAbstractTableModel::flags(index);
    if (index.column() == NameColumn && index.row() < m_runs.size() && !m_runs.at(index.row()).comparison)
        flags |= Qt::ItemIsUserCheckable;
    return flags;
}

bool RunListModel::setData(const QModelIndex &index, const QVariant &value, int role)
{
    if (!index.isValid() || index.row() >= m_runs.size() || index.column() != NameColumn || role != Qt::CheckStateRole)
        return false;
    m_runs[index.row()].ticked = value.toInt() == Qt::Checked;
    Q_EMIT dataChanged(index, index, {Qt::CheckStateRole});
    Q_EMIT tickedChanged();
    return true;
}

QStringList RunListModel::tickedRuns() const
{
    QStringList paths;
    for (const Run &run : m_runs)
        if (run.ticked)
            paths << run.path;
    return paths;
}

void RunListModel::untickAll()
{
    if (tickedRuns().isEmpty())
        return;
    for (Run &run : m_runs)
        run.ticked = false;
    Q_EMIT dataChanged(index(0, NameColumn), index(int(m_runs.size()) - 1, NameColumn), {Qt::CheckStateRole});
    Q_EMIT tickedChanged();
}

ExperimentConfig RunListModel::configOf(const QString &path) const
{
    const int row = rowOf(path);
    return row >= 0 ? m_runs.at(row).config : ExperimentConfig();
}

QVariant RunListModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case NameColumn:
        return tr("Run");
    case LossColumn:
        return tr("Loss");
    case DatasetColumn:
        return tr("Dataset");
    case IterationsColumn:
        return tr("Steps");
    case ModifiedColumn:
        return tr("Last written");
    case StateColumn:
        return tr("State");
    }
    return {};
}

} // namespace liftlab
