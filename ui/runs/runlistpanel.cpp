#include "runs/runlistpanel.h"

#include "runs/runlistmodel.h"
#include "train/config.h"

#include <QFileInfo>
#include <QHeaderView>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTableWidget>
#include <QLabel>
#include <QLineEdit>
#include <QSortFilterProxyModel>
#include <QTreeView>
#include <QVBoxLayout>

namespace liftlab {

RunListPanel::RunListPanel(QWidget *parent)
    : QWidget(parent)
    , m_model(new RunListModel(this))
    , m_proxy(new QSortFilterProxyModel(this))
{
    m_proxy->setSourceModel(m_model);
    m_proxy->setSortRole(RunListModel::SortRole);
    m_proxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
    m_proxy->setFilterKeyColumn(-1); // any column

    auto *filter = new QLineEdit;
    filter->setObjectName(QStringLiteral("runFilter"));
    filter->setPlaceholderText(tr("Filter runs (name, loss, dataset...)"));
    filter->setClearButtonEnabled(true);
    connect(filter, &QLineEdit::textChanged, m_proxy, &QSortFilterProxyModel::setFilterFixedString);

    m_view = new QTreeView;
    m_view->setObjectName(QStringLiteral("runList"));
    m_view->setModel(m_proxy);
    m_view->setRootIsDecorated(false);
    m_view->setUniformRowHeights(true);
    m_view->setSortingEnabled(true);
    m_view->sortByColumn(RunListModel::ModifiedColumn, Qt::DescendingOrder);
    m_view->setAlternatingRowColors(true);
    m_view->header()->setStretchLastSection(true);
    // What a run is doing matters most after its name: shown second, in
    // sight in a narrow dock.
    m_view->header()->moveSection(m_view->header()->visualIndex(RunListModel::StateColumn), 1);
    m_view->setToolTip(tr("Double-click a run to show its curves, evaluations and last batch (a comparison opens "
                          "in the comparison window); tick runs to draw their curves together"));
    connect(m_view, &QTreeView::activated, this, [this](const QModelIndex &index) {
        if (index.data(RunListModel::ComparisonRole).toBool())
            Q_EMIT openComparisonRequested(index.data(RunListModel::PathRole).toString());
        else
            Q_EMIT openRequested(index.data(RunListModel::PathRole).toString());
    });

    // New runs (a model reset) may need wider columns.
    connect(m_model, &QAbstractItemModel::modelReset, this, [this] {
        for (int c = 0; c < RunListModel::ColumnCount; ++c)
            m_view->resizeColumnToContents(c);
    });

    m_empty = new QLabel;
    m_empty->setObjectName(QStringLiteral("noRunsLabel"));
    m_empty->setWordWrap(true);
    m_empty->setForegroundRole(QPalette::PlaceholderText);
    const auto updateEmpty = [this] {
        m_empty->setText(tr("No runs yet in %1. A run appears here when you press Start, and so does one that "
                            "liftlab-cli trains into this folder (--out); double-click it to follow it.")
                             .arg(m_model->workspace()));
        m_empty->setVisible(m_model->rowCount() == 0);
    };
    connect(m_model, &QAbstractItemModel::modelReset, this, updateEmpty);
    connect(m_model, &QAbstractItemModel::rowsInserted, this, updateEmpty);
    connect(m_model, &QAbstractItemModel::rowsRemoved, this, updateEmpty);
    updateEmpty();

    m_differences = new QTableWidget;
    m_differences->setObjectName(QStringLiteral("runDifferences"));
    m_differences->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_differences->setToolTip(tr("What the ticked runs' experiments differ in"));
    m_differences->hide();
    connect(m_model, &RunListModel::tickedChanged, this, [this] {
        updateDifferences();
        Q_EMIT tickedChanged(m_model->tickedRuns());
    });

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addWidget(filter);
    layout->addWidget(m_empty);
    layout->addWidget(m_view, 2);
    layout->addWidget(m_differences, 1);

    m_rescan.setInterval(2000);
    connect(&m_rescan, &QTimer::timeout, this, &RunListPanel::refresh);
    m_rescan.start();
}

void RunListPanel::updateDifferences()
{
    const QStringList runs = m_model->tickedRuns();
    m_differences->setVisible(runs.size() >= 2);
    if (runs.size() < 2)
        return;
    std::vector<QJsonObject> configs;
    QStringList keys;
    for (const QString &run : runs) {
        configs.push_back(toJson(m_model->configOf(run)));
        for (const QString &key : configs.back().keys())
            if (!keys.contains(key))
                keys << key;
    }
    QStringList differing;
    for (const QString &key : keys)
        for (const QJsonObject &config : configs)
            if (config.value(key) != configs.front().value(key)) {
                differing << key;
                break;
            }
    m_differences->clear();
    m_differences->setColumnCount(int(runs.size()));
    m_differences->setRowCount(int(differing.size()));
    QStringList names;
    for (const QString &run : runs)
        names << QFileInfo(run).fileName();
    m_differences->setHorizontalHeaderLabels(names);
    m_differences->setVerticalHeaderLabels(differing);
    for (int r = 0; r < differing.size(); ++r)
        for (int c = 0; c < int(configs.size()); ++c) {
            const QJsonValue value = configs[size_t(c)].value(differing[r]);
            const QString text = value.isObject()
                                     ? QString::fromUtf8(QJsonDocument(value.toObject()).toJson(QJsonDocument::Compact))
                                     : value.toVariant().toString();
            m_differences->setItem(r, c, new QTableWidgetItem(text));
        }
    m_differences->resizeColumnsToContents();
}

void RunListPanel::setWorkspace(const QString &folder)
{
    m_model->setWorkspace(folder);
}

void RunListPanel::refresh()
{
    m_model->refresh();
}

} // namespace liftlab
