#include "explorer/explorerpanel.h"

#include "data/npy.h"
#include "explorer/embeddingview.h"
#include "explorer/thumbnailmodel.h"
#include "projection/rundata.h"
#include "widgets/flowlayout.h"

#include <QAction>
#include <QShowEvent>
#include <QComboBox>
#include <QCompleter>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMessageBox>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QStringListModel>
#include <QStyle>
#include <QTextStream>
#include <QToolBar>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace liftlab {

ExplorerPanel::ExplorerPanel(ExplorerContext *context, QWidget *parent)
    : QWidget(parent)
    , m_context(context)
    , m_worker(new ProjectionWorker(QStringLiteral("projection"), this))
{
    createControls();
    connect(m_worker, &ProjectionWorker::frameReady, this, &ExplorerPanel::onFrame);
    connect(m_worker, &ProjectionWorker::finished, this, &ExplorerPanel::onFinished);
    connect(m_worker, &ProjectionWorker::failed, this, &ExplorerPanel::onFailed);

    connect(m_context, &ExplorerContext::runChanged, this, &ExplorerPanel::onRunChanged);
    connect(m_context, &ExplorerContext::stepsChanged, this, &ExplorerPanel::onStepsChanged);
    connect(m_context, &ExplorerContext::embeddingChanged, this, &ExplorerPanel::onEmbeddingChanged);
    connect(m_context, &ExplorerContext::loadingStarted, this, [this](const QString &runPath) {
        onRunChanged(); // nothing of the previous run stays: points, selection, images
        m_progress->setText(tr("Loading %1...").arg(runPath));
        m_view->setPlaceholderText(tr("Loading %1...").arg(runPath));
    });
    connect(m_context, &ExplorerContext::loadFailed, this, [this](const QString &message) {
        m_progress->setText(tr("Cannot load: %1").arg(message));
        m_view->setPlaceholderText(tr("Cannot load the run: %1").arg(message));
    });
    onRunChanged();
}

ExplorerPanel::~ExplorerPanel()
{
    shutdown();
}

void ExplorerPanel::createControls()
{
    createView();
    QLayout *stepRow = createStepRow();
    QLayout *controls = createProjectionControls();
    QLayout *tools = createToolBar();
    QWidget *gridBox = createSelectionGrid();
    auto *splitter = new QSplitter(Qt::Vertical);
    splitter->addWidget(m_view);
    splitter->addWidget(gridBox);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 1);
    splitter->setChildrenCollapsible(false);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(stepRow);
    layout->addLayout(controls);
    layout->addLayout(tools);
    layout->addWidget(splitter, 1);
    updateButtons();
}

void ExplorerPanel::createView()
{
    m_view = new EmbeddingView;
    m_view->setObjectName(QStringLiteral("embeddingView"));
    m_view->setThumbnailProvider([this](int index) { return m_context->image(Subset::Test, index); });
    connect(m_view, &EmbeddingView::selectionChanged, this, &ExplorerPanel::onSelection);
    connect(m_view, &EmbeddingView::pointActivated, this,
            [this](int index) { Q_EMIT queryRequested(int(Subset::Test), index); });
    connect(m_view, &EmbeddingView::viewChangedByUser, this, [this] { m_followFit = false; });
}

// The slider over the evaluations whose embedding is shown.
QLayout *ExplorerPanel::createStepRow()
{
    m_stepSlider = new QSlider(Qt::Horizontal);
    m_stepSlider->setObjectName(QStringLiteral("stepSlider"));
    m_stepSlider->setTracking(false); // one projection per release, not per pixel dragged
    m_stepSlider->setPageStep(1);
    m_stepSlider->setTickPosition(QSlider::TicksBelow);
    m_stepSlider->setToolTip(tr("The evaluation step whose test embedding is shown"));
    m_stepLabel = new QLabel;
    m_stepLabel->setMinimumWidth(120);
    connect(m_stepSlider, &QSlider::sliderMoved, this, &ExplorerPanel::updateStepLabel);
    connect(m_stepSlider, &QSlider::valueChanged, this, [this](int position) {
        updateStepLabel(position);
        const std::vector<int64_t> &steps = m_context->steps();
        if (position >= 0 && size_t(position) < steps.size() && steps[size_t(position)] != m_context->step())
            m_context->setStep(steps[size_t(position)]);
    });

    auto *stepRow = new QHBoxLayout;
    stepRow->addWidget(new QLabel(tr("Evaluation:")));
    stepRow->addWidget(m_stepSlider, 1);
    stepRow->addWidget(m_stepLabel);
    return stepRow;
}

