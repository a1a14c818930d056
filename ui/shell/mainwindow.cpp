#include "shell/mainwindow.h"

#include "charts/losschart.h"
#include "charts/metricschart.h"
#include "compare/comparisonsession.h"
#include "compare/comparisonwindow.h"
#include "error.h"
#include "experiment/experimentpanel.h"
#include "explorer/datasetbrowser.h"
#include "explorer/embeddingview.h"
#include "explorer/explorercontext.h"
#include "explorer/explorerpanel.h"
#include "explorer/retrievalbrowser.h"
#include "heatmap/heatmappanel.h"
#include "heatmap/heatmapwidget.h"
#include "runs/runfollower.h"
#include "runs/runlistmodel.h"
#include "runs/runlistpanel.h"
#include "shell/help.h"
#include "shell/logpanel.h"
#include "shell/workspace.h"
#include "training/runactions.h"
#include "training/trainingsession.h"
#include "widgets/screenfit.h"

#include "projection/rundata.h"
#include "train/rundirectory.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QScreen>
#include <QSettings>
#include <QStatusBar>
#include <QStyle>
#include <QToolBar>
#include <QToolButton>
#include <QtConcurrent>

namespace liftlab {

namespace {

constexpr int kLayoutVersion = 3; // 3: the layout depends on the screen

QString formatDuration(double seconds)
{
    if (!(seconds >= 0) || seconds > 360000)
        return QStringLiteral("--");
    const qint64 s = qint64(seconds + 0.5);
    if (s >= 3600)
        return QStringLiteral("%1:%2:%3").arg(s / 3600).arg(s / 60 % 60, 2, 10, QLatin1Char('0')).arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

bool samePath(const QString &a, const QString &b)
{
    return !a.isEmpty() && QFileInfo(a).absoluteFilePath() == QFileInfo(b).absoluteFilePath();
}

} // namespace

MainWindow::MainWindow(QWidget *parent)
    : QMainWindow(parent)
    , m_session(new TrainingSession(this))
    , m_follower(new RunFollower(this))
{
    setObjectName(QStringLiteral("mainWindow"));
    setWindowTitle(tr("LiftLab"));
    registerUiMetaTypes();
    createDocks();
    createActions();

    connect(m_session, &TrainingSession::started, this, &MainWindow::onStarted);
    connect(m_session, &TrainingSession::stepsReady, this, &MainWindow::onSteps);
    connect(m_session, &TrainingSession::evaluating, this,
            [this] { m_etaLabel->setText(tr("evaluating...")); });
    connect(m_session, &TrainingSession::evalReady, this, &MainWindow::onEval);
    connect(m_session, &TrainingSession::snapshotReady, this, &MainWindow::onSnapshot);
    showSessionReports(m_session, m_log, m_etaLabel, this);
    connect(m_session, &TrainingSession::pausedChanged, this, [this](bool paused) {
        m_log->appendMessage(paused ? tr("Paused at step %1.").arg(m_liveSteps.empty() ? 0 : m_liveSteps.back().step)
                                    : tr("Resumed."));
    });
    connect(m_session, &TrainingSession::finished, this, &MainWindow::onFinished);
    connect(m_session, &TrainingSession::failed, this, &MainWindow::onFailed);
    connect(m_session, &TrainingSession::stateChanged, this, &MainWindow::updateActions);

    connect(m_follower, &RunFollower::stepsLoaded, this, [this](const std::vector<TrainingStep> &steps) {
        if (m_showingLive)
            return;
        if (!m_overlay)
            m_lossChart->setSteps(steps);
        m_stepLabel->setText(steps.empty() ? QString()
                                           : tr("step %1 / %2").arg(steps.back().step).arg(m_follower->config().iterations));
    });
    connect(m_follower, &RunFollower::evalsLoaded, this, [this](const std::vector<EvalReport> &reports) {
        if (!m_showingLive) {
            if (!m_overlay)
                m_metricsChart->setReports(reports);
            m_explorerContext->refreshSteps(); // a run being written gains evaluations
        }
    });
    connect(m_follower, &RunFollower::snapshotLoaded, this, [this](const SnapshotFrame &frame) {
        m_openedFrame = frame;
        showOpenedSnapshot();
    });
    // The opened run's class names and images come with its data.
    connect(m_explorerContext, &ExplorerContext::runChanged, this, &MainWindow::showOpenedSnapshot);
    connect(m_runs, &RunListPanel::openRequested, this, &MainWindow::openRun);
    connect(m_runs, &RunListPanel::tickedChanged, this, &MainWindow::showTickedRuns);
    connect(m_runs, &RunListPanel::openComparisonRequested, this, &MainWindow::openComparison);
    connect(m_experiment, &ExperimentPanel::validityChanged, this, &MainWindow::updateActions);
    connectExplorer();
    m_compare = new ComparisonWindow(m_experiment, this);
    m_compare->setWindowFlag(Qt::Window);
    connect(m_compare, &ComparisonWindow::comparisonEnded, m_runs, &RunListPanel::refresh);

    m_experiment->restoreSettings();
    restoreLayout();
    setWorkspace(defaultWorkspace());
    updateActions();
    m_log->appendMessage(tr("Ready: press Start to train the experiment on the left (last used: %1 on %2). "
                            "Runs are saved in %3.")
                             .arg(QString::fromStdString(m_experiment->config().loss),
                                  QString::fromStdString(m_experiment->config().dataset), m_workspace));
}

MainWindow::~MainWindow()
{
    // Stop a run before the widgets its signals feed go away.
    m_session->shutdown();
    m_compare->shutdown();
}

void MainWindow::createDocks()
{
    setDockNestingEnabled(true);
    setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowNestedDocks | QMainWindow::AllowTabbedDocks);
    m_experiment = new ExperimentPanel;
    m_experiment->setObjectName(QStringLiteral("experimentPanel"));
    m_runs = new RunListPanel;
    m_runs->setObjectName(QStringLiteral("runListPanel"));
    m_lossChart = new LossChart;
    m_lossChart->setObjectName(QStringLiteral("lossChart"));
    m_metricsChart = new MetricsChart;
    m_metricsChart->setObjectName(QStringLiteral("metricsChart"));
    m_heatmap = new HeatmapPanel;
    m_heatmap->setObjectName(QStringLiteral("heatmapPanel"));
    m_log = new LogPanel;
    m_log->setObjectName(QStringLiteral("logPanel"));
    m_explorerContext = new ExplorerContext(this);
    m_explorerContext->setObjectName(QStringLiteral("explorerContext"));
    m_explorer = new ExplorerPanel(m_explorerContext);
    m_explorer->setObjectName(QStringLiteral("explorerPanel"));
    m_retrieval = new RetrievalBrowser(m_explorerContext);
    m_retrieval->setObjectName(QStringLiteral("retrievalBrowser"));
    m_dataset = new DatasetBrowser(m_explorerContext);
    m_dataset->setObjectName(QStringLiteral("datasetBrowser"));

