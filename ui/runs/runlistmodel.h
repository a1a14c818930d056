#pragma once

#include "train/config.h"
#include "train/rundirectory.h"

#include <QAbstractTableModel>
#include <QDateTime>
#include <QVector>

namespace liftlab {

// The run directories in a workspace folder, one row each. refresh() rescans
// the folder; each config.json is read once (it never changes). Runs can be
// ticked (the name column's check box) to be drawn together. Comparison
// folders are listed too (ComparisonRole), with their losses.
class RunListModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column { NameColumn, LossColumn, DatasetColumn, IterationsColumn, ModifiedColumn, StateColumn, ColumnCount };
    enum Role { PathRole = Qt::UserRole + 1, SortRole, ComparisonRole };

    explicit RunListModel(QObject *parent = nullptr);

    void setWorkspace(const QString &folder);
    QString workspace() const { return m_workspace; }
    // Row of the run at `path`, or -1.
    int rowOf(const QString &path) const;

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    bool setData(const QModelIndex &index, const QVariant &value, int role = Qt::EditRole) override;

    // The ticked runs, in the order of the rows, and each one's experiment.
    QStringList tickedRuns() const;
    void untickAll();
    ExperimentConfig configOf(const QString &path) const;

public Q_SLOTS:
    void refresh();

Q_SIGNALS:
    void tickedChanged();

private:
    struct Run
    {
        QString path;
        QString name;
        QString loss;
        QString dataset;
        qint64 iterations = 0;
        QDateTime modified;
        RunStatus status;
        ExperimentConfig config;
        bool ticked = false;
        bool comparison = false; // a comparison folder (its runs inside)
    };
    static QString stateText(RunState state);
    static bool readRun(const QString &path, Run *run);
    static bool readComparison(const QString &path, Run *run);

    QString m_workspace;
    QVector<Run> m_runs;
};

} // namespace liftlab