// The projection method, its parameters, Re-run and Cancel.
QLayout *ExplorerPanel::createProjectionControls()
{
    m_methodBox = new QComboBox;
    m_methodBox->setObjectName(QStringLiteral("methodBox"));
    m_methodBox->addItem(tr("t-SNE"), QStringLiteral("tsne"));
    m_methodBox->addItem(tr("UMAP"), QStringLiteral("umap"));
    m_methodBox->addItem(tr("PCA"), QStringLiteral("pca"));
    m_methodBox->setToolTip(tr("t-SNE keeps neighbourhoods; UMAP keeps more of the global structure and is faster "
                               "on large test sets; PCA is the linear view"));
    m_perplexityBox = new QDoubleSpinBox;
    m_perplexityBox->setObjectName(QStringLiteral("perplexityBox"));
    m_perplexityBox->setRange(2, 200);
    m_perplexityBox->setValue(30);
    m_perplexityBox->setDecimals(0);
    m_perplexityBox->setToolTip(tr("t-SNE perplexity: about how many neighbours each point keeps close"));
    m_learningRateBox = new QDoubleSpinBox;
    m_learningRateBox->setObjectName(QStringLiteral("tsneLearningRateBox"));
    m_learningRateBox->setRange(0, 100000);
    m_learningRateBox->setDecimals(0);
    m_learningRateBox->setSingleStep(50);
    m_learningRateBox->setSpecialValueText(tr("auto"));
    m_learningRateBox->setToolTip(tr("t-SNE learning rate (0 = auto: max(N / 12, 200))"));
    m_iterationsBox = new QSpinBox;
    m_iterationsBox->setObjectName(QStringLiteral("tsneIterationsBox"));
    m_iterationsBox->setRange(50, 10000);
    m_iterationsBox->setSingleStep(250);
    m_iterationsBox->setValue(750);
    m_neighborsBox = new QSpinBox;
    m_neighborsBox->setObjectName(QStringLiteral("umapNeighborsBox"));
    m_neighborsBox->setRange(2, 200);
    m_neighborsBox->setValue(15);
    m_neighborsBox->setToolTip(tr("UMAP n_neighbors: how many neighbours (the point included) shape each "
                                  "point's neighbourhood; larger keeps more of the global structure"));
    m_minDistBox = new QDoubleSpinBox;
    m_minDistBox->setObjectName(QStringLiteral("umapMinDistBox"));
    m_minDistBox->setRange(0, 1);
    m_minDistBox->setDecimals(2);
    m_minDistBox->setSingleStep(0.05);
    m_minDistBox->setValue(0.1);
    m_minDistBox->setToolTip(tr("UMAP min_dist: how tightly points may pack (0 to the spread, 1)"));
    m_epochsBox = new QSpinBox;
    m_epochsBox->setObjectName(QStringLiteral("umapEpochsBox"));
    m_epochsBox->setRange(0, 5000);
    m_epochsBox->setSingleStep(100);
    m_epochsBox->setSpecialValueText(tr("auto"));
    m_epochsBox->setToolTip(tr("UMAP epochs (auto: 500 up to 10,000 points, else 200)"));
    connect(m_methodBox, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
        updateButtons();
        if (m_context->hasEmbedding())
            showOrCompute();
    });

    m_rerunButton = new QPushButton(style()->standardIcon(QStyle::SP_BrowserReload), tr("Re-run"));
    m_rerunButton->setObjectName(QStringLiteral("rerunButton"));
    m_rerunButton->setToolTip(tr("Compute this step's projection again with these settings"));
    connect(m_rerunButton, &QPushButton::clicked, this, &ExplorerPanel::rerun);
    m_cancelButton = new QPushButton(style()->standardIcon(QStyle::SP_MediaStop), tr("Cancel"));
    m_cancelButton->setObjectName(QStringLiteral("cancelProjectionButton"));
    connect(m_cancelButton, &QPushButton::clicked, this, &ExplorerPanel::cancel);
    m_progress = new QLabel;
    m_progress->setObjectName(QStringLiteral("projectionProgress"));

    // Each method's parameters, shown with it; each field wraps on its own.
    auto *controls = new FlowLayout;
    controls->addWidget(m_methodBox);
    const auto addField = [controls](const QString &label, QWidget *box) {
        auto *field = new QWidget;
        QHBoxLayout *row = labelled(label, box);
        row->setContentsMargins(0, 0, 0, 0);
        field->setLayout(row);
        controls->addWidget(field);
        return field;
    };
    m_tsneFields = {addField(tr("perplexity"), m_perplexityBox), addField(tr("rate"), m_learningRateBox),
                    addField(tr("iterations"), m_iterationsBox)};
    m_umapFields = {addField(tr("neighbours"), m_neighborsBox), addField(tr("min dist"), m_minDistBox),
                    addField(tr("epochs"), m_epochsBox)};
    controls->addWidget(m_rerunButton);
    controls->addWidget(m_cancelButton);
    return controls;
}

