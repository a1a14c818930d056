#pragma once

#include "train/comparison.h"
#include "train/divergence.h"
#include "training/uitypes.h"
#include "util/movingaverage.h"

#include <QMainWindow>
#include <QPointer>
#include <QTimer>

#include <memory>
#include <optional>
#include <vector>

class QAction;
class QCheckBox;
class QComboBox;
class QLabel;
class QSpinBox;
class QStandardItemModel;
class QMessageBox;
class QPushButton;
class QSortFilterProxyModel;
class QTabWidget;
class QTableView;
class QVBoxLayout;

namespace liftlab {

class BandChart;
class ComparisonEmbeddings;
class ComparisonHeatmaps;
class LossChart;
class MetricsChart;
class ComparisonRetrieval;
class ComparisonSession;
class ComparisonTableModel;
class ExperimentPanel;
class ExplorerContext;
class LogPanel;
class LossForm;
class RunActions;
class TuningView;

// Compare mode: 2 to 6 losses, each with its parameters, trained on the
// experiment panel's experiment (same data, split, initialisation and
// batches) interleaved on one worker thread, all shown together: the loss
// curves and evaluations overlaid, the same batch's heatmap under each
// loss, t-SNE, UMAP or PCA of each run's test embedding with linked selection, one
// query's neighbours under each loss, and the results table. A comparison
// is a folder (Comparison: a manifest and one run directory per loss) and
// can be opened again, which shows all of the same from the files.
// With several seeds the curves are means with a 95% band and the table
// gives mean +- interval with ties marked; a sweep (the embedding-size and
// batch-size presets) plots a metric against the swept value; "Tune each
// loss first" runs a Tuning and shows its trials as they finish.
class ComparisonWindow : public QMainWindow
{
    Q_OBJECT

public:
    static constexpr int kMinLosses = 2;
    static constexpr int kMaxLosses = 6;

    // The base experiment is read from `experiment` when a comparison starts.
    explicit ComparisonWindow(ExperimentPanel *experiment, QWidget *parent = nullptr);
    ~ComparisonWindow() override;

    void setWorkspace(const QString &folder) { m_workspace = folder; }

    // The loss forms, replaced by these choices (names and parameters).
    void setLosses(const std::vector<LossChoice> &losses);
    std::vector<LossChoice> losses() const;
    int lossCount() const { return int(m_forms.size()); }
    void addLoss();

    // Empty when the losses and the base experiment can be compared;
    // otherwise what is wrong, in words.
    QString validationError() const;

    // Shows a comparison folder from its files. Returns false (after the
    // error dialog) if it is not a readable comparison.
    bool openComparison(const QString &folder);
    QString folder() const { return m_folder; }

    // The study: seeds per loss, a preset sweep ("" none, "embedding-size",
    // "batch-size"), and whether each loss is tuned first.
    QSpinBox *seedsBox() const { return m_seedsBox; }
    QComboBox *presetBox() const { return m_presetBox; }
    QCheckBox *tuneBox() const { return m_tuneBox; }
    QSpinBox *trialsBox() const { return m_trialsBox; }
    TuningView *tuningView() const { return m_tuningView; }
    BandChart *lossBands() const { return m_lossBands; }
    BandChart *recallBands() const { return m_recallBands; }
    BandChart *sweepChart() const { return m_sweepChart; }
    QStandardItemModel *summaryModel() const { return m_summaryModel; }

    bool exportCsv(const QString &path);
    bool exportMarkdown(const QString &path);

    // Stops a comparison (every run keeps a checkpoint) and ends the
    // worker threads; for closing the application.
    void shutdown();

    ComparisonSession *session() const { return m_session; }

public Q_SLOTS:
    void startComparison();

Q_SIGNALS:
    // A comparison trained here ended (finished, stopped or failed).
    void comparisonEnded(const QString &folder);

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    QWidget *createSetup();
    QWidget *createOverview();
    void createActions();
    void removeLoss(LossForm *form);
    void updateActions();
    void updateBaseSummary();
    // Sets every view up for these runs (none: empty views).
    void showComparison(const std::optional<Comparison> &comparison);
    void openRunsForExploring();
    void refreshTable();
    void refreshSeedViews(); // bands, the summary table and the sweep plot
    void applyPreset();
    QWidget *createStudy();
    void showError(const QString &title, const QString &message);
    void openDialog();
    void exportDialog(bool markdown);

    void onSteps(int run, const QVector<TrainingStep> &steps);
    void onEval(int run, const EvalReport &report);
    void onFinished(bool cancelled);

    ExperimentPanel *m_experiment;
    ComparisonSession *m_session = nullptr;
    QString m_workspace;
    QString m_folder;
    std::unique_ptr<Comparison> m_comparison; // the one shown
    std::vector<int64_t> m_runStep;           // last step of each run, live
    std::vector<DivergenceWatch> m_divergence; // of each run, live
    std::vector<int64_t> m_evalStep;          // last evaluated step of each run, live (-1: failed)
    std::vector<std::unique_ptr<ExplorerContext>> m_contexts; // one per loss (its first seed), for t-SNE and retrieval
    std::vector<std::vector<std::pair<int64_t, double>>> m_smoothedLoss; // of each run: (step, moving average)
    std::vector<std::vector<EvalReport>> m_runEvals;                     // of each run
    std::vector<MovingAverage> m_averages;                               // of each run's loss
    QTimer m_bandTimer; // redraws the bands a few times a second while training

    std::vector<LossForm *> m_forms;
    QVBoxLayout *m_formsLayout = nullptr;
    QPushButton *m_addButton = nullptr;
    QLabel *m_baseSummary = nullptr;
    QLabel *m_validation = nullptr;
    QWidget *m_setup = nullptr;
    QSpinBox *m_seedsBox = nullptr;
    QComboBox *m_presetBox = nullptr;
    QCheckBox *m_tuneBox = nullptr;
    QSpinBox *m_trialsBox = nullptr;
    QSpinBox *m_validationBox = nullptr;

    QTabWidget *m_tabs = nullptr;
    LossChart *m_lossChart = nullptr;
    MetricsChart *m_metricsChart = nullptr;
    ComparisonHeatmaps *m_heatmaps = nullptr;
    ComparisonEmbeddings *m_embeddings = nullptr;
    ComparisonRetrieval *m_retrieval = nullptr;
    TuningView *m_tuningView = nullptr;
    BandChart *m_lossBands = nullptr;
    BandChart *m_recallBands = nullptr;
    BandChart *m_sweepChart = nullptr;
    QComboBox *m_sweepMetric = nullptr;
    QWidget *m_sweepTab = nullptr;
    QTabWidget *m_resultsTabs = nullptr;
    QStandardItemModel *m_summaryModel = nullptr;
    ComparisonTableModel *m_table = nullptr;
    QSortFilterProxyModel *m_sortedTable = nullptr;
    QTableView *m_tableView = nullptr;
    QLabel *m_folderLabel = nullptr;
    LogPanel *m_log = nullptr;
    QLabel *m_progressLabel = nullptr;
    QPointer<QMessageBox> m_errorBox;

    RunActions *m_runActions = nullptr;
    QAction *m_openAction = nullptr;
};

} // namespace liftlab
