#include "compare/comparisonwindow.h"

#include "charts/colormap.h"
#include "charts/losschart.h"
#include "charts/metricschart.h"
#include "compare/comparisonembeddings.h"
#include "compare/comparisonheatmaps.h"
#include "compare/comparisonretrieval.h"
#include "compare/comparisonsession.h"
#include "compare/comparisontablemodel.h"
#include "error.h"
#include "experiment/experimentpanel.h"
#include "experiment/lossform.h"
#include "explorer/explorercontext.h"
#include "shell/logpanel.h"
#include "shell/workspace.h"
#include "train/rundirectory.h"
#include "training/runactions.h"
#include "util/atomicfile.h"
#include "widgets/flowlayout.h"
#include "widgets/screenfit.h"

#include <QAction>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QScreen>
#include <QScrollArea>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QTableView>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>
#include <optional>

namespace liftlab {

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

} // namespace

ComparisonWindow::ComparisonWindow(ExperimentPanel *experiment, QWidget *parent)
    : QMainWindow(parent)
    , m_experiment(experiment)
    , m_session(new ComparisonSession(this))
{
    setObjectName(QStringLiteral("comparisonWindow"));
    setWindowTitle(tr("LiftLab - Compare losses"));
    registerUiMetaTypes();
    m_workspace = defaultWorkspace();

    m_log = new LogPanel;
    m_log->setObjectName(QStringLiteral("comparisonLog"));
    m_heatmaps = new ComparisonHeatmaps;
    m_heatmaps->setObjectName(QStringLiteral("comparisonHeatmaps"));
    m_embeddings = new ComparisonEmbeddings;
    m_embeddings->setObjectName(QStringLiteral("comparisonEmbeddings"));
    m_retrieval = new ComparisonRetrieval;
    m_retrieval->setObjectName(QStringLiteral("comparisonRetrieval"));
    m_tabs = new QTabWidget;
    m_tabs->setObjectName(QStringLiteral("comparisonTabs"));
    m_tabs->addTab(createOverview(), tr("Curves and results"));
    m_tabs->addTab(m_heatmaps, tr("Batch heatmaps"));
    m_tabs->addTab(m_embeddings, tr("Embeddings (t-SNE)"));
    m_tabs->addTab(m_retrieval, tr("Retrieval"));
    setCentralWidget(m_tabs);

    auto *setupDock = new QDockWidget(tr("Losses to compare"), this);
    setupDock->setObjectName(QStringLiteral("comparisonSetupDock"));
    setupDock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
    setupDock->setWidget(createSetup());
    addDockWidget(Qt::LeftDockWidgetArea, setupDock);
    auto *logDock = new QDockWidget(tr("Log"), this);
    logDock->setObjectName(QStringLiteral("comparisonLogDock"));
    logDock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
    logDock->setWidget(m_log);
    if (screen()->availableSize().height() >= 800) {
        addDockWidget(Qt::BottomDockWidgetArea, logDock);
        resizeDocks({logDock}, {110}, Qt::Vertical);
    } else { // a laptop: the charts need the height
        tabifyDockWidget(setupDock, logDock);
        setupDock->raise();
    }
    createActions();

    connect(m_session, &ComparisonSession::started, this, [this](const QStringList &) {
        m_log->appendMessage(tr("Training %1 runs in turns of a few steps each.").arg(m_forms.size()));
    });
    connect(m_session, &ComparisonSession::stepsReady, this, &ComparisonWindow::onSteps);
    connect(m_session, &ComparisonSession::evaluating, this, [this](int run, qint64 step) {
        if (m_comparison)
            m_progressLabel->setText(tr("evaluating %1 at step %2...")
                                         .arg(q(m_comparison->losses().at(size_t(run)).label))
                                         .arg(step));
    });
    connect(m_session, &ComparisonSession::evalReady, this, &ComparisonWindow::onEval);
    connect(m_session, &ComparisonSession::snapshotReady, m_heatmaps, &ComparisonHeatmaps::addFrame);
    showSessionReports(m_session, m_log, m_progressLabel, this);
    connect(m_session, &ComparisonSession::runFailed, this, [this](int run, const QString &message) {
        m_heatmaps->setRunEnded(run);
        if (size_t(run) < m_evalStep.size())
            m_evalStep[size_t(run)] = -1;
        const QString label = m_comparison ? q(m_comparison->losses().at(size_t(run)).label) : QString::number(run + 1);
        m_log->appendError(tr("%1: %2").arg(label, message));
        showError(tr("A run of the comparison failed"),
                  tr("%1 stopped: %2\nThe other losses go on.").arg(label, message));
    });
    connect(m_session, &ComparisonSession::pausedChanged, this, [this](bool paused) {
        m_log->appendMessage(paused ? tr("Paused.") : tr("Resumed."));
    });
    connect(m_session, &ComparisonSession::finished, this, &ComparisonWindow::onFinished);
    connect(m_session, &ComparisonSession::failed, this, [this](const QString &message) {
        m_log->appendError(message);
        if (!QFileInfo::exists(m_folder)) // nothing was trained: the folder went again
            showComparison(std::nullopt);
        m_progressLabel->setText(tr("failed"));
        showError(tr("The comparison failed"), message);
        Q_EMIT comparisonEnded(m_folder);
    });
    connect(m_session, &ComparisonSession::stateChanged, this, &ComparisonWindow::updateActions);
    connect(m_embeddings, &ComparisonEmbeddings::queryRequested, this, [this](qint64 index) {
        m_retrieval->setQueryIndex(index);
    });
    if (m_experiment)
        connect(m_experiment, &ExperimentPanel::configChanged, this, [this] {
            updateBaseSummary();
            updateActions();
        });

    setLosses({{"lifted", {}, "lifted"}, {"contrastive", {}, "contrastive"}, {"triplet", {}, "triplet"}});
    fitToScreen(this, QSize(1600, 1000), screen()->availableSize());
}