// Fit, All classes and the exports, beside the projection's progress.
QLayout *ExplorerPanel::createToolBar()
{
    m_toolBar = new QToolBar;
    m_toolBar->setIconSize(QSize(16, 16));
    m_toolBar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    QAction *fit = m_toolBar->addAction(style()->standardIcon(QStyle::SP_TitleBarMaxButton), tr("Fit"));
    fit->setObjectName(QStringLiteral("fitViewAction"));
    fit->setToolTip(tr("Fit all visible points (or double-click empty space); wheel zooms, drag pans, "
                       "Shift+drag selects a rectangle, Ctrl+drag a lasso"));
    connect(fit, &QAction::triggered, this, [this] {
        m_followFit = true;
        m_view->resetView();
    });
    QAction *showAll = m_toolBar->addAction(tr("All classes"));
    showAll->setToolTip(tr("Show every class again (the legend: click hides a class, double-click isolates it)"));
    connect(showAll, &QAction::triggered, m_view, &EmbeddingView::showAllClasses);
    m_classSearch = new QLineEdit;
    m_classSearch->setObjectName(QStringLiteral("classSearch"));
    m_classSearch->setPlaceholderText(tr("Find class"));
    m_classSearch->setClearButtonEnabled(true);
    m_classSearch->setMaximumWidth(fontMetrics().averageCharWidth() * 16);
    m_classSearch->setToolTip(tr("Highlight the classes whose name contains this text (the others turn grey); "
                                 "the legend lists them first"));
    m_classNameModel = new QStringListModel(this);
    auto *completer = new QCompleter(m_classNameModel, m_classSearch);
    completer->setCaseSensitivity(Qt::CaseInsensitive);
    completer->setFilterMode(Qt::MatchContains);
    m_classSearch->setCompleter(completer);
    connect(m_classSearch, &QLineEdit::textChanged, this, [this](const QString &text) {
        applyClassSearch();
        if (text.trimmed().isEmpty())
            m_progress->clear(); // the count of the search just cleared
    });
    m_toolBar->addWidget(m_classSearch);
    m_toolBar->addSeparator();
    m_toolBar->addAction(style()->standardIcon(QStyle::SP_DialogSaveButton), tr("CSV"), this, [this] {
        const QString path = exportPath(QStringLiteral("projection.csv"), tr("CSV files (*.csv)"));
        if (!path.isEmpty() && !exportCsv(path))
            QMessageBox::warning(this, tr("Export failed"), tr("Cannot write %1.").arg(path));
    })->setToolTip(tr("Export the coordinates with labels as CSV"));
    m_toolBar->addAction(tr(".npy"), this, [this] {
        const QString path = exportPath(QStringLiteral("projection.npy"), tr("NumPy arrays (*.npy)"));
        QString error;
        if (!path.isEmpty() && !exportNpy(path, &error))
            QMessageBox::warning(this, tr("Export failed"), error);
    })->setToolTip(tr("Export the coordinates as a float32 [N, 2] NumPy array"));
    m_toolBar->addAction(tr("PNG"), this, [this] {
        const QString path = exportPath(QStringLiteral("projection.png"), tr("PNG images (*.png)"));
        if (!path.isEmpty() && !exportPng(path))
            QMessageBox::warning(this, tr("Export failed"), tr("Cannot write %1.").arg(path));
    })->setToolTip(tr("Save the view as a PNG image"));

    // The progress goes beside the tools and never widens the dock.
    m_progress->setMinimumWidth(0);
    m_progress->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    m_progress->setWordWrap(true); // on two lines rather than cut
    auto *tools = new QHBoxLayout;
    tools->addWidget(m_toolBar);
    tools->addWidget(m_progress, 1);
    return tools;
}