    m_docks.experiment = addDock(m_experiment, tr("Experiment"), "experimentDock", Qt::LeftDockWidgetArea);
    m_docks.runs = addDock(m_runs, tr("Runs"), "runsDock", Qt::LeftDockWidgetArea);
    m_docks.loss = addDock(m_lossChart, tr("Loss"), "lossDock", Qt::RightDockWidgetArea);
    m_docks.metrics = addDock(m_metricsChart, tr("Evaluation"), "metricsDock", Qt::RightDockWidgetArea);
    m_docks.heatmap = addDock(m_heatmap, tr("Batch distances"), "heatmapDock", Qt::RightDockWidgetArea);
    m_docks.log = addDock(m_log, tr("Log"), "logDock", Qt::RightDockWidgetArea);
    m_docks.explorer = addDock(m_explorer, tr("Explorer"), "explorerDock", Qt::RightDockWidgetArea);
    m_docks.retrieval = addDock(m_retrieval, tr("Retrieval"), "retrievalDock", Qt::RightDockWidgetArea);
    m_docks.dataset = addDock(m_dataset, tr("Dataset"), "datasetDock", Qt::RightDockWidgetArea);
    m_explorer->setInSight(false); // until its tab is shown
    connect(m_docks.explorer, &QDockWidget::visibilityChanged, m_explorer, &ExplorerPanel::setInSight);
}

void MainWindow::applyDefaultLayout(const QSize &screen)
{
    const Docks &d = m_docks;
    const std::initializer_list<QDockWidget *> all = {d.experiment, d.runs, d.loss,      d.metrics, d.heatmap,
                                                      d.log,        d.explorer, d.retrieval, d.dataset};
    for (QDockWidget *dock : all) {
        removeDockWidget(dock);
        dock->setFloating(false);
        dock->show(); // also those the user closed; tabs behind others are hidden again below
    }
    addDockWidget(Qt::LeftDockWidgetArea, d.experiment);
    addDockWidget(Qt::RightDockWidgetArea, d.loss);

    const QSize wanted(1600, 1000);
    fitToScreen(this, wanted, screen);
    const int width = std::min(screen.width(), wanted.width());
    const int height = std::min(screen.height(), wanted.height());

    // The heatmap's place is shared, as tabs, with the explorer's three views.
    splitDockWidget(d.loss, d.heatmap, Qt::Horizontal);
    tabifyDockWidget(d.heatmap, d.explorer);
    tabifyDockWidget(d.explorer, d.retrieval);
    tabifyDockWidget(d.retrieval, d.dataset);
    if (width >= 1500 && height >= 900) {
        // Three columns: the experiment over the runs; the loss over the
        // evaluation; the batch heatmap (and the explorer) over the log.
        splitDockWidget(d.experiment, d.runs, Qt::Vertical);
        splitDockWidget(d.loss, d.metrics, Qt::Vertical);
        splitDockWidget(d.heatmap, d.log, Qt::Vertical);
        resizeDocks({d.experiment, d.loss, d.heatmap}, {width / 5, width * 2 / 5, width * 2 / 5}, Qt::Horizontal);
        resizeDocks({d.experiment, d.runs}, {height * 2 / 3, height / 3}, Qt::Vertical);
        resizeDocks({d.loss, d.metrics}, {height / 2, height / 2}, Qt::Vertical);
        resizeDocks({d.heatmap, d.log}, {height * 3 / 4, height / 4}, Qt::Vertical);
    } else if (width >= 1180) {
        // A laptop: the runs and the log share a place under the experiment.
        splitDockWidget(d.experiment, d.runs, Qt::Vertical);
        tabifyDockWidget(d.runs, d.log);
        splitDockWidget(d.loss, d.metrics, Qt::Vertical);
        resizeDocks({d.experiment, d.loss, d.heatmap}, {width / 4, width * 3 / 8, width * 3 / 8}, Qt::Horizontal);
        resizeDocks({d.experiment, d.runs}, {height * 2 / 3, height / 3}, Qt::Vertical);
        resizeDocks({d.loss, d.metrics}, {height / 2, height / 2}, Qt::Vertical);
        d.runs->raise();
    } else {
        // A small screen: tabs everywhere, two views of training beside the form.
        tabifyDockWidget(d.experiment, d.runs);
        tabifyDockWidget(d.runs, d.log);
        tabifyDockWidget(d.loss, d.metrics);
        resizeDocks({d.experiment, d.loss, d.heatmap}, {width * 28 / 100, width * 30 / 100, width * 42 / 100},
                    Qt::Horizontal);
        d.experiment->raise();
        d.loss->raise();
    }
    d.heatmap->raise();
}

void MainWindow::connectExplorer()
{
    connect(m_explorer, &ExplorerPanel::queryRequested, this, &MainWindow::showQuery);
    connect(m_retrieval, &RetrievalBrowser::queryRequested, this, &MainWindow::showQuery);
    connect(m_dataset, &DatasetBrowser::queryRequested, this, &MainWindow::showQuery);
    connect(m_retrieval, &RetrievalBrowser::failed, m_log, &LogPanel::appendError);
    // The query and its neighbours ringed in the explorer.
    connect(m_retrieval, &RetrievalBrowser::resultsChanged, this, [this] {
        QVector<int> neighbours;
        for (const RetrievalBrowser::Result &r : m_retrieval->results())
            neighbours.append(int(r.index));
        m_explorer->view()->setHighlight(int(m_retrieval->queryIndex()), neighbours);
        if (m_retrieval->queryIndex() >= 0)
            m_dataset->setChosenTestImage(m_retrieval->queryIndex());
    });
    connect(m_explorerContext, &ExplorerContext::loadFailed, m_log,
            [this](const QString &message) { m_log->appendError(tr("Explorer: %1").arg(message)); });
}

void MainWindow::showQuery(int subset, qint64 index)
{
    if (subset == int(Subset::Train))
        m_retrieval->setQueryTrainImage(index);
    else
        m_retrieval->setQueryIndex(index);
    m_docks.retrieval->show();
    m_docks.retrieval->raise();
}

QDockWidget *MainWindow::addDock(QWidget *widget, const QString &title, const char *name, Qt::DockWidgetArea area)
{
    auto *dock = new QDockWidget(title, this);
    dock->setObjectName(QLatin1String(name));
    dock->setWidget(widget);
    addDockWidget(area, dock);
    return dock;
}

void MainWindow::createActions()
{
    QStyle *s = style();
    m_runActions = new RunActions(QString(), m_session, this);
    connect(m_runActions, &RunActions::message, m_log, &LogPanel::appendMessage);
    m_runActions->start()->setShortcut(Qt::CTRL | Qt::Key_R);
    m_runActions->start()->setToolTip(tr("Train the experiment in a new run directory (Ctrl+R)"));
    connect(m_runActions->start(), &QAction::triggered, this, &MainWindow::startTraining);
    m_runActions->pause()->setShortcut(Qt::CTRL | Qt::Key_P);

    m_openAction = new QAction(s->standardIcon(QStyle::SP_DialogOpenButton), tr("&Open run..."), this);
    m_openAction->setObjectName(QStringLiteral("openRunAction"));
    m_openAction->setShortcut(QKeySequence::Open);
    connect(m_openAction, &QAction::triggered, this, &MainWindow::openRunDialog);

    auto *exportMenu = new QMenu(tr("&Export"), this);
    exportMenu->addAction(tr("Loss curve as PNG..."), this, &MainWindow::exportLossPng);
    exportMenu->addAction(tr("Loss curve as CSV..."), this, &MainWindow::exportLossCsv);
    exportMenu->addAction(tr("Evaluation chart as PNG..."), this, &MainWindow::exportMetricsPng);
    exportMenu->addAction(tr("Evaluation as CSV..."), this, &MainWindow::exportMetricsCsv);
    exportMenu->addAction(tr("Heatmap as PNG..."), this, &MainWindow::exportHeatmapPng);
    exportMenu->addSeparator();
    QAction *exportNetwork = exportMenu->addAction(tr("Trained network as TorchScript..."), this, &MainWindow::exportNetwork);
    exportNetwork->setObjectName(QStringLiteral("exportNetworkAction"));
    m_exportAction = exportMenu->menuAction();
    m_exportAction->setObjectName(QStringLiteral("exportAction"));
    m_exportAction->setIcon(s->standardIcon(QStyle::SP_DialogSaveButton));

    auto *compare = new QAction(s->standardIcon(QStyle::SP_FileDialogDetailedView), tr("&Compare losses..."), this);
    compare->setObjectName(QStringLiteral("compareAction"));
    compare->setToolTip(tr("Train 2 to 6 losses on this experiment side by side: same data, initialisation and "
                           "batches"));
    connect(compare, &QAction::triggered, this, &MainWindow::showComparison);
    auto *openComparisonAction = new QAction(tr("Open &comparison..."), this);
    openComparisonAction->setObjectName(QStringLiteral("openComparisonMenuAction"));
    connect(openComparisonAction, &QAction::triggered, this, [this] {
        const QString folder = QFileDialog::getExistingDirectory(this, tr("Open comparison"), m_workspace);
        if (!folder.isEmpty())
            openComparison(folder);
    });

    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->addAction(m_openAction);
    file->addAction(openComparisonAction);
    file->addMenu(exportMenu);
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu *training = menuBar()->addMenu(tr("&Training"));
    training->addAction(m_runActions->start());
    training->addAction(m_runActions->pause());
    training->addAction(m_runActions->stop());
    training->addSeparator();
    training->addAction(compare);

    QMenu *view = menuBar()->addMenu(tr("&View"));
    for (QDockWidget *dock : findChildren<QDockWidget *>())
        view->addAction(dock->toggleViewAction());
    view->addSeparator();
    view->addAction(tr("&Reset layout"), this, [this] { applyDefaultLayout(screen()->availableSize()); });

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    QAction *gettingStarted = help->addAction(tr("&Getting started"), this, [this] { showGettingStarted(this); });
    gettingStarted->setObjectName(QStringLiteral("gettingStartedAction"));
    gettingStarted->setShortcut(QKeySequence::HelpContents);
    help->addAction(tr("&Keyboard shortcuts"), this, [this] { showKeyboardShortcuts(this); });
    help->addSeparator();
    help->addAction(tr("&About LiftLab"), this, [this] {
        QMessageBox::about(this, tr("About LiftLab"),
                           tr("<p><b>LiftLab %1</b>: a laboratory for deep metric learning.</p>"
                              "<p>Lifted structured feature embedding: Song, Xiang, Jegelka, Savarese, "
                              "CVPR 2016 (arXiv 1511.06452).</p>")
                               .arg(QApplication::applicationVersion()));
    });

    QToolBar *bar = addToolBar(tr("Training"));
    bar->setObjectName(QStringLiteral("trainingToolBar"));
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->addAction(m_runActions->start());
    bar->addAction(m_runActions->pause());
    bar->addAction(m_runActions->stop());
    bar->addAction(compare);
    bar->addSeparator();
    bar->addAction(m_openAction);
    bar->addAction(m_exportAction);
    if (auto *button = qobject_cast<QToolButton *>(bar->widgetForAction(m_exportAction)))
        button->setPopupMode(QToolButton::InstantPopup);

    m_runLabel = new QLabel;
    m_stepLabel = new QLabel;
    m_speedLabel = new QLabel;
    m_etaLabel = new QLabel;
    m_threadsLabel = new QLabel;
    m_stepLabel->setObjectName(QStringLiteral("stepLabel"));
    m_speedLabel->setObjectName(QStringLiteral("speedLabel"));
    m_etaLabel->setObjectName(QStringLiteral("etaLabel"));
    m_threadsLabel->setObjectName(QStringLiteral("threadsLabel"));
    statusBar()->addWidget(m_runLabel, 1);
    for (QLabel *label : {m_stepLabel, m_speedLabel, m_etaLabel, m_threadsLabel}) {
        label->setMinimumWidth(110);
        statusBar()->addPermanentWidget(label);
    }
    m_threadsLabel->setText(tr("threads %1").arg(m_experiment->config().threads));
}

void MainWindow::restoreLayout()
{
    QSettings settings;
    const QByteArray geometry = settings.value(QStringLiteral("window/geometry")).toByteArray();
    if (geometry.isEmpty() || !restoreGeometry(geometry)
        || !restoreState(settings.value(QStringLiteral("window/state")).toByteArray(), kLayoutVersion))
        applyDefaultLayout(screen()->availableSize());
}

void MainWindow::setWorkspace(const QString &folder)
{
    if (!m_workspace.isEmpty() && folder != m_workspace) // after the "Ready" line named the old one
        m_log->appendMessage(tr("Runs are saved in %1.").arg(folder));
    m_workspace = folder;
    m_runs->setWorkspace(folder);
    m_compare->setWorkspace(folder);
}

void MainWindow::updateActions()
{
    const bool running = m_session->isRunning();
    m_runActions->update(m_experiment->isValid());
    m_experiment->setEditable(!running);
}

void MainWindow::startTraining()
{
    if (m_session->isRunning())
        return;
    const QString invalid = m_experiment->validationError();
    if (!invalid.isEmpty()) {
        showError(tr("Cannot start"), invalid);
        return;
    }
    const ExperimentConfig config = m_experiment->config();
    m_experiment->saveSettings();
    if (!QDir().mkpath(m_workspace)) {
        showError(tr("Cannot start"), tr("Cannot create the workspace folder %1.").arg(m_workspace));
        return;
    }
    const QString runPath = newRunPath(m_workspace, QString::fromStdString(config.loss));
    m_runs->model()->untickAll(); // the charts follow the new run
    m_liveSteps.clear();
    m_liveEvals.clear();
    m_liveFrame = SnapshotFrame();
    m_imagesPerSec = 0;
    m_divergence = DivergenceWatch();
    statusBar()->clearMessage();
    m_stepLabel->setText(tr("step 0 / %1").arg(config.iterations));
    m_speedLabel->clear();
    m_etaLabel->clear();
    m_threadsLabel->setText(tr("threads %1").arg(config.threads));
    m_runLabel->setText(QFileInfo(runPath).fileName());
    showLive();
    m_metricsChart->setIterations(config.iterations);
    setWindowTitle(tr("LiftLab - %1").arg(QFileInfo(runPath).fileName()));
    m_session->start(config, runPath);
}

void MainWindow::showLive()
{
    m_follower->stop();
    m_showingLive = true;
    m_runLabel->setText(QFileInfo(m_session->runPath()).fileName());
    m_lossChart->setSteps(m_liveSteps);
    m_metricsChart->setReports(m_liveEvals);
    m_metricsChart->setIterations(m_session->config().iterations);
    if (m_liveFrame.snapshot.size > 0)
        m_heatmap->setFrame(m_liveFrame);
    else
        m_heatmap->clear();
}

bool MainWindow::openRun(const QString &runPath)
{
    if (m_session->isRunning() && samePath(runPath, m_session->runPath())) {
        showLive();
        if (!samePath(m_explorerContext->runPath(), runPath))
            m_explorerContext->openRun(runPath);
        setWindowTitle(tr("LiftLab - %1").arg(QFileInfo(runPath).fileName()));
        return true;
    }
    try {
        m_follower->follow(runPath);
    } catch (const Error &e) {
        showError(tr("Cannot open the run"), QString::fromStdString(e.what()));
        return false;
    }
    m_runs->model()->untickAll(); // the charts show the opened run
    m_showingLive = false;
    m_lossChart->clear();
    m_metricsChart->clear();
    m_metricsChart->setIterations(m_follower->config().iterations);
    m_heatmap->clear();
    m_openedFrame = SnapshotFrame();
    m_explorerContext->openRun(runPath);
    setWindowTitle(tr("LiftLab - %1").arg(QFileInfo(runPath).fileName()));
    m_runLabel->setText(QFileInfo(runPath).fileName());
    for (QLabel *label : {m_stepLabel, m_speedLabel, m_etaLabel})
        label->clear();
    statusBar()->clearMessage();
    m_log->appendMessage(tr("Showing run %1 (followed while it is written).").arg(runPath));
    return true;
}

void MainWindow::showOpenedSnapshot()
{
    if (m_showingLive || m_openedFrame.snapshot.size == 0)
        return;
    SnapshotFrame frame = m_openedFrame;
    if (m_explorerContext->hasData() && samePath(m_explorerContext->runPath(), m_follower->runPath())) {
        frame.classNames = m_explorerContext->classNames();
        for (const int64_t index : frame.snapshot.indices)
            frame.images.append(m_explorerContext->image(Subset::Train, index));
    }
    m_heatmap->setFrame(frame);
}

void MainWindow::showTickedRuns(const QStringList &runs)
{
    const bool overlay = runs.size() >= 2;
    if (!overlay && !m_overlay)
        return;
    m_overlay = overlay;
    if (!overlay) { // back to the run shown before
        m_lossChart->setRuns({QString()});
        m_metricsChart->setRuns({QString()});
        if (m_showingLive) {
            showLive();
        } else if (!m_follower->runPath().isEmpty()) {
            m_lossChart->setSteps(RunDirectory::readSteps(RunFiles(m_follower->runPath().toStdString()).metrics()));
            m_metricsChart->setReports(RunDirectory::readEvals(RunFiles(m_follower->runPath().toStdString()).evals()));
            m_metricsChart->setIterations(m_follower->config().iterations);
        }
        m_log->appendMessage(tr("The charts show %1 again.").arg(QFileInfo(shownRun()).fileName()));
        return;
    }
    QStringList labels;
    int64_t iterations = 0;
    for (const QString &run : runs) {
        labels << QFileInfo(run).fileName();
        iterations = std::max(iterations, m_runs->model()->configOf(run).iterations);
    }
    m_lossChart->setRuns(labels);
    m_metricsChart->setRuns(labels);
    m_metricsChart->setIterations(iterations);
    for (int i = 0; i < runs.size(); ++i) {
        const RunFiles files(runs[i].toStdString());
        m_lossChart->setSteps(RunDirectory::readSteps(files.metrics()), i);
        m_metricsChart->setReports(RunDirectory::readEvals(files.evals()), i);
    }
    m_log->appendMessage(tr("The charts draw the %1 ticked runs together (as they were when ticked); the Runs list "
                            "tables what their experiments differ in. Untick to go back.")
                             .arg(runs.size()));
}

QString MainWindow::shownRun() const
{
    return m_showingLive ? m_session->runPath() : m_follower->runPath();
}

void MainWindow::onStarted(const QString &runPath, const QStringList &classNames)
{
    m_liveFrame.classNames = classNames;
    m_log->appendMessage(tr("Run directory: %1").arg(runPath));
    m_runs->refresh();
}

void MainWindow::onSteps(const QVector<TrainingStep> &steps)
{
    if (steps.isEmpty())
        return;
    m_liveSteps.insert(m_liveSteps.end(), steps.begin(), steps.end());
    for (const TrainingStep &s : steps)
        if (const std::string warning = m_divergence.add(s.step, s.loss); !warning.empty()) {
            const QString text = tr("Warning: %1.").arg(QString::fromStdString(warning));
            m_log->appendError(text);
            statusBar()->showMessage(text);
        }
    if (m_showingLive && !m_overlay)
        m_lossChart->appendSteps(steps);
    // Images/s over these steps: n batches over the sum of their durations.
    double inverse = 0;
    for (const TrainingStep &s : steps)
        inverse += s.imagesPerSec > 0 ? 1.0 / s.imagesPerSec : 0;
    if (inverse > 0) {
        const double rate = steps.size() / inverse;
        m_imagesPerSec = m_imagesPerSec > 0 ? 0.8 * m_imagesPerSec + 0.2 * rate : rate;
    }
    updateStatus(steps.back());
}

void MainWindow::updateStatus(const TrainingStep &last)
{
    const ExperimentConfig &c = m_session->config();
    const double batch = double(c.batchSize());
    m_stepLabel->setText(tr("step %1 / %2").arg(last.step).arg(last.iterations));
    m_speedLabel->setText(tr("%1 images/s").arg(m_imagesPerSec, 0, 'f', 0));
    const double eta = m_imagesPerSec > 0 ? double(last.iterations - last.step) * batch / m_imagesPerSec : -1;
    m_etaLabel->setText(tr("ETA %1").arg(formatDuration(eta)));
}

void MainWindow::onEval(const EvalReport &report)
{
    m_liveEvals.push_back(report);
    if (m_showingLive) {
        if (!m_overlay)
            m_metricsChart->appendReport(report);
        // The evaluation saved the test embedding: the explorer offers the new step.
        if (samePath(m_explorerContext->runPath(), m_session->runPath()))
            m_explorerContext->refreshSteps();
        else
            m_explorerContext->openRun(m_session->runPath());
    }
    const Metrics &m = report.metrics;
    const QString wide = m.largeRecall ? tr(", Recall@10/100/1000 %1 / %2 / %3")
                                             .arg(m.recallAt10, 0, 'f', 4)
                                             .arg(m.recallAt100, 0, 'f', 4)
                                             .arg(m.recallAt1000, 0, 'f', 4)
                                       : QString();
    m_log->appendMessage(tr("Step %1: Recall@1 %2, Recall@8 %3%4, MAP@R %5, NMI %6 (%7 s)")
                             .arg(report.step)
                             .arg(m.recallAt1, 0, 'f', 4)
                             .arg(m.recallAt8, 0, 'f', 4)
                             .arg(wide)
                             .arg(m.mapAtR, 0, 'f', 4)
                             .arg(m.nmi, 0, 'f', 4)
                             .arg(report.seconds, 0, 'f', 1));
}

void MainWindow::onSnapshot(const SnapshotFrame &frame)
{
    m_liveFrame = frame;
    if (m_showingLive)
        m_heatmap->setFrame(frame);
}

void MainWindow::onFinished(const QString &runPath, bool cancelled)
{
    if (cancelled)
        m_log->appendMessage(tr("Stopped; the checkpoint is kept in %1.").arg(runPath));
    else
        m_log->appendMessage(tr("Finished: %1").arg(runPath));
    m_etaLabel->setText(cancelled ? tr("stopped") : tr("done"));
    m_runs->refresh();
    Q_EMIT runEnded(runPath);
}

void MainWindow::onFailed(const QString &runPath, const QString &message)
{
    if (!QFileInfo::exists(runPath)) { // it failed before its directory was made: no run to name
        setWindowTitle(tr("LiftLab"));
        m_runLabel->clear();
        m_stepLabel->clear();
    }
    m_log->appendError(message);
    m_etaLabel->setText(tr("failed"));
    showError(tr("Training failed"), message);
    m_runs->refresh();
    Q_EMIT runEnded(runPath);
}

void MainWindow::showError(const QString &title, const QString &message)
{
    showErrorDialog(this, m_errorBox, title, message);
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    if (m_session->isRunning() || m_compare->session()->isRunning()) {
        m_log->appendMessage(tr("Stopping the run before closing..."));
        // The trainer stops after the current batch (or block of an
        // evaluation, or of a dataset's decoding): go out of sight meanwhile.
        hide();
    }
    // Saves the checkpoints and ends the threads; a projection stops at its next iteration.
    m_session->shutdown();
    m_compare->hide();
    m_compare->shutdown();
    m_explorer->shutdown();
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState(kLayoutVersion));
    m_experiment->saveSettings();
    event->accept();
}