ComparisonWindow::~ComparisonWindow()
{
    // Stop the runs before the widgets their signals feed go away, and let
    // the views go of the runs' contexts before those are deleted.
    shutdown();
    m_embeddings->setRuns({}, {});
    m_retrieval->setRuns({}, {});
}

QWidget *ComparisonWindow::createSetup()
{
    m_baseSummary = new QLabel;
    m_baseSummary->setObjectName(QStringLiteral("baseSummary"));
    m_baseSummary->setWordWrap(true);
    m_validation = new QLabel;
    m_validation->setObjectName(QStringLiteral("comparisonValidation"));
    m_validation->setWordWrap(true);
    m_validation->setStyleSheet(QStringLiteral("color: #c62828;"));
    m_validation->hide();
    m_addButton = new QPushButton(style()->standardIcon(QStyle::SP_FileDialogNewFolder), tr("Add a loss"));
    m_addButton->setObjectName(QStringLiteral("addLossButton"));
    connect(m_addButton, &QPushButton::clicked, this, &ComparisonWindow::addLoss);

    auto *forms = new QWidget;
    m_formsLayout = new QVBoxLayout(forms);
    m_formsLayout->setContentsMargins(4, 4, 4, 4);
    m_formsLayout->addWidget(m_addButton, 0, Qt::AlignLeft);
    m_formsLayout->addStretch(1);
    auto *scroll = new QScrollArea;
    scroll->setWidget(forms);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setMinimumWidth(280);

    m_setup = new QWidget;
    auto *layout = new QVBoxLayout(m_setup);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(m_baseSummary);
    layout->addWidget(m_validation);
    layout->addWidget(scroll, 1);
    return m_setup;
}

