#pragma once

#include <QTimer>
#include <QWidget>

class QSortFilterProxyModel;
class QLabel;
class QTreeView;

namespace liftlab {

class RunListModel;

// The run list dock: the workspace's runs, newest first, filtered by what is
// typed above them; double-click (or Enter) opens one. Rescans every 2 s so
// runs started elsewhere (liftlab-cli --out <workspace>/x) appear.
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

private:
    RunListModel *m_model = nullptr;
    QSortFilterProxyModel *m_proxy = nullptr;
    QTreeView *m_view = nullptr;
    QLabel *m_empty = nullptr; // what to do while the workspace holds no run
    QTimer m_rescan;
};

} // namespace liftlab