void MainWindow::showComparison()
{
    m_compare->show();
    m_compare->raise();
    m_compare->activateWindow();
}

bool MainWindow::openComparison(const QString &folder)
{
    showComparison();
    return m_compare->openComparison(folder);
}

void MainWindow::openRunDialog()
{
    const QString folder = QFileDialog::getExistingDirectory(this, tr("Open run"), m_workspace);
    if (!folder.isEmpty())
        openRun(folder);
}

QString MainWindow::exportPath(const QString &suggestedName, const QString &filter)
{
    const QString run = shownRun();
    const QString folder = run.isEmpty() ? m_workspace : run;
    return QFileDialog::getSaveFileName(this, tr("Export"), QDir(folder).filePath(suggestedName), filter);
}

void MainWindow::reportExport(bool ok, const QString &path)
{
    if (ok)
        m_log->appendMessage(tr("Exported %1").arg(path));
    else
        showError(tr("Export failed"), tr("Cannot write %1.").arg(path));
}

void MainWindow::exportLossPng()
{
    const QString path = exportPath(QStringLiteral("loss.png"), tr("PNG images (*.png)"));
    if (!path.isEmpty())
        reportExport(m_lossChart->exportPng(path), path);
}

void MainWindow::exportLossCsv()
{
    const QString path = exportPath(QStringLiteral("loss.csv"), tr("CSV files (*.csv)"));
    if (!path.isEmpty())
        reportExport(m_lossChart->exportCsv(path), path);
}