// The images of the selected points.
QWidget *ExplorerPanel::createSelectionGrid()
{
    m_gridModel = new ThumbnailModel(m_context, this);
    m_grid = new QListView;
    m_grid->setObjectName(QStringLiteral("selectionGrid"));
    m_grid->setViewMode(QListView::IconMode);
    m_grid->setResizeMode(QListView::Adjust);
    m_grid->setMovement(QListView::Static);
    m_grid->setUniformItemSizes(true);
    m_grid->setWordWrap(true);
    m_grid->setGridSize(QSize(100, 92));
    m_grid->setIconSize(QSize(56, 56));
    m_grid->setModel(m_gridModel);
    m_grid->setMinimumHeight(104); // one row of thumbnails at least
    m_grid->setToolTip(tr("Double-click an image to search its nearest neighbours"));
    connect(m_grid, &QListView::activated, this, [this](const QModelIndex &index) {
        Q_EMIT queryRequested(index.data(ThumbnailModel::SubsetRole).toInt(),
                              index.data(ThumbnailModel::IndexRole).toLongLong());
    });
    m_gridLabel = new QLabel(tr("Select points (Shift+drag: rectangle, Ctrl+drag: lasso) to see their images."));
    m_gridLabel->setWordWrap(true);

    auto *gridBox = new QWidget;
    auto *gridLayout = new QVBoxLayout(gridBox);
    gridLayout->setContentsMargins(0, 0, 0, 0);
    gridLayout->addWidget(m_gridLabel);
    gridLayout->addWidget(m_grid);
    return gridBox;
}

QString ExplorerPanel::method() const
{
    return m_methodBox->currentData().toString();
}

void ExplorerPanel::setMethod(const QString &method)
{
    const int index = m_methodBox->findData(method);
    if (index >= 0)
        m_methodBox->setCurrentIndex(index);
}

TsneOptions ExplorerPanel::tsneOptions() const
{
    TsneOptions o;
    o.perplexity = m_perplexityBox->value();
    o.learningRate = m_learningRateBox->value();
    o.iterations = m_iterationsBox->value();
    o.exaggerationIterations = std::min(250, o.iterations / 3);
    o.frameEvery = std::max(1, o.iterations / 150); // ~150 frames: smooth, and cheap to draw
    return o;
}

void ExplorerPanel::setTsneOptions(const TsneOptions &options)
{
    m_perplexityBox->setValue(options.perplexity);
    m_learningRateBox->setValue(options.learningRate);
    m_iterationsBox->setValue(options.iterations);
}

UmapOptions ExplorerPanel::umapOptions() const
{
    UmapOptions o;
    o.neighbors = m_neighborsBox->value();
    o.minDist = m_minDistBox->value();
    o.epochs = m_epochsBox->value();
    o.frameEvery = 2; // 100 to 250 frames
    return o;
}