QWidget *ComparisonWindow::createOverview()
{
    m_lossChart = new LossChart;
    m_lossChart->setObjectName(QStringLiteral("comparisonLossChart"));
    m_metricsChart = new MetricsChart;
    m_metricsChart->setObjectName(QStringLiteral("comparisonMetricsChart"));
    m_lossChart->setRuns({}); // until a comparison starts or opens
    m_lossChart->setPlaceholderText(tr("The training loss of each compared loss appears here: press Start comparison, "
                                       "or open a comparison."));
    m_metricsChart->setRuns({});

    m_table = new ComparisonTableModel(this);
    m_table->setObjectName(QStringLiteral("comparisonTableModel"));
    m_sortedTable = new QSortFilterProxyModel(this);
    m_sortedTable->setSourceModel(m_table);
    m_sortedTable->setSortRole(ComparisonTableModel::SortRole);
    m_tableView = new QTableView;
    m_tableView->setObjectName(QStringLiteral("comparisonTable"));
    m_tableView->setModel(m_sortedTable);
    m_tableView->setSortingEnabled(true);
    m_tableView->sortByColumn(-1, Qt::AscendingOrder); // comparison order until a header is clicked
    m_tableView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_tableView->setAlternatingRowColors(true);
    m_tableView->verticalHeader()->hide();
    m_tableView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_tableView->horizontalHeader()->setStretchLastSection(true);
    m_folderLabel = new QLabel;
    m_folderLabel->setObjectName(QStringLiteral("comparisonFolderLabel"));
    m_folderLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *csv = new QPushButton(tr("Export CSV..."));
    connect(csv, &QPushButton::clicked, this, [this] { exportDialog(false); });
    auto *markdown = new QPushButton(tr("Export Markdown..."));
    connect(markdown, &QPushButton::clicked, this, [this] { exportDialog(true); });
    auto *tableTitle = new QLabel(tr("<b>Results</b>"));
    tableTitle->setToolTip(tr("The last evaluation of each run; click a header to sort"));
    auto *tableBar = new FlowLayout;
    tableBar->addWidget(tableTitle);
    tableBar->addWidget(m_folderLabel);
    tableBar->addWidget(csv);
    tableBar->addWidget(markdown);
    auto *results = new QWidget;
    auto *resultsLayout = new QVBoxLayout(results);
    resultsLayout->setContentsMargins(2, 2, 2, 2);
    resultsLayout->addLayout(tableBar);
    resultsLayout->addWidget(m_tableView, 1);

    auto *charts = new QSplitter(Qt::Horizontal);
    charts->addWidget(m_lossChart);
    charts->addWidget(m_metricsChart);
    auto *overview = new QSplitter(Qt::Vertical);
    overview->setObjectName(QStringLiteral("comparisonOverview"));
    overview->addWidget(charts);
    overview->addWidget(results);
    overview->setStretchFactor(0, 3);
    overview->setStretchFactor(1, 1);
    return overview;
}

void ComparisonWindow::createActions()
{
    QStyle *s = style();
    m_runActions = new RunActions(QStringLiteral("Comparison"), m_session, this);
    connect(m_runActions, &RunActions::message, m_log, &LogPanel::appendMessage);
    m_runActions->start()->setText(tr("&Start comparison"));
    m_runActions->start()->setToolTip(tr("Train every loss on the experiment of the main window: same data, "
                                         "initialisation and batches, in turns"));
    connect(m_runActions->start(), &QAction::triggered, this, &ComparisonWindow::startComparison);
    m_runActions->stop()->setToolTip(tr("Stop after the current batch; every run keeps a checkpoint"));
    m_openAction = new QAction(s->standardIcon(QStyle::SP_DialogOpenButton), tr("&Open comparison..."), this);
    m_openAction->setObjectName(QStringLiteral("openComparisonAction"));
    connect(m_openAction, &QAction::triggered, this, &ComparisonWindow::openDialog);

    QToolBar *bar = addToolBar(tr("Comparison"));
    bar->setObjectName(QStringLiteral("comparisonToolBar"));
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->addAction(m_runActions->start());
    bar->addAction(m_runActions->pause());
    bar->addAction(m_runActions->stop());
    bar->addSeparator();
    bar->addAction(m_openAction);
    m_progressLabel = new QLabel;
    m_progressLabel->setObjectName(QStringLiteral("comparisonProgress"));
    statusBar()->addPermanentWidget(m_progressLabel);
}

