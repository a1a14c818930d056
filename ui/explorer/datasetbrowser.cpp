#include "explorer/datasetbrowser.h"

#include "explorer/thumbnailmodel.h"
#include "widgets/flowlayout.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QListView>
#include <QPushButton>
#include <QVBoxLayout>

#include <cmath>
#include <limits>

namespace liftlab {

void DatasetFilterModel::setSubset(int subset)
{
    if (subset == m_subset)
        return;
    m_subset = subset;
    invalidateFilter();
}

void DatasetFilterModel::setLabel(int64_t label)
{
    if (label == m_label)
        return;
    m_label = label;
    invalidateFilter();
}

void DatasetFilterModel::setOrder(Order order)
{
    m_order = order;
    invalidate();
    sort(0);
}

bool DatasetFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex &) const
{
    const auto *model = static_cast<const ThumbnailModel *>(sourceModel());
    const ThumbnailModel::Item &item = model->item(sourceRow);
    if (m_subset >= 0 && int(item.subset) != m_subset)
        return false;
    if (m_label >= 0 && item.label != m_label)
        return false;
    return true;
}

bool DatasetFilterModel::lessThan(const QModelIndex &left, const QModelIndex &right) const
{
    const auto *model = static_cast<const ThumbnailModel *>(sourceModel());
    const ThumbnailModel::Item &a = model->item(left.row());
    const ThumbnailModel::Item &b = model->item(right.row());
    if (m_order == Order::Class && a.label != b.label)
        return a.label < b.label;
    if (m_order == Order::Distance) {
        // Unknown distances (train images) go last.
        const bool fa = std::isfinite(a.distance), fb = std::isfinite(b.distance);
        if (fa != fb)
            return fa;
        if (fa && a.distance != b.distance)
            return a.distance < b.distance;
    }
    return left.row() < right.row(); // source order: subset, then index
}

DatasetBrowser::DatasetBrowser(ExplorerContext *context, QWidget *parent)
    : QWidget(parent)
    , m_context(context)
{
    m_model = new ThumbnailModel(m_context, this);
    m_model->setThumbnailSize(56);
    m_proxy = new DatasetFilterModel(this);
    m_proxy->setSourceModel(m_model);
    m_proxy->setDynamicSortFilter(false); // sorted on demand: 70,000 rows
    m_proxy->sort(0);

    m_view = new QListView;
    m_view->setObjectName(QStringLiteral("datasetView"));
    m_view->setViewMode(QListView::IconMode);
    m_view->setResizeMode(QListView::Adjust);
    m_view->setMovement(QListView::Static);
    m_view->setUniformItemSizes(true); // only the visible rows are asked for
    m_view->setLayoutMode(QListView::Batched);
    m_view->setBatchSize(500);
    m_view->setWordWrap(true);
    m_view->setIconSize(QSize(56, 56));
    m_view->setGridSize(QSize(100, 96)); // wide enough for "T-shirt/top"
    m_view->setModel(m_proxy);
    connect(m_view->selectionModel(), &QItemSelectionModel::currentChanged, this, [this](const QModelIndex &current) {
        if (current.isValid())
            m_chosen = current.data(ThumbnailModel::SubsetRole).toInt() == int(Subset::Test)
                           ? current.data(ThumbnailModel::IndexRole).toLongLong()
                           : -1;
    });
    m_view->setToolTip(tr("Double-click an image to search its nearest neighbours"));
    connect(m_view, &QListView::activated, this, [this](const QModelIndex &index) {
        Q_EMIT queryRequested(index.data(ThumbnailModel::SubsetRole).toInt(),
                              index.data(ThumbnailModel::IndexRole).toLongLong());
    });

    m_subsetBox = new QComboBox;
    m_subsetBox->setObjectName(QStringLiteral("subsetBox"));
    m_subsetBox->addItem(tr("Train and test"), -1);
    m_subsetBox->addItem(tr("Training images"), int(Subset::Train));
    m_subsetBox->addItem(tr("Test images"), int(Subset::Test));
    connect(m_subsetBox, qOverload<int>(&QComboBox::activated), this,
            [this] { setSubsetFilter(m_subsetBox->currentData().toInt()); });
    m_classBox = new QComboBox;
    m_classBox->setObjectName(QStringLiteral("classBox"));
    connect(m_classBox, qOverload<int>(&QComboBox::activated), this,
            [this] { setClassFilter(m_classBox->currentData().toLongLong()); });
    m_orderBox = new QComboBox;
    m_orderBox->setObjectName(QStringLiteral("orderBox"));
    m_orderBox->addItem(tr("Order: index"), int(DatasetFilterModel::Order::Index));
    m_orderBox->addItem(tr("Order: class"), int(DatasetFilterModel::Order::Class));
    m_orderBox->addItem(tr("Order: distance"), int(DatasetFilterModel::Order::Distance));
    connect(m_orderBox, qOverload<int>(&QComboBox::activated), this,
            [this] { setOrder(DatasetFilterModel::Order(m_orderBox->currentData().toInt())); });
    m_referenceButton = new QPushButton(tr("Distance to selected"));
    m_referenceButton->setObjectName(QStringLiteral("distanceButton"));
    m_referenceButton->setToolTip(tr("Order the test set by distance to the selected test image"));
    connect(m_referenceButton, &QPushButton::clicked, this, [this] {
        if (m_chosen >= 0)
            sortByDistanceTo(m_chosen);
        else
            m_hint->setText(tr("Select a test image first (here, or as the query in Retrieval): only the test set "
                               "has saved embeddings."));
    });
    m_hint = new QLabel;
    m_hint->setObjectName(QStringLiteral("datasetHint"));
    m_hint->setWordWrap(true);

    auto *controls = new FlowLayout;
    controls->addWidget(m_subsetBox);
    controls->addWidget(m_classBox);
    controls->addWidget(m_orderBox);
    controls->addWidget(m_referenceButton);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(controls);
    layout->addWidget(m_hint);
    layout->addWidget(m_view, 1);

    connect(m_context, &ExplorerContext::runChanged, this, &DatasetBrowser::rebuild);
    connect(m_context, &ExplorerContext::embeddingChanged, this, &DatasetBrowser::updateDistances);
    rebuild();
}