void ExplorerPanel::setUmapOptions(const UmapOptions &options)
{
    m_neighborsBox->setValue(options.neighbors);
    m_minDistBox->setValue(options.minDist);
    m_epochsBox->setValue(options.epochs);
}

void ExplorerPanel::onRunChanged()
{
    cancel();
    m_projections.clear();
    m_shownStep = -1;
    m_shownMethod.clear();
    m_view->clear();
    m_view->setPlaceholderText(m_context->isLoading() ? tr("Loading the run...")
                               : m_context->hasData()
                                   ? tr("This run has no saved test embedding yet: the trainer writes one at each "
                                        "evaluation (see the Evaluation interval of the experiment).")
                                   : tr("Open a run (or train one) to explore its embedding."));
    m_gridModel->clear();
    m_progress->clear();
    onStepsChanged();
}

void ExplorerPanel::onStepsChanged()
{
    const std::vector<int64_t> &steps = m_context->steps();
    const bool atEnd = m_stepSlider->value() >= m_stepSlider->maximum();
    const QSignalBlocker block(m_stepSlider);
    m_stepSlider->setRange(0, std::max(0, int(steps.size()) - 1));
    m_stepSlider->setEnabled(steps.size() > 1);
    const auto at = std::find(steps.begin(), steps.end(), m_context->step());
    if (at != steps.end())
        m_stepSlider->setValue(int(at - steps.begin()));
    updateStepLabel(m_stepSlider->value());
    // A run being trained: follow its newest evaluation if the user was at the end.
    if (m_context->runData() && !steps.empty() && atEnd && m_context->step() != steps.back()
        && m_context->step() >= 0)
        m_context->setStep(steps.back());
}

void ExplorerPanel::updateStepLabel(int position)
{
    const std::vector<int64_t> &steps = m_context->steps();
    if (position < 0 || size_t(position) >= steps.size()) {
        m_stepLabel->setText(tr("no evaluations"));
        return;
    }
    m_stepLabel->setText(tr("step %1 (%2 of %3)").arg(steps[size_t(position)]).arg(position + 1).arg(steps.size()));
}

void ExplorerPanel::onEmbeddingChanged()
{
    onStepsChanged();
    if (!m_context->hasEmbedding()) {
        cancel();
        return;
    }
    showOrCompute();
}

void ExplorerPanel::showOrCompute()
{
    const int64_t step = m_context->step();
    const QString m = method();
    const QString key = cacheKey(m, step);
    auto cached = m_projections.constFind(key);
    if (cached == m_projections.constEnd() && m_context->runData()) {
        try {
            if (std::optional<Matrix> saved = m_context->runData()->projection(m.toStdString(), step))
                if (saved->rows == m_context->embedding().rows && saved->cols == 2)
                    cached = m_projections.insert(key, *saved);
        } catch (const std::exception &) {
            // An unreadable saved projection is computed again (and replaced).
        }
    }
    if (cached != m_projections.constEnd()) {
        cancel();
        showCoordinates(*cached, step, m, true);
        m_progress->setText(tr("%1 of step %2 (saved)").arg(m_methodBox->currentText()).arg(step));
        return;
    }
    if (!isInSight()) {
        // Out of sight (a tab behind another): t-SNE would only take the
        // training's cores. It starts when the panel is seen.
        cancel();
        m_deferred = true;
        m_progress->setText(tr("Step %1: projected when shown").arg(step));
        return;
    }
    startProjection();
}

void ExplorerPanel::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    setInSight(m_inSight);
}

void ExplorerPanel::setInSight(bool inSight)
{
    m_inSight = inSight;
    if (m_deferred && isInSight() && m_context->hasEmbedding()) {
        m_deferred = false;
        showOrCompute();
    }
}

void ExplorerPanel::rerun()
{
    if (m_context->hasEmbedding())
        startProjection();
}