void ComparisonWindow::setLosses(const std::vector<LossChoice> &losses)
{
    for (LossForm *form : m_forms)
        delete form->parentWidget(); // its group box
    m_forms.clear();
    for (const LossChoice &choice : losses) {
        addLoss();
        m_forms.back()->setLoss(choice.name, choice.params);
    }
    updateActions();
}

std::vector<LossChoice> ComparisonWindow::losses() const
{
    std::vector<LossChoice> choices;
    for (const LossForm *form : m_forms) {
        LossChoice c;
        c.name = form->loss();
        c.params = form->params();
        c.label = lossLabel(c.name, c.params);
        choices.push_back(c);
    }
    return choices;
}

void ComparisonWindow::addLoss()
{
    if (lossCount() >= kMaxLosses)
        return;
    auto *group = new QGroupBox;
    auto *form = new LossForm;
    // A new row differs from the others: the first registered loss not compared yet.
    const std::vector<LossChoice> current = losses();
    for (int i = 0; i < form->lossBox()->count(); ++i) {
        const std::string name = form->lossBox()->itemData(i).toString().toStdString();
        if (std::none_of(current.begin(), current.end(), [&](const LossChoice &c) { return c.name == name; })) {
            form->setLoss(name, {});
            break;
        }
    }
    auto *remove = new QToolButton;
    remove->setIcon(style()->standardIcon(QStyle::SP_DialogDiscardButton));
    remove->setToolTip(tr("Remove this loss from the comparison"));
    remove->setObjectName(QStringLiteral("removeLossButton"));
    connect(remove, &QToolButton::clicked, this, [this, form] { removeLoss(form); });
    auto *row = new QHBoxLayout;
    auto *swatch = new QLabel;
    row->addWidget(swatch);
    row->addWidget(form, 1);
    row->addWidget(remove, 0, Qt::AlignTop);
    group->setLayout(row);
    m_formsLayout->insertWidget(m_formsLayout->indexOf(m_addButton), group);
    m_forms.push_back(form);
    connect(form, &LossForm::changed, this, &ComparisonWindow::updateActions);
    updateActions();
}

void ComparisonWindow::removeLoss(LossForm *form)
{
    const auto it = std::find(m_forms.begin(), m_forms.end(), form);
    if (it == m_forms.end())
        return;
    m_forms.erase(it);
    form->parentWidget()->deleteLater();
    updateActions();
}

QString ComparisonWindow::validationError() const
{
    const int n = lossCount();
    if (n < kMinLosses || n > kMaxLosses)
        return tr("A comparison takes %1 to %2 losses (there are %3).").arg(kMinLosses).arg(kMaxLosses).arg(n);
    const QString base = m_experiment ? m_experiment->validationError() : tr("There is no base experiment.");
    if (!base.isEmpty())
        return tr("The experiment in the main window is not valid: %1").arg(base);
    try {
        validateComparison(m_experiment->config(), losses());
    } catch (const Error &e) {
        return sentence(e.what());
    }
    return {};
}

void ComparisonWindow::updateActions()
{
    const bool running = m_session->isRunning();
    const QString error = running ? QString() : validationError();
    m_validation->setText(error);
    m_validation->setVisible(!error.isEmpty());
    // Start stays enabled with an error: pressing it says what is wrong.
    m_runActions->update();
    m_openAction->setEnabled(!running);
    m_addButton->setEnabled(!running && lossCount() < kMaxLosses);
    for (LossForm *form : m_forms)
        form->parentWidget()->setEnabled(!running);
    for (int i = 0; i < lossCount(); ++i) {
        auto *group = static_cast<QGroupBox *>(m_forms[size_t(i)]->parentWidget());
        group->setTitle(tr("Loss %1").arg(i + 1));
        if (auto *swatch = group->findChild<QLabel *>(QString(), Qt::FindDirectChildrenOnly))
            swatch->setText(QStringLiteral("<b style='color:%1; font-size:large'>&#9632;</b>")
                                .arg(runColour(i).name()));
    }
    updateBaseSummary();
}

