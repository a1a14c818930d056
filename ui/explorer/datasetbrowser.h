#pragma once

#include "explorer/explorercontext.h"

#include <QSortFilterProxyModel>
#include <QWidget>

class QComboBox;
class QLabel;
class QListView;
class QPushButton;

namespace liftlab {

class ThumbnailModel;

// Filters the dataset browser's rows by subset and class and orders them by
// index, by class or by distance to a reference image.
class DatasetFilterModel : public QSortFilterProxyModel
{
    Q_OBJECT

public:
    enum class Order { Index, Class, Distance };

    using QSortFilterProxyModel::QSortFilterProxyModel;

    void setSubset(int subset);        // -1: both
    void setLabel(int64_t label);    // -1: all classes
    void setOrder(Order order);
    int subset() const { return m_subset; }
    int64_t label() const { return m_label; }
    Order order() const { return m_order; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;
    bool lessThan(const QModelIndex &left, const QModelIndex &right) const override;

private:
    int m_subset = -1;
    int64_t m_label = -1;
    Order m_order = Order::Index;
};

// Every image of the run's training and test sets as a lazy thumbnail grid,
// filtered by subset and class, sorted by class or by the distance to a
// chosen test image in the selected step's embedding. Only the test set
// has saved embeddings, so the distance order covers the test set alone.
class DatasetBrowser : public QWidget
{
    Q_OBJECT

public:
    explicit DatasetBrowser(ExplorerContext *context, QWidget *parent = nullptr);

    ThumbnailModel *model() const { return m_model; }
    DatasetFilterModel *proxy() const { return m_proxy; }
    QListView *view() const { return m_view; }

    void setSubsetFilter(int subset); // -1, int(Subset::Train) or int(Subset::Test)
    void setClassFilter(int64_t label);
    void setOrder(DatasetFilterModel::Order order);
    // Orders the test set by distance to this test image (switches to it).
    void sortByDistanceTo(int64_t testIndex);
    // The test image "Distance to selected" orders by: the one last chosen,
    // here (selected in the grid) or elsewhere (the retrieval query). -1: none.
    void setChosenTestImage(int64_t testIndex) { m_chosen = testIndex; }
    int64_t chosenTestImage() const { return m_chosen; }
    int64_t reference() const { return m_reference; }

Q_SIGNALS:
    void queryRequested(int subset, qint64 index);

private:
    void rebuild();
    void updateDistances();
    void updateHint();
    void syncControls();

    ExplorerContext *m_context;
    int64_t m_chosen = -1;
    ThumbnailModel *m_model = nullptr;
    DatasetFilterModel *m_proxy = nullptr;
    QListView *m_view = nullptr;
    QComboBox *m_subsetBox = nullptr;
    QComboBox *m_classBox = nullptr;
    QComboBox *m_orderBox = nullptr;
    QPushButton *m_referenceButton = nullptr;
    QLabel *m_hint = nullptr;
    int64_t m_reference = -1; // test index the distances are measured from
};

} // namespace liftlab
