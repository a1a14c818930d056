#pragma once

#include "train/divergence.h"
#include "training/uitypes.h"

#include <QMainWindow>
#include <QPointer>

#include <vector>

class QAction;
class QDockWidget;
class QLabel;
class QMessageBox;

namespace liftlab {

class RunActions;
class ComparisonWindow;
class DatasetBrowser;
class ExperimentPanel;
class ExplorerContext;
class ExplorerPanel;
class HeatmapPanel;
class LogPanel;
class LossChart;
class MetricsChart;
class RetrievalBrowser;
class RunFollower;
class RunListPanel;
class TrainingSession;

// The LiftLab window. Everything is a dock (layout remembered in QSettings);
// the toolbar starts, pauses and stops training of the experiment panel's
// configuration, which runs on a worker thread. The charts and the heatmap
// show one run at a time: the one training here (live, from the worker's
// signals) or one opened from the workspace (followed from its files).
class MainWindow : public QMainWindow
{
    Q_OBJECT

public:
    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    // The workspace folder new runs go to (created when the first run starts).
    void setWorkspace(const QString &folder);
    QString workspace() const { return m_workspace; }

    // Shows a run directory; the run training here switches back to live.
    // Returns false (after the error dialog) if it is not a readable run.
    bool openRun(const QString &runPath);
    // The run shown by the charts and heatmap.
    QString shownRun() const;

    ExperimentPanel *experimentPanel() const { return m_experiment; }
    LogPanel *logPanel() const { return m_log; }
    TrainingSession *session() const { return m_session; }
    ComparisonWindow *comparisonWindow() const { return m_compare; }

    // Shows the comparison window with that comparison folder. Returns false
    // (after the error dialog) if it is not a comparison.
    bool openComparison(const QString &folder);

    // Sizes the window and lays the docks out for a screen whose available
    // area is `screen` (logical pixels): three columns on a large screen,
    // more docks as tabs on a laptop's. The first start and View > Reset
    // layout use the window's screen.
    void applyDefaultLayout(const QSize &screen);

public Q_SLOTS:
    void startTraining();
    // The comparison window, for comparing losses on the current experiment.
    void showComparison();

Q_SIGNALS:
    // A run trained here ended (finished, stopped or failed).
    void runEnded(const QString &runPath);

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void createActions();
    void createDocks();
    QDockWidget *addDock(QWidget *widget, const QString &title, const char *name, Qt::DockWidgetArea area);
    void restoreLayout();
    void updateActions();
    void showError(const QString &title, const QString &message);
    void showLive();
    void connectExplorer();
    void showQuery(int subset, qint64 index);
    // Two or more runs ticked in the Runs list: their curves overlaid in the
    // Loss and Evaluation charts; fewer: the shown run again.
    void showTickedRuns(const QStringList &runs);

    void onStarted(const QString &runPath, const QStringList &classNames);
    void onSteps(const QVector<TrainingStep> &steps);
    void onEval(const EvalReport &report);
    void onSnapshot(const SnapshotFrame &frame);
    // The heatmap of a run opened from its directory (m_openedFrame).
    void showOpenedSnapshot();
    void onFinished(const QString &runPath, bool cancelled);
    void onFailed(const QString &runPath, const QString &message);
    void updateStatus(const TrainingStep &last);

    void openRunDialog();
    void exportLossPng();
    void exportLossCsv();
    void exportMetricsPng();
    void exportMetricsCsv();
    void exportHeatmapPng();
    void exportNetwork();
    QString exportPath(const QString &suggestedName, const QString &filter);
    void reportExport(bool ok, const QString &path);

    TrainingSession *m_session = nullptr;
    RunFollower *m_follower = nullptr;
    QString m_workspace;
    bool m_showingLive = true;
    bool m_overlay = false; // the charts draw ticked runs (showTickedRuns)

    // The live run's history, kept so the view can switch away and back.
    std::vector<TrainingStep> m_liveSteps;
    std::vector<EvalReport> m_liveEvals;
    SnapshotFrame m_liveFrame;
    SnapshotFrame m_openedFrame; // the last snapshot read from an opened run's directory
    double m_imagesPerSec = 0; // smoothed over recent steps
    DivergenceWatch m_divergence; // of the live run

    ExperimentPanel *m_experiment = nullptr;
    RunListPanel *m_runs = nullptr;
    LossChart *m_lossChart = nullptr;
    MetricsChart *m_metricsChart = nullptr;
    HeatmapPanel *m_heatmap = nullptr;
    LogPanel *m_log = nullptr;
    ExplorerContext *m_explorerContext = nullptr;
    ExplorerPanel *m_explorer = nullptr;
    RetrievalBrowser *m_retrieval = nullptr;
    DatasetBrowser *m_dataset = nullptr;
    ComparisonWindow *m_compare = nullptr;
    struct Docks
    {
        QDockWidget *experiment, *runs, *loss, *metrics, *heatmap, *log, *explorer, *retrieval, *dataset;
    } m_docks{};
    QPointer<QMessageBox> m_errorBox;

    RunActions *m_runActions = nullptr;
    QAction *m_openAction = nullptr;
    QAction *m_exportAction = nullptr;
    QLabel *m_runLabel = nullptr;
    QLabel *m_stepLabel = nullptr;
    QLabel *m_speedLabel = nullptr;
    QLabel *m_etaLabel = nullptr;
    QLabel *m_threadsLabel = nullptr;
};

} // namespace liftlab