void ComparisonWindow::updateBaseSummary()
{
    if (!m_experiment)
        return;
    // While a comparison trains, its own experiment; else the one Start would use.
    const bool running = m_session->isRunning() && m_comparison;
    const ExperimentConfig c = running ? m_comparison->base() : m_experiment->config();
    m_baseSummary->setText((running ? tr("<b>Training on</b>") : tr("<b>Base experiment</b> (the main window's "
                                                                    "Experiment panel)"))
                           + tr(": %1, %2 split, %3 "
                              "(d = %4), P x K = %5 x %6, %7 steps, evaluation every %8, seed %9. Every loss "
                              "starts from the same network and sees the same batches.")
                               .arg(q(c.dataset), q(c.split), q(c.model))
                               .arg(c.embeddingDim)
                               .arg(c.classesPerBatch)
                               .arg(c.perClass)
                               .arg(c.iterations)
                               .arg(c.evalEvery > 0 ? tr("%1 steps").arg(c.evalEvery) : tr("(end only)"))
                               .arg(c.seed));
}

void ComparisonWindow::startComparison()
{
    if (m_session->isRunning())
        return;
    const QString invalid = validationError();
    if (!invalid.isEmpty()) {
        showError(tr("Cannot start the comparison"), invalid);
        return;
    }
    if (!QDir().mkpath(m_workspace)) {
        showError(tr("Cannot start the comparison"), tr("Cannot create the workspace folder %1.").arg(m_workspace));
        return;
    }
    const QString folder = newRunPath(m_workspace, QStringLiteral("compare"));
    try {
        const Comparison comparison = Comparison::create(folder.toStdString(), m_experiment->config(), losses());
        m_experiment->saveSettings();
        showComparison(comparison);
    } catch (const Error &e) {
        showError(tr("Cannot start the comparison"), sentence(e.what()));
        return;
    }
    m_log->appendMessage(tr("Comparison folder: %1").arg(folder));
    m_progressLabel->setText(tr("loading..."));
    m_tabs->setCurrentIndex(0);
    m_session->start(folder);
}

void ComparisonWindow::showComparison(const std::optional<Comparison> &comparison)
{
    m_comparison.reset();
    if (comparison)
        m_comparison = std::make_unique<Comparison>(*comparison);
    m_folder = comparison ? q(comparison->folder()) : QString();
    QStringList labels;
    if (comparison)
        for (const LossChoice &c : comparison->losses())
            labels.append(q(c.label));
    m_runStep.assign(size_t(labels.size()), 0);
    m_divergence.assign(size_t(labels.size()), DivergenceWatch());
    m_evalStep.assign(size_t(labels.size()), 0);
    m_lossChart->setRuns(labels);
    m_metricsChart->setRuns(labels);
    m_metricsChart->setIterations(comparison ? comparison->base().iterations : 0);
    m_heatmaps->setRuns(labels);
    // The views let go of the old runs' contexts before those are deleted.
    m_embeddings->setRuns({}, {});
    m_retrieval->setRuns({}, {});
    m_contexts.clear();
    std::vector<ExplorerContext *> contexts;
    for (int i = 0; i < labels.size(); ++i) {
        m_contexts.push_back(std::make_unique<ExplorerContext>());
        contexts.push_back(m_contexts.back().get());
    }
    if (!contexts.empty()) // every run has the same dataset
        connect(contexts.front(), &ExplorerContext::runChanged, m_heatmaps,
                [this, first = contexts.front()] { m_heatmaps->completeFrames(*first); });
    m_embeddings->setRuns(labels, contexts);
    m_retrieval->setRuns(labels, contexts);
    m_table->setRows(m_comparison ? comparisonResults(*m_comparison) : std::vector<ComparisonRow>());
    m_folderLabel->setText(QDir::toNativeSeparators(m_folder));
    setWindowTitle(m_comparison ? tr("LiftLab - Compare losses - %1").arg(QFileInfo(m_folder).fileName())
                                : tr("LiftLab - Compare losses"));
    if (m_comparison) {
        const ExperimentConfig &b = m_comparison->base();
        m_log->appendMessage(tr("Comparison %1: %2 losses on %3 (%4 split), %5, %6 steps, seed %7.")
                                 .arg(QFileInfo(m_folder).fileName())
                                 .arg(labels.size())
                                 .arg(q(b.dataset), q(b.split), q(b.model))
                                 .arg(b.iterations)
                                 .arg(b.seed));
    }
}

