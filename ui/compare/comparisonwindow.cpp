#include "compare/comparisonwindow.h"

#include "charts/bandchart.h"
#include "charts/colormap.h"
#include "charts/losschart.h"
#include "charts/metricschart.h"
#include "compare/comparisonembeddings.h"
#include "compare/comparisonheatmaps.h"
#include "compare/comparisonretrieval.h"
#include "compare/comparisonsession.h"
#include "compare/comparisontablemodel.h"
#include "compare/tuningview.h"
#include "error.h"
#include "experiment/experimentpanel.h"
#include "experiment/lossform.h"
#include "explorer/explorercontext.h"
#include "shell/logpanel.h"
#include "shell/workspace.h"
#include "train/rundirectory.h"
#include "training/runactions.h"
#include "util/movingaverage.h"
#include "util/atomicfile.h"
#include "widgets/flowlayout.h"
#include "widgets/screenfit.h"

#include <QAction>
#include <QCheckBox>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QScreen>
#include <QScrollArea>
#include <QSpinBox>
#include <QStandardItemModel>
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
#include <cmath>
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
    m_tabs->addTab(m_embeddings, tr("Embeddings"));
    m_tabs->addTab(m_retrieval, tr("Retrieval"));
    m_tuningView = new TuningView;
    m_tuningView->setObjectName(QStringLiteral("tuningView"));
    m_tabs->addTab(m_tuningView, tr("Tuning"));
    m_sweepChart = new BandChart;
    m_sweepChart->setObjectName(QStringLiteral("sweepChart"));
    m_sweepChart->setLogX(true);
    m_sweepChart->setUnitY(true);
    m_sweepChart->setPlaceholderText(tr("Pick a sweep in Study (embedding size or batch size) and press Start: each "
                                        "loss's test metric against the swept value appears here."));
    m_sweepMetric = new QComboBox;
    m_sweepMetric->setObjectName(QStringLiteral("sweepMetricBox"));
    for (const char *metric : {"Recall@1", "Recall@2", "Recall@4", "Recall@8", "MAP@R", "NMI"})
        m_sweepMetric->addItem(tr(metric));
    m_sweepMetric->addItem(tr("Recall@1, 2, 4 and 8 (the paper's figure)"));
    connect(m_sweepMetric, &QComboBox::currentIndexChanged, this, &ComparisonWindow::refreshSeedViews);
    m_sweepTab = new QWidget;
    auto *sweepLayout = new QVBoxLayout(m_sweepTab);
    sweepLayout->setContentsMargins(2, 2, 2, 2);
    auto *sweepBar = new QHBoxLayout;
    sweepBar->addWidget(new QLabel(tr("Test metric (mean and 95% interval over the seeds):")));
    sweepBar->addWidget(m_sweepMetric);
    sweepBar->addStretch(1);
    sweepLayout->addLayout(sweepBar);
    sweepLayout->addWidget(m_sweepChart, 1);
    m_tabs->addTab(m_sweepTab, tr("Sweep"));
    setCentralWidget(m_tabs);
    m_bandTimer.setSingleShot(true);
    m_bandTimer.setInterval(400);
    connect(&m_bandTimer, &QTimer::timeout, this, &ComparisonWindow::refreshSeedViews);

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
        m_log->appendMessage(tr("Training %1 runs in turns of a few steps each.")
                                 .arg(m_comparison ? int(m_comparison->runCount()) : lossCount()));
    });
    connect(m_session, &ComparisonSession::stepsReady, this, &ComparisonWindow::onSteps);
    connect(m_session, &ComparisonSession::evaluating, this, [this](int run, qint64 step) {
        if (m_comparison)
            m_progressLabel->setText(tr("evaluating %1 at step %2...")
                                         .arg(q(m_comparison->runLabel(size_t(run))))
                                         .arg(step));
    });
    connect(m_session, &ComparisonSession::evalReady, this, &ComparisonWindow::onEval);
    connect(m_session, &ComparisonSession::snapshotReady, m_heatmaps, &ComparisonHeatmaps::addFrame);
    showSessionReports(m_session, m_log, m_progressLabel, this);
    connect(m_session, &ComparisonSession::runFailed, this, [this](int run, const QString &message) {
        m_heatmaps->setRunEnded(run);
        if (size_t(run) < m_evalStep.size())
            m_evalStep[size_t(run)] = -1;
        const QString label = m_comparison ? q(m_comparison->runLabel(size_t(run))) : QString::number(run + 1);
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
    connect(m_session, &ComparisonSession::trialScored, m_tuningView, &TuningView::addResult);
    connect(m_session, &ComparisonSession::lossTuned, this, [this](int loss, int trial) {
        m_tuningView->setChosen(loss, trial);
        m_log->appendMessage(tr("Tuned loss %1: trial %2.").arg(loss + 1).arg(trial + 1));
    });
    connect(m_session, &ComparisonSession::testStarting, this, [this](const QString &folder) {
        try {
            const QString tuning = m_folder;
            showComparison(Comparison::open(folder.toStdString()));
            m_folder = tuning; // what ends is the tuning
            m_log->appendMessage(tr("Every loss is tuned: training the tuned losses on all training classes and "
                                    "testing them on the test classes (%1).").arg(folder));
        } catch (const Error &e) {
            m_log->appendError(QString::fromStdString(e.what()));
        }
    });
    connect(m_embeddings, &ComparisonEmbeddings::queryRequested, this, [this](qint64 index) {
        m_retrieval->setQueryIndex(index);
    });
    if (m_experiment)
        connect(m_experiment, &ExperimentPanel::configChanged, this, [this] {
            updateBaseSummary();
            updateActions();
        });

    setLosses({{"lifted", {}, "lifted", {}}, {"contrastive", {}, "contrastive", {}}, {"triplet", {}, "triplet", {}}});
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
    layout->addWidget(createStudy());
    layout->addWidget(m_validation);
    layout->addWidget(scroll, 1);
    return m_setup;
}

QWidget *ComparisonWindow::createStudy()
{
    m_seedsBox = new QSpinBox;
    m_seedsBox->setObjectName(QStringLiteral("seedsBox"));
    m_seedsBox->setRange(1, 10);
    m_seedsBox->setToolTip(tr("Train every loss with this many seeds (other initial weights and batch order, the same "
                              "for every loss): curves and results become means with 95% confidence intervals, and "
                              "losses whose intervals overlap the best one are marked tied"));
    m_presetBox = new QComboBox;
    m_presetBox->setObjectName(QStringLiteral("presetBox"));
    m_presetBox->addItem(tr("The losses side by side"), QString());
    m_presetBox->addItem(tr("Recall@K against embedding size (64-512)"), QStringLiteral("embedding-size"));
    m_presetBox->addItem(tr("Batch size: 8-64 classes per batch"), QStringLiteral("batch-size"));
    m_presetBox->setToolTip(tr("The paper's questions as ready experiments: every loss is trained once per swept "
                               "value and the Sweep tab plots the results"));
    connect(m_presetBox, &QComboBox::currentIndexChanged, this, &ComparisonWindow::applyPreset);
    m_tuneBox = new QCheckBox(tr("Tune each loss first"));
    m_tuneBox->setObjectName(QStringLiteral("tuneBox"));
    m_tuneBox->setToolTip(tr("Before the comparison, tune each loss's learning rate and margin or scale with the same "
                             "budget of trials (successive halving) on validation classes held out from the training "
                             "classes; the test classes stay unseen until the tuned losses are compared"));
    m_trialsBox = new QSpinBox;
    m_trialsBox->setObjectName(QStringLiteral("trialsBox"));
    m_trialsBox->setRange(2, 256);
    m_trialsBox->setValue(16);
    m_trialsBox->setSuffix(tr(" trials"));
    m_validationBox = new QSpinBox;
    m_validationBox->setObjectName(QStringLiteral("validationBox"));
    m_validationBox->setRange(5, 50);
    m_validationBox->setValue(20);
    m_validationBox->setSuffix(tr("% validation"));
    m_validationBox->setToolTip(tr("Share of the training classes held out to tune on"));
    for (QWidget *w : {static_cast<QWidget *>(m_trialsBox), static_cast<QWidget *>(m_validationBox)})
        w->setEnabled(false);
    connect(m_tuneBox, &QCheckBox::toggled, this, [this](bool on) {
        m_trialsBox->setEnabled(on);
        m_validationBox->setEnabled(on);
        updateActions();
    });
    for (QSpinBox *box : {m_seedsBox, m_trialsBox, m_validationBox})
        connect(box, &QSpinBox::valueChanged, this, &ComparisonWindow::updateActions);

    auto *study = new QGroupBox(tr("Study"));
    auto *grid = new QGridLayout(study);
    grid->setContentsMargins(6, 6, 6, 6);
    grid->addWidget(new QLabel(tr("Seeds")), 0, 0);
    grid->addWidget(m_seedsBox, 0, 1);
    grid->addWidget(m_presetBox, 1, 0, 1, 2);
    grid->addWidget(m_tuneBox, 2, 0, 1, 2);
    grid->addWidget(m_trialsBox, 3, 0);
    grid->addWidget(m_validationBox, 3, 1);
    return study;
}

void ComparisonWindow::applyPreset()
{
    Sweep sweep;
    std::string losses;
    if (!presetSweep(m_presetBox->currentData().toString().toStdString(), sweep, losses)) {
        updateActions();
        return;
    }
    m_tuneBox->setChecked(false); // a sweep is not tuned
    setLosses(parseLossList(losses));
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
    m_summaryModel = new QStandardItemModel(this);
    auto *summaryView = new QTableView;
    summaryView->setObjectName(QStringLiteral("summaryTable"));
    summaryView->setModel(m_summaryModel);
    summaryView->setEditTriggers(QAbstractItemView::NoEditTriggers);
    summaryView->verticalHeader()->hide();
    summaryView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    summaryView->horizontalHeader()->setStretchLastSection(true);
    summaryView->setToolTip(tr("Each loss over its seeds: mean +- the half-width of the 95% confidence interval "
                               "(Student's t). \"tied\": its Recall@1 interval overlaps the best loss's, so these "
                               "runs cannot rank the two"));
    m_resultsTabs = new QTabWidget;
    m_resultsTabs->setObjectName(QStringLiteral("resultsTabs"));
    m_resultsTabs->addTab(m_tableView, tr("Every run"));
    m_resultsTabs->addTab(summaryView, tr("Mean \u00b1 95% interval"));
    resultsLayout->addWidget(m_resultsTabs, 1);

    m_lossBands = new BandChart;
    m_lossBands->setObjectName(QStringLiteral("lossBands"));
    m_lossBands->setAxisTitles(tr("step"), tr("training loss (smoothed)"));
    m_recallBands = new BandChart;
    m_recallBands->setObjectName(QStringLiteral("recallBands"));
    m_recallBands->setAxisTitles(tr("step"), tr("test Recall@1"));
    m_recallBands->setUnitY(true);
    auto *charts = new QSplitter(Qt::Horizontal);
    charts->addWidget(m_lossChart);
    charts->addWidget(m_metricsChart);
    charts->addWidget(m_lossBands);
    charts->addWidget(m_recallBands);
    m_lossBands->hide();
    m_recallBands->hide();
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
    Sweep sweep;
    std::string presetLosses;
    const bool sweeping = presetSweep(m_presetBox->currentData().toString().toStdString(), sweep, presetLosses);
    const int least = sweeping ? 1 : kMinLosses;
    if (n < least || n > kMaxLosses)
        return tr("A comparison takes %1 to %2 losses (there are %3).").arg(least).arg(kMaxLosses).arg(n);
    const QString base = m_experiment ? m_experiment->validationError() : tr("There is no base experiment.");
    if (!base.isEmpty())
        return tr("The experiment in the main window is not valid: %1").arg(base);
    try {
        validateComparison(m_experiment->config(), sweeping ? sweepChoices(losses(), sweep) : losses());
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
    for (QWidget *w : {static_cast<QWidget *>(m_seedsBox), static_cast<QWidget *>(m_presetBox),
                       static_cast<QWidget *>(m_tuneBox)})
        w->setEnabled(!running);
    m_tuneBox->setEnabled(!running && m_presetBox->currentIndex() == 0);
    m_trialsBox->setEnabled(!running && m_tuneBox->isChecked());
    m_validationBox->setEnabled(!running && m_tuneBox->isChecked());
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
    const bool tune = m_tuneBox->isChecked() && m_presetBox->currentIndex() == 0;
    const QString folder = newRunPath(m_workspace, tune ? QStringLiteral("tune") : QStringLiteral("compare"));
    try {
        if (tune) {
            TuningPlan plan;
            plan.trials = m_trialsBox->value();
            plan.validationFraction = m_validationBox->value() / 100.0;
            const Tuning tuning =
                Tuning::create(folder.toStdString(), m_experiment->config(), losses(), plan, m_seedsBox->value());
            m_experiment->saveSettings();
            m_tuningView->setTuning(tuning);
            showComparison(std::nullopt);
            m_folder = folder;
            m_tabs->setCurrentWidget(m_tuningView);
            m_log->appendMessage(tr("Tuning folder: %1").arg(folder));
            m_progressLabel->setText(tr("tuning..."));
            m_session->start(folder);
            return;
        }
        Sweep sweep;
        std::string presetLosses;
        std::vector<LossChoice> choices = losses();
        if (presetSweep(m_presetBox->currentData().toString().toStdString(), sweep, presetLosses))
            choices = sweepChoices(choices, sweep);
        const Comparison comparison = Comparison::create(folder.toStdString(), m_experiment->config(), choices,
                                                         m_seedsBox->value(), sweep.field);
        m_experiment->saveSettings();
        m_tuningView->setTuning(std::nullopt);
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
    // Per run (every seed); the single-run views show each loss's first seed.
    const size_t runs = comparison ? comparison->runCount() : 0;
    m_runStep.assign(runs, 0);
    m_divergence.assign(runs, DivergenceWatch());
    m_evalStep.assign(runs, 0);
    m_smoothedLoss.assign(runs, {});
    m_averages.assign(runs, MovingAverage(0.9));
    m_runEvals.assign(runs, {});
    const bool seeds = comparison && comparison->seeds() > 1;
    m_lossChart->setVisible(!seeds);
    m_metricsChart->setVisible(!seeds);
    m_lossBands->setVisible(seeds);
    m_recallBands->setVisible(seeds);
    m_resultsTabs->setTabEnabled(1, seeds);
    m_resultsTabs->setCurrentIndex(seeds ? 1 : 0);
    if (seeds) {
        m_lossBands->setTitle(tr("Training loss: mean of %1 seeds, 95% band").arg(comparison->seeds()));
        m_recallBands->setTitle(tr("Recall@1: mean of %1 seeds, 95% interval").arg(comparison->seeds()));
    }
    {
        // Against the embedding size, every Recall@K as in the paper's figure.
        const QSignalBlocker blocker(m_sweepMetric);
        m_sweepMetric->setCurrentIndex(comparison && comparison->sweep() == "embedding_dim" ? 6 : 0);
    }
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
    refreshSeedViews();
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
    std::optional<Tuning> tuning;
    try {
        // A tuning shows its trials, and its test comparison once there is one.
        if (Tuning::isTuning(folder.toStdString())) {
            tuning = Tuning::open(folder.toStdString());
            if (Comparison::exists(tuning->testFolder()))
                comparison = std::make_unique<Comparison>(Comparison::open(tuning->testFolder()));
        } else {
            comparison = std::make_unique<Comparison>(Comparison::open(folder.toStdString()));
        }
    } catch (const Error &e) {
        showError(tr("Cannot open the comparison"), sentence(e.what()));
        return false;
    }
    m_tuningView->setTuning(tuning);
    {
        // The study controls say how it was made.
        const QSignalBlocker seedsBlocker(m_seedsBox), presetBlocker(m_presetBox), tuneBlocker(m_tuneBox);
        m_seedsBox->setValue(tuning ? tuning->seeds() : comparison->seeds());
        m_tuneBox->setChecked(bool(tuning));
        Sweep sweep;
        std::string losses;
        int preset = 0;
        for (int i = 1; comparison && i < m_presetBox->count(); ++i)
            if (presetSweep(m_presetBox->itemData(i).toString().toStdString(), sweep, losses)
                && sweep.field == comparison->sweep())
                preset = i;
        m_presetBox->setCurrentIndex(preset);
        if (tuning) {
            m_trialsBox->setValue(tuning->plan().trials);
            m_validationBox->setValue(int(std::lround(tuning->plan().validationFraction * 100)));
        }
    }
    if (!comparison) {
        showComparison(std::nullopt);
        m_folder = folder;
        setLosses(tuning->losses());
        m_log->appendMessage(tr("Opened the tuning %1; it has not reached its comparison yet (`liftlab-cli compare "
                                "--resume` goes on).").arg(folder));
        m_tabs->setCurrentWidget(m_tuningView);
        m_progressLabel->clear();
        return true;
    }
    showComparison(*comparison);
    if (tuning)
        m_folder = folder;
    const size_t losses = comparison->losses().size();
    if (tuning) { // the losses as tuned, not their tuned settings
        setLosses(tuning->losses());
    } else if (comparison->sweep().empty()) {
        setLosses(comparison->losses());
    } else { // each loss once, without the swept value
        std::vector<LossChoice> swept;
        for (size_t l = 0; l < losses; ++l)
            if (std::none_of(swept.begin(), swept.end(), [&](const LossChoice &x) { return x.label == comparison->sweepSeries(l); }))
                swept.push_back({comparison->losses()[l].name, comparison->losses()[l].params, comparison->sweepSeries(l), {}});
        setLosses(swept);
    }
    updateBaseSummary();
    // Each run from its files; a run stopped before it started has none.
    for (size_t i = 0; i < comparison->runCount(); ++i) {
        const RunFiles run(comparison->runPath(i));
        const std::vector<TrainingStep> steps = RunDirectory::readSteps(run.metrics());
        m_runEvals[i] = RunDirectory::readEvals(run.evals());
        for (const TrainingStep &step : steps)
            m_smoothedLoss[i].emplace_back(step.step, m_averages[i].add(step.loss));
        if (i >= losses)
            continue;
        const int index = int(i);
        m_lossChart->setSteps(steps, index);
        m_metricsChart->setReports(m_runEvals[i], index);
        SnapshotFrame frame;
        frame.snapshot = RunDirectory::readSnapshot(run.snapshot());
        if (frame.snapshot.size > 0)
            m_heatmaps->addFrame(index, frame);
        m_heatmaps->setRunEnded(index);
    }
    refreshSeedViews();
    m_log->appendMessage(tr("Opened the comparison %1.").arg(folder));
    if (comparison->seeds() > 1)
        m_log->appendMessage(tr("It was trained with %1 seeds: curves and results are means with 95% intervals; the "
                                "heatmaps, embeddings and retrieval show seed %2.")
                                 .arg(comparison->seeds())
                                 .arg(comparison->base().seed));
    if (tuning)
        m_tabs->setCurrentWidget(m_tuningView);
    else if (!comparison->sweep().empty())
        m_tabs->setCurrentWidget(m_sweepTab);
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
    refreshSeedViews();
}

void ComparisonWindow::refreshSeedViews()
{
    m_bandTimer.stop();
    const bool seeds = m_comparison && m_comparison->seeds() > 1;
    const bool sweep = m_comparison && !m_comparison->sweep().empty();
    m_tabs->setTabEnabled(m_tabs->indexOf(m_sweepTab), sweep);
    m_tabs->setTabEnabled(m_tabs->indexOf(m_tuningView), m_tuningView->hasTuning());
    if (!seeds) {
        m_summaryModel->clear();
        m_lossBands->setCurves({}, {});
        m_recallBands->setCurves({}, {});
    }
    if (!sweep)
        m_sweepChart->setCurves({}, {});
    if (!m_comparison)
        return;
    const Comparison &c = *m_comparison;
    const size_t losses = c.losses().size();
    const std::vector<ComparisonRow> &rows = m_table->rows();
    if (seeds) {
        QStringList labels;
        std::vector<std::vector<BandChart::Point>> lossPoints(losses), recallPoints(losses);
        for (size_t l = 0; l < losses; ++l) {
            labels.append(q(c.losses()[l].label));
            // The smoothed loss at (at most) 300 steps, over the seeds that got there.
            int64_t last = 0;
            for (size_t r = l; r < c.runCount(); r += losses)
                if (!m_smoothedLoss[r].empty())
                    last = std::max(last, m_smoothedLoss[r].back().first);
            const int64_t stride = std::max<int64_t>(1, last / 300);
            std::map<int64_t, std::vector<double>> byStep;
            for (size_t r = l; r < c.runCount(); r += losses)
                for (const auto &[step, value] : m_smoothedLoss[r])
                    if (step % stride == 0 || step == last)
                        byStep[step].push_back(value);
            for (const auto &[step, samples] : byStep)
                lossPoints[l].push_back({double(step), samples});
            std::map<int64_t, std::vector<double>> recall;
            for (size_t r = l; r < c.runCount(); r += losses)
                for (const EvalReport &e : m_runEvals[r])
                    recall[e.step].push_back(e.metrics.recallAt1);
            for (const auto &[step, samples] : recall)
                recallPoints[l].push_back({double(step), samples});
        }
        m_lossBands->setCurves(labels, lossPoints);
        m_recallBands->setCurves(labels, recallPoints);

        const std::vector<ComparisonSummary> summary = summarizeSeeds(c, rows);
        m_summaryModel->clear();
        m_summaryModel->setHorizontalHeaderLabels({tr("Loss"), tr("Seeds"), tr("R@1"), tr("R@2"), tr("R@4"), tr("R@8"),
                                                   tr("MAP@R"), tr("NMI"), tr("vs best")});
        auto cell = [](const Interval &i) {
            return new QStandardItem(std::isnan(i.halfWidth) ? QString::number(i.mean, 'f', 4)
                                                             : QStringLiteral("%1 \u00b1 %2")
                                                                   .arg(i.mean, 0, 'f', 4)
                                                                   .arg(i.halfWidth, 0, 'f', 4));
        };
        for (const ComparisonSummary &x : summary)
            m_summaryModel->appendRow({new QStandardItem(q(x.loss)), new QStandardItem(QString::number(x.runs)),
                                       cell(x.recallAt1), cell(x.recallAt2), cell(x.recallAt4), cell(x.recallAt8),
                                       cell(x.mapAtR), cell(x.nmi),
                                       new QStandardItem(x.best ? tr("best") : x.tied ? tr("tied") : QString())});
    }
    if (sweep) {
        // One curve per loss (and per K for every Recall@K): the metric at
        // each swept value, over the seeds.
        const int metric = std::clamp(m_sweepMetric->currentIndex(), 0, 6);
        const std::vector<int> shown = metric == 6 ? std::vector<int>{0, 1, 2, 3} : std::vector<int>{metric};
        static const char *const suffix[] = {" R@1", " R@2", " R@4", " R@8", "", ""};
        QStringList series;
        std::vector<std::vector<BandChart::Point>> points;
        for (size_t r = 0; r < rows.size() && r < c.runCount(); ++r) {
            if (rows[r].step == 0)
                continue;
            const size_t l = c.lossIndex(r);
            const Metrics &m = rows[r].metrics;
            const double values[] = {m.recallAt1, m.recallAt2, m.recallAt4, m.recallAt8, m.mapAtR, m.nmi};
            for (const int k : shown) {
                const QString name = q(c.sweepSeries(l)) + (metric == 6 ? QLatin1String(suffix[k]) : QLatin1String(""));
                int index = int(series.indexOf(name));
                if (index < 0) {
                    series.append(name);
                    points.emplace_back();
                    index = int(series.size()) - 1;
                }
                std::vector<BandChart::Point> &curve = points[size_t(index)];
                const double x = c.sweepValue(l);
                auto it = std::find_if(curve.begin(), curve.end(), [&](const BandChart::Point &p) { return p.x == x; });
                if (it == curve.end())
                    curve.push_back({x, {values[k]}});
                else
                    it->samples.push_back(values[k]);
            }
        }
        m_sweepChart->setAxisTitles(q(sweepOptionName(c.sweep())), m_sweepMetric->currentText());
        m_sweepChart->setCurves(series, points);
    }
}

void ComparisonWindow::onSteps(int run, const QVector<TrainingStep> &steps)
{
    if (steps.isEmpty() || size_t(run) >= m_runStep.size())
        return;
    if (run < m_lossChart->runCount())
        m_lossChart->appendSteps(steps, run);
    m_runStep[size_t(run)] = steps.back().step;
    if (m_comparison && m_comparison->seeds() > 1) {
        for (const TrainingStep &s : steps)
            m_smoothedLoss[size_t(run)].emplace_back(s.step, m_averages[size_t(run)].add(s.loss));
        if (!m_bandTimer.isActive())
            m_bandTimer.start();
    }
    for (const TrainingStep &s : steps)
        if (const std::string warning = m_divergence[size_t(run)].add(s.step, s.loss); !warning.empty())
            m_log->appendError(tr("Warning: %1: %2.")
                                   .arg(m_comparison ? q(m_comparison->runLabel(size_t(run))) : QString(),
                                        QString::fromStdString(warning)));
    m_progressLabel->setText(tr("step %1 / %2")
                                 .arg(*std::min_element(m_runStep.begin(), m_runStep.end()))
                                 .arg(steps.back().iterations));
}

void ComparisonWindow::onEval(int run, const EvalReport &report)
{
    if (run < m_metricsChart->runCount())
        m_metricsChart->appendReport(report, run);
    if (size_t(run) < m_runEvals.size())
        m_runEvals[size_t(run)].push_back(report);
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
        refreshSeedViews();
    }
    if (m_comparison)
        m_log->appendMessage(tr("%1, step %2: Recall@1 %3, MAP@R %4")
                                 .arg(q(m_comparison->runLabel(size_t(run))))
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