void ExplorerPanel::startProjection()
{
    m_deferred = false;
    cancel();
    ProjectionRequest request;
    request.id = ++m_nextId;
    request.method = method();
    request.step = m_context->step();
    request.options = tsneOptions();
    request.umap = umapOptions();
    request.data = m_context->embedding();
    m_running = request.id;
    m_runningStep = request.step;
    m_runningMethod = request.method;
    m_followFit = true;
    m_progress->setText(request.method == QLatin1String("pca")
                            ? tr("PCA of %1 points...").arg(request.data.rows)
                            : tr("%1 of %2 points: neighbours and affinities...")
                                  .arg(projectionMethodName(request.method))
                                  .arg(request.data.rows));
    updateButtons();
    Q_EMIT projectionStarted();
    m_worker->request(request);
}

void ExplorerPanel::cancel()
{
    if (m_running == 0)
        return;
    m_worker->cancelUpTo(m_running);
}

bool ExplorerPanel::isWorkerThreadRunning() const
{
    return m_worker->isThreadRunning();
}

void ExplorerPanel::shutdown()
{
    m_worker->shutdown();
}

void ExplorerPanel::showCoordinates(const Matrix &coordinates, int64_t step, const QString &method, bool fit)
{
    if (step != m_shownStep || method != m_shownMethod || m_view->pointCount() != coordinates.rows) {
        const QVector<int> selection = m_view->selection();
        m_view->setData(coordinates, m_context->testLabels(), m_context->classNames());
        QStringList present; // the completions: the classes the view has
        for (const int64_t label : m_view->classes())
            present.append(m_view->className(label));
        if (m_classNameModel->stringList() != present)
            m_classNameModel->setStringList(present);
        applyClassSearch();
        // The same images at another step or in another projection: keep them selected.
        if (!selection.isEmpty())
            m_view->setSelection(selection);
        m_shownStep = step;
        m_shownMethod = method;
        if (!fit)
            return;
    }
    m_view->setCoordinates(coordinates, fit);
}

void ExplorerPanel::applyClassSearch()
{
    const QString text = m_classSearch->text().trimmed();
    const std::vector<int64_t> found = m_view->findClasses(text);
    m_view->setHighlightedClasses(found);
    if (text.isEmpty() || m_view->pointCount() == 0)
        return;
    std::vector<int64_t> sorted = found;
    std::sort(sorted.begin(), sorted.end());
    int64_t points = 0;
    for (const int64_t label : m_view->labels())
        points += std::binary_search(sorted.begin(), sorted.end(), label) ? 1 : 0;
    m_progress->setText(found.empty()       ? tr("No class matches")
                        : found.size() == 1 ? tr("1 class, %1 points").arg(points)
                                            : tr("%1 classes, %2 points").arg(found.size()).arg(points));
}

void ExplorerPanel::onFrame(quint64 id, const ProjectionFrame &frame)
{
    if (id != m_running)
        return; // a superseded run's frame, already queued
    showCoordinates(frame.coordinates, m_runningStep, m_runningMethod, m_followFit);
    QString text = m_runningMethod == QLatin1String("umap")
                       ? tr("UMAP epoch %1 / %2").arg(frame.iteration).arg(frame.iterations)
                       : tr("t-SNE iteration %1 / %2").arg(frame.iteration).arg(frame.iterations);
    if (std::isfinite(frame.klDivergence))
        text += tr(", KL %1").arg(frame.klDivergence, 0, 'f', 3);
    m_progress->setText(text);
    Q_EMIT frameShown(frame.iteration, frame.klDivergence);
}