bool ComparisonWindow::openComparison(const QString &folder)
{
    if (m_session->isRunning()) {
        showError(tr("Cannot open the comparison"), tr("A comparison is training: stop it first."));
        return false;
    }
    std::unique_ptr<Comparison> comparison;
    try {
        comparison = std::make_unique<Comparison>(Comparison::open(folder.toStdString()));
    } catch (const Error &e) {
        showError(tr("Cannot open the comparison"), sentence(e.what()));
        return false;
    }
    showComparison(*comparison);
    setLosses(comparison->losses());
    updateBaseSummary();
    // Each run from its files; a run stopped before it started has none.
    for (size_t i = 0; i < comparison->losses().size(); ++i) {
        const RunFiles run(comparison->runPath(i));
        const int index = int(i);
        m_lossChart->setSteps(RunDirectory::readSteps(run.metrics()), index);
        m_metricsChart->setReports(RunDirectory::readEvals(run.evals()), index);
        SnapshotFrame frame;
        frame.snapshot = RunDirectory::readSnapshot(run.snapshot());
        if (frame.snapshot.size > 0)
            m_heatmaps->addFrame(index, frame);
        m_heatmaps->setRunEnded(index);
    }
    m_log->appendMessage(tr("Opened the comparison %1.").arg(folder));
    if (comparison->seeds() > 1)
        m_log->appendMessage(tr("It was trained with %1 seeds: the curves and heatmaps show seed %2, the table every run.")
                                 .arg(comparison->seeds())
                                 .arg(comparison->base().seed));
    m_progressLabel->clear();
    openRunsForExploring();
    return true;
}

void ComparisonWindow::openRunsForExploring()
{
    if (!m_comparison)
        return;
    for (size_t i = 0; i < m_contexts.size(); ++i)
        m_contexts[i]->openRun(q(m_comparison->runPath(i)));
    m_embeddings->compute();
}

void ComparisonWindow::refreshTable()
{
    if (m_comparison)
        m_table->setRows(comparisonResults(*m_comparison));
}

void ComparisonWindow::onSteps(int run, const QVector<TrainingStep> &steps)
{
    if (steps.isEmpty() || size_t(run) >= m_runStep.size())
        return;
    m_lossChart->appendSteps(steps, run);
    m_runStep[size_t(run)] = steps.back().step;
    for (const TrainingStep &s : steps)
        if (const std::string warning = m_divergence[size_t(run)].add(s.step, s.loss); !warning.empty())
            m_log->appendError(tr("Warning: %1: %2.")
                                   .arg(m_comparison ? q(m_comparison->losses().at(size_t(run)).label) : QString(),
                                        QString::fromStdString(warning)));
    m_progressLabel->setText(tr("step %1 / %2")
                                 .arg(*std::min_element(m_runStep.begin(), m_runStep.end()))
                                 .arg(steps.back().iterations));
}

