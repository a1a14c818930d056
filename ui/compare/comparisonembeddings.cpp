#include "compare/comparisonembeddings.h"

#include "compare/comparisongrid.h"
#include "explorer/embeddingview.h"
#include "explorer/explorercontext.h"

#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace liftlab {

ComparisonEmbeddings::ComparisonEmbeddings(QWidget *parent)
    : QWidget(parent)
    , m_worker(new ProjectionWorker(QStringLiteral("comparison projection"), this))
{
    connect(m_worker, &ProjectionWorker::frameReady, this,
            [this](quint64 id, const ProjectionFrame &frame) { showFrame(id, frame, false); });
    connect(m_worker, &ProjectionWorker::finished, this, [this](quint64 id, const ProjectionFrame &frame, bool) {
        showFrame(id, frame, true);
    });
    connect(m_worker, &ProjectionWorker::failed, this, [this](quint64 id, const QString &message) {
        for (Run &r : m_runs)
            if (r.request == id)
                r.view->setPlaceholderText(tr("%1 failed: %2").arg(projectionMethodName(m_method), message));
        showFrame(id, {}, true);
    });

    m_status = new QLabel;
    m_status->setObjectName(QStringLiteral("embeddingsStatus"));
    m_status->setWordWrap(true);
    m_methodBox = new QComboBox;
    m_methodBox->setObjectName(QStringLiteral("comparisonMethodBox"));
    m_methodBox->addItem(tr("t-SNE"), QStringLiteral("tsne"));
    m_methodBox->addItem(tr("UMAP"), QStringLiteral("umap"));
    m_methodBox->addItem(tr("PCA"), QStringLiteral("pca"));
    m_methodBox->setToolTip(tr("How each run's test embedding is projected to 2-D (default settings)"));
    m_computeButton = new QPushButton(tr("Compute"));
    m_computeButton->setObjectName(QStringLiteral("computeTsneButton"));
    m_computeButton->setToolTip(tr("Project each run's last test embedding again"));
    connect(m_computeButton, &QPushButton::clicked, this, &ComparisonEmbeddings::compute);
    // Another method: the panels follow at once if they were shown.
    connect(m_methodBox, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
        if (!m_sample.empty() || m_pending > 0)
            compute();
    });
    auto *controls = new QHBoxLayout;
    controls->addWidget(m_status, 1);
    controls->addWidget(m_methodBox);
    controls->addWidget(m_computeButton);
    m_grid = new QWidget;
    new QGridLayout(m_grid);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(controls);
    layout->addWidget(m_grid, 1);
    setRuns({}, {});
}

ComparisonEmbeddings::~ComparisonEmbeddings()
{
    shutdown();
}

void ComparisonEmbeddings::shutdown()
{
    m_worker->shutdown();
}

void ComparisonEmbeddings::cancel()
{
    m_worker->cancelUpTo(m_nextId);
}

void ComparisonEmbeddings::setRuns(const QStringList &labels, const std::vector<ExplorerContext *> &contexts)
{
    cancel();
    for (Run &r : m_runs) {
        disconnect(r.context, nullptr, this, nullptr);
        delete r.view;
        delete r.title;
    }
    m_runs.clear();
    m_sample.clear();
    m_pending = 0;
    m_wanted = false;
    auto *grid = static_cast<QGridLayout *>(m_grid->layout());
    for (int i = 0; i < labels.size() && size_t(i) < contexts.size(); ++i) {
        Run r;
        r.context = contexts[size_t(i)];
        r.label = labels[i];
        r.title = new QLabel;
        r.view = new EmbeddingView;
        r.view->setObjectName(QStringLiteral("comparisonEmbedding%1").arg(i));
        r.view->setPlaceholderText(tr("Loading the run..."));
        ExplorerContext *context = r.context;
        r.view->setThumbnailProvider([this, context](int point) {
            return point >= 0 && size_t(point) < m_sample.size() ? context->image(Subset::Test, m_sample[size_t(point)])
                                                                : QImage();
        });
        connect(r.view, &EmbeddingView::selectionChanged, this,
                [this, i](const QVector<int> &points) { linkSelection(i, points); });
        connect(r.view, &EmbeddingView::pointActivated, this, [this](int point) {
            for (Run &run : m_runs)
                run.view->setHighlight(point, {});
            Q_EMIT queryRequested(testIndex(point));
        });
        connect(r.context, &ExplorerContext::embeddingChanged, this, [this] {
            if (m_wanted)
                compute();
        });
        connect(r.context, &ExplorerContext::loadFailed, this, [this, i](const QString &message) {
            m_runs[size_t(i)].view->setPlaceholderText(tr("Cannot load the run: %1").arg(message));
        });
        r.title->setText(runTitle(i, labels[i]));
        addRunPanel(grid, i, int(labels.size()), r.title, r.view);
        m_runs.push_back(r);
    }
    m_status->setText(labels.isEmpty() ? tr("No comparison yet.")
                                       : tr("A projection of each run's test embedding appears once every run has "
                                            "been evaluated."));
    m_computeButton->setEnabled(!labels.isEmpty());
}

