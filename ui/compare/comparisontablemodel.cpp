#include "compare/comparisontablemodel.h"

#include "charts/colormap.h"

#include <QColor>

namespace liftlab {

namespace {

double number(const ComparisonRow &r, int column)
{
    const Metrics &m = r.metrics;
    switch (column) {
    case ComparisonTableModel::Step: return double(r.step);
    case ComparisonTableModel::R1: return m.recallAt1;
    case ComparisonTableModel::R2: return m.recallAt2;
    case ComparisonTableModel::R4: return m.recallAt4;
    case ComparisonTableModel::R8: return m.recallAt8;
    case ComparisonTableModel::MapAtR: return m.mapAtR;
    case ComparisonTableModel::RPrecision: return m.rPrecision;
    case ComparisonTableModel::Nmi: return m.nmi;
    case ComparisonTableModel::F1: return m.f1;
    case ComparisonTableModel::ImagesPerSec: return r.imagesPerSec;
    case ComparisonTableModel::WallSeconds: return r.trainSeconds;
    default: return 0;
    }
}

} // namespace

ComparisonTableModel::ComparisonTableModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void ComparisonTableModel::setRows(std::vector<ComparisonRow> rows)
{
    if (rows.size() == m_rows.size()) { // the same runs, new values: keep the view's selection
        m_rows = std::move(rows);
        if (!m_rows.empty())
            Q_EMIT dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
        return;
    }
    beginResetModel();
    m_rows = std::move(rows);
    endResetModel();
}

int ComparisonTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int ComparisonTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ComparisonTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount())
        return {};
    const ComparisonRow &r = m_rows[size_t(index.row())];
    const int column = index.column();
    const bool evaluated = r.step > 0;
    const bool finished = r.trainSeconds > 0;
    switch (role) {
    case Qt::DisplayRole:
        if (column == Loss)
            return QString::fromStdString(r.label);
        if (column == Step)
            return evaluated ? QString::number(r.step) : tr("--");
        if (column == ImagesPerSec)
            return finished ? QString::number(r.imagesPerSec, 'f', 0) : tr("--");
        if (column == WallSeconds)
            return finished ? QString::number(r.trainSeconds, 'f', 1) : tr("--");
        return evaluated ? QString::number(number(r, column), 'f', 4) : tr("--");
    case SortRole:
        return column == Loss ? QVariant(QString::fromStdString(r.label)) : QVariant(number(r, column));
    case Qt::DecorationRole:
        return column == Loss ? QVariant(runColour(index.row())) : QVariant();
    case Qt::TextAlignmentRole:
        return int((column == Loss ? Qt::AlignLeft : Qt::AlignRight) | Qt::AlignVCenter);
    case Qt::ToolTipRole:
        if (column == WallSeconds || column == ImagesPerSec)
            return tr("Training only (evaluations excluded); shown once the run has finished");
        return evaluated ? tr("At the evaluation of step %1").arg(r.step) : tr("Not evaluated yet");
    default:
        return {};
    }
}

QVariant ComparisonTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    static const char *const names[ColumnCount] = {"Loss",  "Step",   "R@1", "R@2", "R@4",   "R@8",
                                                   "MAP@R", "R-prec", "NMI", "F1",  "img/s", "train s"};
    return section >= 0 && section < ColumnCount ? tr(names[section]) : QVariant();
}

} // namespace liftlab