void ComparisonWindow::onEval(int run, const EvalReport &report)
{
    m_metricsChart->appendReport(report, run);
    // Once every run still training has evaluated this step, t-SNE and
    // retrieval show its embeddings (the last step's when the runs end).
    if (size_t(run) < m_evalStep.size()) {
        m_evalStep[size_t(run)] = report.step;
        const bool roundComplete = std::all_of(m_evalStep.begin(), m_evalStep.end(),
                                               [&](int64_t s) { return s < 0 || s >= report.step; });
        if (roundComplete && m_comparison && report.step < m_comparison->base().iterations)
            openRunsForExploring();
    }
    // The table's row from the report itself: the run's files may not be flushed yet.
    std::vector<ComparisonRow> rows = m_table->rows();
    if (size_t(run) < rows.size()) {
        rows[size_t(run)].step = report.step;
        rows[size_t(run)].metrics = report.metrics;
        m_table->setRows(rows);
    }
    if (m_comparison)
        m_log->appendMessage(tr("%1, step %2: Recall@1 %3, MAP@R %4")
                                 .arg(q(m_comparison->losses().at(size_t(run)).label))
                                 .arg(report.step)
                                 .arg(report.metrics.recallAt1, 0, 'f', 4)
                                 .arg(report.metrics.mapAtR, 0, 'f', 4));
}

void ComparisonWindow::onFinished(bool cancelled)
{
    refreshTable();
    if (cancelled) {
        m_log->appendMessage(tr("Stopped; every run keeps its checkpoint in %1.").arg(m_folder));
    } else {
        m_log->appendMessage(tr("Finished: %1 and %2 are in %3.")
                                 .arg(QLatin1String(Comparison::resultsFileName(Comparison::Results::Csv)),
                                      QLatin1String(Comparison::resultsFileName(Comparison::Results::Markdown)),
                                      m_folder));
    }
    m_progressLabel->setText(cancelled ? tr("stopped") : tr("done"));
    openRunsForExploring();
    Q_EMIT comparisonEnded(m_folder);
}

void ComparisonWindow::shutdown()
{
    m_session->shutdown();
    m_embeddings->shutdown();
}

void ComparisonWindow::closeEvent(QCloseEvent *event)
{
    if (m_session->isRunning()) {
        m_log->appendMessage(tr("Stopping the comparison before closing..."));
        hide();
        // Every run saves a checkpoint; the thread is started again by the next comparison.
        m_session->shutdown();
    }
    m_embeddings->cancel();
    event->accept();
}

void ComparisonWindow::showError(const QString &title, const QString &message)
{
    showErrorDialog(this, m_errorBox, title, message);
}

void ComparisonWindow::openDialog()
{
    const QString folder = QFileDialog::getExistingDirectory(this, tr("Open comparison"), m_workspace);
    if (!folder.isEmpty())
        openComparison(folder);
}

bool ComparisonWindow::exportCsv(const QString &path)
{
    try {
        writeFileAtomically(path.toStdString(), comparisonCsv(m_table->rows()));
        return true;
    } catch (const Error &e) {
        showError(tr("Export failed"), sentence(e.what()));
        return false;
    }
}

bool ComparisonWindow::exportMarkdown(const QString &path)
{
    try {
        writeFileAtomically(path.toStdString(), comparisonMarkdown(m_table->rows()));
        return true;
    } catch (const Error &e) {
        showError(tr("Export failed"), sentence(e.what()));
        return false;
    }
}

void ComparisonWindow::exportDialog(bool markdown)
{
    const QString name = QLatin1String(
        Comparison::resultsFileName(markdown ? Comparison::Results::Markdown : Comparison::Results::Csv));
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export results"), QDir(m_folder.isEmpty() ? m_workspace : m_folder).filePath(name),
        markdown ? tr("Markdown (*.md)") : tr("CSV files (*.csv)"));
    if (path.isEmpty())
        return;
    if (markdown ? exportMarkdown(path) : exportCsv(path))
        m_log->appendMessage(tr("Exported %1").arg(path));
}

} // namespace liftlab