void ExplorerPanel::onFinished(quint64 id, const ProjectionFrame &frame, bool cancelled)
{
    if (id != m_running)
        return;
    m_running = 0;
    const QString name = projectionMethodName(m_runningMethod);
    if (frame.coordinates.rows > 0)
        showCoordinates(frame.coordinates, m_runningStep, m_runningMethod, m_followFit);
    if (cancelled) {
        m_progress->setText(frame.iteration > 0 ? tr("%1 cancelled at %2 %3")
                                                      .arg(name,
                                                           m_runningMethod == QLatin1String("umap") ? tr("epoch")
                                                                                                    : tr("iteration"))
                                                      .arg(frame.iteration)
                                                : tr("%1 cancelled").arg(name));
    } else {
        m_projections.insert(cacheKey(m_runningMethod, m_runningStep), frame.coordinates);
        QString text = tr("%1 of step %2: %3 points").arg(name).arg(m_runningStep).arg(frame.coordinates.rows);
        if (std::isfinite(frame.klDivergence))
            text += tr(", KL %1").arg(frame.klDivergence, 0, 'f', 3);
        if (const std::shared_ptr<const RunData> run = m_context->runData()) {
            try {
                run->saveProjection(m_runningMethod.toStdString(), m_runningStep, frame.coordinates);
                text += tr(" (saved)");
            } catch (const std::exception &e) {
                text += tr(" (not saved: %1)").arg(QString::fromStdString(e.what()));
            }
        }
        m_progress->setText(text);
    }
    updateButtons();
    Q_EMIT projectionFinished(cancelled);
}

void ExplorerPanel::onFailed(quint64 id, const QString &message)
{
    if (id != m_running)
        return;
    m_running = 0;
    m_progress->setText(tr("Projection failed: %1").arg(message));
    updateButtons();
    Q_EMIT projectionFinished(true);
}

void ExplorerPanel::updateButtons()
{
    for (QWidget *field : m_tsneFields)
        field->setVisible(method() == QLatin1String("tsne"));
    for (QWidget *field : m_umapFields)
        field->setVisible(method() == QLatin1String("umap"));
    m_cancelButton->setEnabled(m_running != 0);
}

void ExplorerPanel::onSelection(const QVector<int> &indices)
{
    std::vector<ThumbnailModel::Item> items;
    items.reserve(size_t(indices.size()));
    for (int i : indices) {
        ThumbnailModel::Item item;
        item.subset = Subset::Test;
        item.index = i;
        item.label = m_context->label(Subset::Test, i);
        items.push_back(item);
    }
    m_gridModel->setItems(std::move(items));
    m_gridLabel->setText(indices.isEmpty() ? tr("Nothing selected.")
                                           : tr("%1 selected test images (double-click one to search its neighbours)")
                                                 .arg(indices.size()));
}

bool ExplorerPanel::exportCsv(const QString &path) const
{
    const Matrix &c = m_view->coordinates();
    if (c.rows == 0)
        return false;
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text))
        return false;
    QTextStream out(&file);
    out << "index,x,y,label,class\n";
    for (int64_t i = 0; i < c.rows; ++i) {
        const int64_t label = m_view->labels()[size_t(i)];
        QString name = m_context->className(label);
        name.replace(QLatin1Char('"'), QStringLiteral("\"\""));
        out << i << ',' << QString::number(c.values[size_t(2 * i)], 'g', 8) << ','
            << QString::number(c.values[size_t(2 * i + 1)], 'g', 8) << ',' << label << ",\"" << name << "\"\n";
    }
    out.flush();
    return file.error() == QFile::NoError;
}

bool ExplorerPanel::exportNpy(const QString &path, QString *error) const
{
    const Matrix &c = m_view->coordinates();
    try {
        if (c.rows == 0)
            throw std::runtime_error(tr("There is no projection to export.").toStdString());
        writeNpy(path.toStdString(), npyFromFloats({c.rows, 2}, c.values.data()));
    } catch (const std::exception &e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
    return true;
}

bool ExplorerPanel::exportPng(const QString &path) const
{
    return m_view->grab().save(path, "PNG");
}

QString ExplorerPanel::exportPath(const QString &suggested, const QString &filter)
{
    const QString folder = m_context->runPath().isEmpty() ? QDir::homePath() : m_context->runPath();
    QString name = suggested;
    if (m_shownStep >= 0)
        name.replace(QStringLiteral("projection"), QStringLiteral("%1-%2").arg(m_shownMethod).arg(m_shownStep));
    return QFileDialog::getSaveFileName(this, tr("Export"), QDir(folder).filePath(name), filter);
}

} // namespace liftlab