void DatasetBrowser::rebuild()
{
    m_chosen = -1; // of the previous run
    m_reference = -1;
    std::vector<ThumbnailModel::Item> items;
    items.reserve(size_t(m_context->size(Subset::Train) + m_context->size(Subset::Test)));
    for (Subset subset : {Subset::Train, Subset::Test})
        for (int64_t i = 0; i < m_context->size(subset); ++i) {
            ThumbnailModel::Item item;
            item.subset = subset;
            item.index = i;
            item.label = m_context->label(subset, i);
            items.push_back(item);
        }
    m_model->setItems(std::move(items));

    const QSignalBlocker block(m_classBox);
    m_classBox->clear();
    m_classBox->addItem(tr("All classes"), qint64(-1));
    std::vector<int64_t> labels = m_context->trainLabels();
    labels.insert(labels.end(), m_context->testLabels().begin(), m_context->testLabels().end());
    std::sort(labels.begin(), labels.end());
    labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
    for (int64_t label : labels)
        m_classBox->addItem(m_context->className(label), qint64(label));
    m_proxy->setLabel(-1);
    if (m_proxy->order() == DatasetFilterModel::Order::Distance)
        m_proxy->setOrder(DatasetFilterModel::Order::Index);
    else
        m_proxy->sort(0);
    syncControls();
    updateHint();
}

void DatasetBrowser::syncControls()
{
    const QSignalBlocker a(m_subsetBox), b(m_classBox), c(m_orderBox);
    m_subsetBox->setCurrentIndex(std::max(0, m_subsetBox->findData(m_proxy->subset())));
    m_classBox->setCurrentIndex(std::max(0, m_classBox->findData(qint64(m_proxy->label()))));
    m_orderBox->setCurrentIndex(std::max(0, m_orderBox->findData(int(m_proxy->order()))));
}

void DatasetBrowser::setSubsetFilter(int subset)
{
    m_proxy->setSubset(subset);
    syncControls();
    updateHint();
}

void DatasetBrowser::setClassFilter(int64_t label)
{
    m_proxy->setLabel(label);
    syncControls();
    updateHint();
}

void DatasetBrowser::setOrder(DatasetFilterModel::Order order)
{
    if (order == DatasetFilterModel::Order::Distance && m_reference < 0) {
        // Nothing to measure from yet: the selected test image, else the first one.
        const QModelIndex current = m_view->currentIndex();
        if (current.isValid() && current.data(ThumbnailModel::SubsetRole).toInt() == int(Subset::Test))
            m_reference = current.data(ThumbnailModel::IndexRole).toLongLong();
        else if (m_context->size(Subset::Test) > 0)
            m_reference = 0;
        updateDistances();
    }
    if (order == DatasetFilterModel::Order::Distance)
        m_proxy->setSubset(int(Subset::Test)); // the only subset with embeddings
    m_proxy->setOrder(order);
    syncControls();
    updateHint();
    m_view->scrollToTop();
}

void DatasetBrowser::sortByDistanceTo(int64_t testIndex)
{
    if (testIndex < 0 || testIndex >= m_context->size(Subset::Test))
        return;
    m_reference = testIndex;
    updateDistances();
    setOrder(DatasetFilterModel::Order::Distance);
}

void DatasetBrowser::updateDistances()
{
    const Matrix &e = m_context->embedding();
    std::vector<float> distances(m_model->items().size(), std::numeric_limits<float>::quiet_NaN());
    if (m_reference >= 0 && m_reference < e.rows) {
        const float *q = e.row(m_reference);
        for (size_t r = 0; r < distances.size(); ++r) {
            const ThumbnailModel::Item &item = m_model->item(int(r));
            if (item.subset != Subset::Test || item.index >= e.rows)
                continue;
            const float *g = e.row(item.index);
            double sum = 0;
            for (int64_t c = 0; c < e.cols; ++c) {
                const double d = double(q[c]) - g[c];
                sum += d * d;
            }
            distances[r] = float(std::sqrt(sum));
        }
    }
    m_model->setDistances(distances);
    if (m_proxy->order() == DatasetFilterModel::Order::Distance)
        m_proxy->setOrder(DatasetFilterModel::Order::Distance);
    updateHint();
}

void DatasetBrowser::updateHint()
{
    QString text = tr("%1 of %2 images").arg(m_proxy->rowCount()).arg(m_model->rowCount());
    if (m_proxy->order() == DatasetFilterModel::Order::Distance) {
        if (m_reference >= 0 && m_context->hasEmbedding())
            text += tr(", by Euclidean distance to test image %1 (%2) at step %3. Only the test set is "
                       "embedded at each evaluation, so the distance order shows the test set.")
                        .arg(m_reference)
                        .arg(m_context->className(m_context->label(Subset::Test, m_reference)))
                        .arg(m_context->step());
        else
            text += tr(": no embedding yet, so no distances.");
    }
    m_hint->setText(text);
}

} // namespace liftlab
