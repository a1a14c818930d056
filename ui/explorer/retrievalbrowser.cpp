#include "explorer/retrievalbrowser.h"

#include "eval/knn.h"
#include "eval/metrics.h"
#include "explorer/thumbnailmodel.h"
#include "projection/rundata.h"

#include <QComboBox>
#include <QCoreApplication>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QListView>
#include <QPushButton>
#include <QScrollBar>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <cmath>
#include <limits>
#include <numeric>

namespace liftlab {

namespace {

struct Embedded
{
    std::vector<float> vector;
    QString error;
};

constexpr int kQueryThumb = 112;

} // namespace

RetrievalBrowser::RetrievalBrowser(ExplorerContext *context, QWidget *parent)
    : QWidget(parent)
    , m_context(context)
{
    m_queryImage = new QLabel;
    m_queryImage->setFixedSize(kQueryThumb + 8, kQueryThumb + 8);
    m_queryImage->setAlignment(Qt::AlignCenter);
    m_queryImage->setFrameShape(QFrame::StyledPanel);
    m_queryText = new QLabel(tr("No query yet: click a point in the explorer, double-click an image in a grid, "
                                "or open an image file."));
    m_queryText->setWordWrap(true);
    m_queryText->setObjectName(QStringLiteral("queryText"));
    m_openButton = new QPushButton(tr("Query with an image file..."));
    m_openButton->setObjectName(QStringLiteral("openQueryButton"));
    connect(m_openButton, &QPushButton::clicked, this, &RetrievalBrowser::openFileDialog);
    m_kBox = new QSpinBox;
    m_kBox->setObjectName(QStringLiteral("kBox"));
    m_kBox->setRange(1, 100);
    m_kBox->setValue(10);
    m_kBox->setPrefix(tr("K = "));
    connect(m_kBox, qOverload<int>(&QSpinBox::valueChanged), this, &RetrievalBrowser::search);
    m_metricBox = new QComboBox;
    m_metricBox->setObjectName(QStringLiteral("metricBox"));
    m_metricBox->addItem(tr("Euclidean"));
    m_metricBox->addItem(tr("Cosine"));
    m_metricBox->setToolTip(tr("Euclidean distance on the raw embedding, or cosine distance 1 - cos"));
    connect(m_metricBox, qOverload<int>(&QComboBox::currentIndexChanged), this, &RetrievalBrowser::search);
    m_stats = new QLabel;
    m_stats->setObjectName(QStringLiteral("retrievalStats"));
    m_stats->setTextFormat(Qt::RichText);

    m_model = new ThumbnailModel(m_context, this);
    m_model->setThumbnailSize(90); // 28 x 28 images at 3x inside the green/red frame
    m_view = new QListView;
    m_view->setObjectName(QStringLiteral("retrievalResults"));
    m_view->setViewMode(QListView::IconMode);
    m_view->setResizeMode(QListView::Adjust);
    m_view->setMovement(QListView::Static);
    m_view->setUniformItemSizes(true);
    m_view->setWordWrap(true);
    m_view->setIconSize(QSize(90, 90));
    m_view->setGridSize(QSize(112, 136));
    m_view->setModel(m_model);
    connect(m_view, &QListView::activated, this, [this](const QModelIndex &index) {
        Q_EMIT queryRequested(int(Subset::Test), index.data(ThumbnailModel::IndexRole).toLongLong());
    });

    auto *options = new QHBoxLayout;
    options->addWidget(m_kBox);
    options->addWidget(m_metricBox);
    options->addStretch(1);
    auto *side = new QVBoxLayout;
    side->addWidget(m_queryText);
    side->addLayout(options);
    side->addWidget(m_stats);
    side->addWidget(m_openButton, 0, Qt::AlignLeft);
    side->addStretch(1);
    auto *top = new QHBoxLayout;
    top->addWidget(m_queryImage, 0, Qt::AlignTop);
    top->addLayout(side, 1);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(top);
    layout->addWidget(m_view, 1);

    // Another step is another embedding: search again (file queries keep their vector).
    connect(m_context, &ExplorerContext::embeddingChanged, this, &RetrievalBrowser::search);
    connect(m_context, &ExplorerContext::runChanged, this, &RetrievalBrowser::clearQuery);
    showQueryImage({});
}

RetrievalBrowser::~RetrievalBrowser() = default;

void RetrievalBrowser::setCompact(bool compact)
{
    for (QWidget *w : {static_cast<QWidget *>(m_queryImage), static_cast<QWidget *>(m_queryText),
                       static_cast<QWidget *>(m_openButton), static_cast<QWidget *>(m_kBox),
                       static_cast<QWidget *>(m_metricBox)})
        w->setVisible(!compact);
    m_view->setWrapping(!compact);
    // Rows a little lower: 28 x 28 images at 3x, label and distance in two lines.
    m_model->setThumbnailSize(compact ? 84 : 90);
    m_view->setIconSize(compact ? QSize(84, 84) : QSize(90, 90));
    m_view->setGridSize(compact ? QSize(108, 124) : QSize(112, 136));
    const int rowHeight = m_view->gridSize().height() + m_view->horizontalScrollBar()->sizeHint().height() + 8;
    m_view->setMinimumHeight(compact ? rowHeight : 0);
    m_view->setMaximumHeight(compact ? rowHeight : QWIDGETSIZE_MAX);
}

int RetrievalBrowser::k() const
{
    return m_kBox->value();
}

void RetrievalBrowser::setK(int k)
{
    m_kBox->setValue(k);
}

RetrievalBrowser::Metric RetrievalBrowser::distanceMetric() const
{
    return m_metricBox->currentIndex() == 1 ? Metric::Cosine : Metric::Euclidean;
}

void RetrievalBrowser::setDistanceMetric(Metric metric)
{
    m_metricBox->setCurrentIndex(metric == Metric::Cosine ? 1 : 0);
}

void RetrievalBrowser::showQueryImage(const QImage &image)
{
    if (image.isNull()) {
        m_queryImage->setPixmap({});
        m_queryImage->setText(tr("query"));
        return;
    }
    const int factor = std::max(1, kQueryThumb / std::max(image.width(), image.height()));
    QImage scaled = image.scaled(image.size() * factor, Qt::KeepAspectRatio, Qt::FastTransformation);
    if (scaled.width() > kQueryThumb || scaled.height() > kQueryThumb)
        scaled = scaled.scaled(kQueryThumb, kQueryThumb, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    m_queryImage->setPixmap(QPixmap::fromImage(scaled));
}

void RetrievalBrowser::clearQuery()
{
    ++m_generation;
    m_queryKind = QueryKind::None;
    m_queryIndex = -1;
    m_queryLabel = -1;
    m_queryVector.clear();
    m_results.clear();
    m_model->clear();
    m_stats->clear();
    m_queryText->setText(tr("No query yet: click a point in the explorer, double-click an image in a grid, "
                            "or open an image file."));
    showQueryImage({});
    Q_EMIT resultsChanged();
}

void RetrievalBrowser::setQueryIndex(int64_t testIndex)
{
    if (testIndex < 0 || testIndex >= m_context->size(Subset::Test))
        return;
    ++m_generation;
    m_queryKind = QueryKind::Test;
    m_queryIndex = testIndex;
    m_queryLabel = m_context->label(Subset::Test, testIndex);
    m_queryVector.clear();
    m_queryDescription = tr("Test image %1 (%2)").arg(testIndex).arg(m_context->className(m_queryLabel));
    showQueryImage(m_context->image(Subset::Test, testIndex));
    search();
}

void RetrievalBrowser::setQueryVector(const std::vector<float> &vector, const QImage &image,
                                      const QString &description, int64_t label)
{
    ++m_generation;
    m_queryKind = QueryKind::Vector;
    m_queryIndex = -1;
    m_queryLabel = label;
    m_queryVector = vector;
    m_queryDescription = description;
    showQueryImage(image);
    search();
}

void RetrievalBrowser::setQueryFile(const QString &path)
{
    const QImage image(path);
    embedInBackground(path, image, tr("%1 (embedded with the last checkpoint)").arg(QFileInfo(path).fileName()), -1,
                      {});
}

void RetrievalBrowser::setQueryTrainImage(int64_t trainIndex)
{
    // RunData embeds files: hand it the train image as a temporary PNG.
    const QImage image = m_context->image(Subset::Train, trainIndex);
    if (image.isNull())
        return;
    const QString path = QDir(QDir::tempPath())
                             .filePath(QStringLiteral("liftlab-query-%1-%2.png")
                                           .arg(QCoreApplication::applicationPid())
                                           .arg(trainIndex));
    if (!image.save(path, "PNG")) {
        Q_EMIT failed(tr("Cannot write %1.").arg(path));
        return;
    }
    const int64_t label = m_context->label(Subset::Train, trainIndex);
    embedInBackground(path, image,
                      tr("Train image %1 (%2), embedded with the last checkpoint")
                          .arg(trainIndex)
                          .arg(m_context->className(label)),
                      label, path);
}

void RetrievalBrowser::embedInBackground(const QString &path, const QImage &image, const QString &description,
                                         int64_t label, const QString &temporaryFile)
{
    const std::shared_ptr<const RunData> run = m_context->runData();
    if (!run) {
        Q_EMIT failed(tr("Open a run first: its model embeds the image."));
        return;
    }
    const quint64 generation = ++m_generation;
    ++m_pendingEmbeds;
    m_queryText->setText(tr("Embedding %1...").arg(QFileInfo(path).fileName()));
    showQueryImage(image);
    auto *watcher = new QFutureWatcher<Embedded>(this);
    connect(watcher, &QFutureWatcher<Embedded>::finished, this,
            [this, watcher, generation, image, description, label, temporaryFile] {
                watcher->deleteLater();
                --m_pendingEmbeds;
                if (!temporaryFile.isEmpty())
                    QFile::remove(temporaryFile);
                const Embedded result = watcher->result();
                if (generation != m_generation)
                    return;
                if (!result.error.isEmpty()) {
                    m_queryText->setText(tr("Cannot embed the image: %1").arg(result.error));
                    Q_EMIT failed(result.error);
                    return;
                }
                setQueryVector(result.vector, image, description, label);
            });
    const std::string file = path.toStdString();
    watcher->setFuture(QtConcurrent::run([run, file]() -> Embedded {
        try {
            return {run->embedImageFile(file), {}};
        } catch (const std::exception &e) {
            return {{}, QString::fromStdString(e.what())};
        }
    }));
}

void RetrievalBrowser::openFileDialog()
{
    const QString folder = QStandardPaths::writableLocation(QStandardPaths::PicturesLocation);
    const QString path = QFileDialog::getOpenFileName(this, tr("Query image"), folder,
                                                      tr("Images (*.png *.jpg *.jpeg *.bmp *.pgm *.ppm *.gif)"));
    if (!path.isEmpty())
        setQueryFile(path);
}

std::vector<float> RetrievalBrowser::queryVector(const Matrix &gallery, bool cosine) const
{
    std::vector<float> query;
    if (m_queryKind == QueryKind::Test && m_queryIndex < gallery.rows) {
        query.assign(gallery.row(m_queryIndex), gallery.row(m_queryIndex) + gallery.cols);
    } else if (m_queryKind == QueryKind::Vector && int64_t(m_queryVector.size()) == gallery.cols) {
        query = m_queryVector;
        if (cosine) {
            double norm = 0;
            for (float v : query)
                norm += double(v) * v;
            norm = std::sqrt(norm);
            if (norm > 0)
                for (float &v : query)
                    v = float(v / norm);
        }
    }
    return query;
}

// precision@K and AP over the K results shown (core's precisionAtK), as text.
QString RetrievalBrowser::precisionText(bool queryInGallery)
{
    QString stats;
    if (m_queryLabel >= 0) {
        int64_t relevant = 0;
        for (int64_t label : m_context->testLabels())
            relevant += label == m_queryLabel;
        if (queryInGallery)
            --relevant;
        std::vector<bool> sameClass;
        for (const Result &r : m_results)
            sameClass.push_back(r.sameClass);
        const PrecisionAtK p = liftlab::precisionAtK(sameClass, relevant);
        m_precision = p.precision;
        m_ap = p.averagePrecision;
        stats = tr("<b>precision@%1</b> %2 &nbsp; <b>AP@%1</b> %3 &nbsp; (%4 of %5 are %6; %7 in the gallery)")
                    .arg(m_results.size())
                    .arg(m_precision, 0, 'f', 3)
                    .arg(std::isfinite(m_ap) ? QString::number(m_ap, 'f', 3) : tr("n/a"))
                    .arg(p.hits)
                    .arg(m_results.size())
                    .arg(m_context->className(m_queryLabel).toHtmlEscaped())
                    .arg(relevant);
    } else {
        stats = tr("The query's class is unknown: no precision.");
    }
    return stats;
}

void RetrievalBrowser::search()
{
    if (m_queryKind == QueryKind::None)
        return;
    m_results.clear();
    m_precision = m_ap = std::numeric_limits<double>::quiet_NaN();
    const bool cosine = distanceMetric() == Metric::Cosine;
    const Matrix &gallery = cosine ? m_context->normalizedEmbedding() : m_context->embedding();
    const int64_t ng = gallery.rows, dim = gallery.cols;
    const std::vector<float> query = queryVector(gallery, cosine);
    if (ng == 0 || query.empty()) {
        m_model->clear();
        m_queryText->setText(m_queryDescription);
        m_stats->setText(ng == 0 ? tr("No embedding of the test set to search.")
                                 : tr("The query has %1 dimensions, the embedding %2.").arg(m_queryVector.size()).arg(dim));
        Q_EMIT resultsChanged();
        return;
    }

    // The query itself is in the gallery (a test image): ask for one more and drop it.
    const bool self = m_queryKind == QueryKind::Test;
    const int64_t k = std::min<int64_t>(m_kBox->value(), ng - (self ? 1 : 0));
    const NeighbourList list = nearestNeighbours(query.data(), 1, gallery.values.data(), ng, dim,
                                                 std::min<int64_t>(k + (self ? 1 : 0), ng), false);
    for (int64_t j = 0; j < list.k && int64_t(m_results.size()) < k; ++j) {
        const int64_t index = list.indices[size_t(j)];
        if (index < 0 || (self && index == m_queryIndex))
            continue;
        Result r;
        r.index = index;
        const float d = list.distances[size_t(j)];
        r.distance = cosine ? d * d / 2 : d; // |a - b|^2 / 2 = 1 - cos on unit vectors
        r.label = m_context->label(Subset::Test, index);
        r.sameClass = m_queryLabel >= 0 && r.label == m_queryLabel;
        m_results.push_back(r);
    }

    QString stats = precisionText(self);
    stats += tr("<br>Gallery: the %1 test images at step %2, %3 distance%4.")
                 .arg(ng)
                 .arg(m_context->step())
                 .arg(cosine ? tr("cosine") : tr("Euclidean"))
                 .arg(self ? tr(", the query left out") : QString());
    if (m_queryKind == QueryKind::Vector && !m_context->steps().empty() && m_context->step() != m_context->steps().back())
        stats += tr("<br><i>The query was embedded with the last checkpoint, the gallery is an earlier "
                    "evaluation: distances mix two models.</i>");
    m_stats->setText(stats);
    m_queryText->setText(m_queryDescription);

    std::vector<ThumbnailModel::Item> items;
    items.reserve(m_results.size());
    for (size_t i = 0; i < m_results.size(); ++i) {
        ThumbnailModel::Item item;
        item.subset = Subset::Test;
        item.index = m_results[i].index;
        item.label = m_results[i].label;
        item.distance = m_results[i].distance;
        item.mark = m_queryLabel < 0 ? 0 : m_results[i].sameClass ? 1 : -1;
        item.rank = int(i) + 1;
        items.push_back(item);
    }
    m_model->setItems(std::move(items));
    Q_EMIT resultsChanged();
}

} // namespace liftlab
