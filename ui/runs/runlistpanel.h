#pragma once

#include <QTimer>
#include <QWidget>

class QSortFilterProxyModel;
class QLabel;
class QTableWidget;
class QTreeView;

namespace liftlab {

class RunListModel;

// The run list dock: the workspace's runs, newest first, filtered by what is
// typed above them; double-click (or Enter) opens one. Rescans every 2 s so
// runs started elsewhere (liftlab-cli --out <workspace>/x) appear. Runs
// ticked together are overlaid in the charts (the owner draws them), and
// what their experiments differ in is tabled below the list.
class RunListPanel : public QWidget
{
    Q_OBJECT

public:
    explicit RunListPanel(QWidget *parent = nullptr);

    void setWorkspace(const QString &folder);
    RunListModel *model() const { return m_model; }
    QTreeView *view() const { return m_view; }

public Q_SLOTS:
    void refresh();

Q_SIGNALS:
    void openRequested(const QString &runPath);
    void openComparisonRequested(const QString &folder);
    // The ticked runs changed: two or more are drawn together.
    void tickedChanged(const QStringList &runPaths);

private:
    RunListModel *m_model = nullptr;
    QSortFilterProxyModel *m_proxy = nullptr;
    QTreeView *m_view = nullptr;
    QLabel *m_empty = nullptr; // what to do while the workspace holds no run
    QTableWidget *m_differences = nullptr; // of the ticked runs' experiments
    void updateDifferences();
    QTimer m_rescan;
};

} // namespace liftlab