void MainWindow::exportMetricsPng()
{
    const QString path = exportPath(QStringLiteral("evaluation.png"), tr("PNG images (*.png)"));
    if (!path.isEmpty())
        reportExport(m_metricsChart->exportPng(path), path);
}

void MainWindow::exportMetricsCsv()
{
    const QString path = exportPath(QStringLiteral("evaluation.csv"), tr("CSV files (*.csv)"));
    if (!path.isEmpty())
        reportExport(m_metricsChart->exportCsv(path), path);
}

void MainWindow::exportHeatmapPng()
{
    const QString path = exportPath(QStringLiteral("heatmap.png"), tr("PNG images (*.png)"));
    if (!path.isEmpty())
        reportExport(m_heatmap->grab().save(path, "PNG"), path);
}

// The opened run's network as TorchScript, written in the background (the
// run's data, already loaded for the explorer, gives the normalisation).
void MainWindow::exportNetwork()
{
    const std::shared_ptr<const RunData> run = m_explorerContext->runData();
    if (!run || !samePath(m_explorerContext->runPath(), shownRun())) {
        showError(tr("Export failed"), m_explorerContext->isLoading()
                                           ? tr("The run's data is still loading; try again in a moment.")
                                           : tr("Open a run first (Runs list or File > Open run)."));
        return;
    }
    const QString path = exportPath(QStringLiteral("model.pt"), tr("TorchScript (*.pt)"));
    if (path.isEmpty())
        return;
    m_log->appendMessage(tr("Writing the network of %1 to %2...").arg(m_explorerContext->runPath(), path));
    using Result = std::pair<bool, QString>;
    auto *watcher = new QFutureWatcher<Result>(this);
    connect(watcher, &QFutureWatcher<Result>::finished, this, [this, watcher, path] {
        const auto [ok, text] = watcher->result();
        watcher->deleteLater();
        if (ok)
            m_log->appendMessage(tr("Exported the network to %1; %2").arg(path, text));
        else
            showError(tr("Export failed"), text);
    });
    watcher->setFuture(QtConcurrent::run([run, path]() -> Result {
        try {
            return {true, QString::fromStdString(run->exportTorchScript(path.toStdString()))};
        } catch (const std::exception &e) {
            return {false, QString::fromStdString(e.what())};
        }
    }));
}

} // namespace liftlab
