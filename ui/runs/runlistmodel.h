#pragma once

#include "train/rundirectory.h"

#include <QAbstractTableModel>
#include <QDateTime>
#include <QVector>

namespace liftlab {

// The run directories in a workspace folder, one row each. refresh() rescans
// the folder; each config.json is read once (it never changes).
class RunListModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column { NameColumn, LossColumn, DatasetColumn, IterationsColumn, ModifiedColumn, StateColumn, ColumnCount };
    enum Role { PathRole = Qt::UserRole + 1, SortRole };

    explicit RunListModel(QObject *parent = nullptr);

    void setWorkspace(const QString &folder);
    QString workspace() const { return m_workspace; }
    // Row of the run at `path`, or -1.
    int rowOf(const QString &path) const;

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

public Q_SLOTS:
    void refresh();

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
    };
    static QString stateText(RunState state);
    static bool readRun(const QString &path, Run *run);

    QString m_workspace;
    QVector<Run> m_runs;
};

} // namespace liftlab
