#pragma once

#include "train/comparison.h"

#include <QAbstractTableModel>

#include <vector>

namespace liftlab {

// The results of a comparison, one row per loss: its last evaluation and,
// once finished, its speed. Cells show rounded text; SortRole gives the
// number, so a QSortFilterProxyModel sorts numerically.
class ComparisonTableModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column { Loss, Step, R1, R2, R4, R8, MapAtR, RPrecision, Nmi, F1, ImagesPerSec, WallSeconds, ColumnCount };
    static constexpr int SortRole = Qt::UserRole + 1;

    explicit ComparisonTableModel(QObject *parent = nullptr);

    void setRows(std::vector<ComparisonRow> rows);
    const std::vector<ComparisonRow> &rows() const { return m_rows; }

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    std::vector<ComparisonRow> m_rows;
};

} // namespace liftlab