void ComparisonEmbeddings::setMethod(const QString &method)
{
    const int index = m_methodBox->findData(method);
    if (index >= 0)
        m_methodBox->setCurrentIndex(index);
}

void ComparisonEmbeddings::compute()
{
    m_method = m_methodBox->currentData().toString();
    m_wanted = true;
    for (const Run &r : m_runs)
        if (r.context->isLoading()) {
            m_status->setText(tr("Loading the runs' test embeddings..."));
            return; // again when it has loaded
        }
    m_wanted = false;
    for (const Run &r : m_runs)
        if (!r.context->hasEmbedding()) {
            m_status->setText(tr("%1 needs an evaluation of every run: %2 has none yet.")
                                  .arg(projectionMethodName(m_method), r.label));
            return;
        }
    if (!m_runs.empty())
        startProjections();
}

void ComparisonEmbeddings::startProjections()
{
    cancel();
    // Every stride-th test image: the same points in every panel.
    const int64_t n = m_runs.front().context->size(Subset::Test);
    const int64_t stride = (n + kMaxPoints - 1) / kMaxPoints;
    m_sample.clear();
    for (int64_t i = 0; i < n; i += std::max<int64_t>(stride, 1))
        m_sample.push_back(i);
    std::vector<int64_t> labels;
    for (const int64_t i : m_sample)
        labels.push_back(m_runs.front().context->label(Subset::Test, i));
    m_pending = 0;
    for (Run &r : m_runs) {
        const Matrix &embedding = r.context->embedding();
        ProjectionRequest request;
        request.id = ++m_nextId;
        request.method = m_method;
        request.step = r.context->step();
        request.options.frameEvery = 25;
        request.umap.frameEvery = 10;
        request.data.rows = int64_t(m_sample.size());
        request.data.cols = embedding.cols;
        for (const int64_t i : m_sample)
            request.data.values.insert(request.data.values.end(), embedding.row(i), embedding.row(i) + embedding.cols);
        r.request = request.id;
        r.step = request.step;
        r.view->clear();
        r.view->setData(Matrix{int64_t(m_sample.size()), 2, std::vector<float>(m_sample.size() * 2, 0.f)}, labels,
                        r.context->classNames());
        r.view->setImageIndices(m_sample);
        r.view->setPlaceholderText(tr("Waiting for %1...").arg(projectionMethodName(m_method)));
        r.title->setText(runTitle(int(&r - m_runs.data()), r.label, tr("step %1").arg(request.step)));
        ++m_pending;
        m_worker->request(request);
    }
    m_status->setText(tr("%1 of %2 of the %3 test images (the same ones in every panel)...")
                          .arg(projectionMethodName(m_method))
                          .arg(m_sample.size())
                          .arg(n));
}

void ComparisonEmbeddings::showFrame(quint64 id, const ProjectionFrame &frame, bool final)
{
    for (Run &r : m_runs) {
        if (r.request != id)
            continue;
        if (frame.coordinates.rows == int64_t(m_sample.size()))
            r.view->setCoordinates(frame.coordinates, true);
        if (final) {
            r.request = 0;
            if (--m_pending == 0) {
                m_status->setText(tr("%1 of %2 test images, the same in every panel, coloured by class. Select "
                                     "with Shift+drag or Ctrl+drag (lasso): the same images light up in every panel; "
                                     "click a point to see its neighbours under each loss in Retrieval.")
                                      .arg(projectionMethodName(m_method))
                                      .arg(m_sample.size()));
                Q_EMIT projectionsFinished();
            }
        }
    }
}

void ComparisonEmbeddings::linkSelection(int from, const QVector<int> &points)
{
    for (int i = 0; i < runCount(); ++i)
        if (i != from)
            m_runs[size_t(i)].view->setSelection(points);
}

} // namespace liftlab
