#pragma once

#include "explorer/explorercontext.h"
#include "explorer/projectionworker.h"

#include <QHash>
#include <QWidget>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QStringListModel;
class QLayout;
class QListView;
class QPushButton;
class QSlider;
class QSpinBox;
class QToolBar;

namespace liftlab {

class EmbeddingView;
class ThumbnailModel;

// The embedding explorer: a 2-D projection (PCA or t-SNE) of the test
// subset's embedding at one evaluation step, with a slider over the run's
// evaluations to watch the embedding form during training. Each step's
// projection is computed once and kept in the run directory (RunData::
// saveProjection); t-SNE runs on a worker thread and its frames move the
// points live. A selection in the view fills the image grid below it.
class ExplorerPanel : public QWidget
{
    Q_OBJECT

public:
    explicit ExplorerPanel(ExplorerContext *context, QWidget *parent = nullptr);
    ~ExplorerPanel() override;

    EmbeddingView *view() const { return m_view; }
    ThumbnailModel *selectionModel() const { return m_gridModel; }
    QListView *selectionGrid() const { return m_grid; }
    QSlider *stepSlider() const { return m_stepSlider; }
    QLabel *progressLabel() const { return m_progress; }
    QLineEdit *classSearch() const { return m_classSearch; }

    // "tsne", "umap" or "pca"; takes effect with the next projection.
    QString method() const;
    void setMethod(const QString &method);
    TsneOptions tsneOptions() const;
    void setTsneOptions(const TsneOptions &options);
    UmapOptions umapOptions() const;
    void setUmapOptions(const UmapOptions &options);

    bool isRunning() const { return m_running != 0; }
    // Whether the projection thread is up (false after shutdown()).
    bool isWorkerThreadRunning() const;
    // The step and method whose projection the view shows (-1 if none).
    int64_t shownStep() const { return m_shownStep; }
    QString shownMethod() const { return m_shownMethod; }

    bool exportCsv(const QString &path) const;
    bool exportNpy(const QString &path, QString *error = nullptr) const;
    bool exportPng(const QString &path) const;

    // Cancels a projection and ends the worker thread (for closing the window).
    void shutdown();
    // Whether a user can see the panel: a dock tab behind another stays
    // "visible" to Qt, so the window says so (QDockWidget::visibilityChanged).
    // Out of sight, new projections wait: t-SNE would only slow the training.
    void setInSight(bool inSight);
    bool isInSight() const { return m_inSight && isVisible(); }

public Q_SLOTS:
    // Computes the current step's projection again with the settings shown.
    void rerun();
    void cancel();

Q_SIGNALS:
    // A point (click in the view, double-click in the grid) to search from.
    void queryRequested(int subset, qint64 index);
    void projectionStarted();
    void frameShown(int iteration, double klDivergence);
    void projectionFinished(bool cancelled);

protected:
    void showEvent(QShowEvent *event) override;

private:
    void createControls();
    void createView();
    QLayout *createStepRow();
    QLayout *createProjectionControls();
    QLayout *createToolBar();
    QWidget *createSelectionGrid();
    void onRunChanged();
    void onStepsChanged();
    void onEmbeddingChanged();
    void showOrCompute();
    void startProjection();
    void showCoordinates(const Matrix &coordinates, int64_t step, const QString &method, bool fit);
    void onFrame(quint64 id, const ProjectionFrame &frame);
    void onFinished(quint64 id, const ProjectionFrame &frame, bool cancelled);
    void onFailed(quint64 id, const QString &message);
    void onSelection(const QVector<int> &indices);
    void applyClassSearch();
    void updateStepLabel(int position);
    void updateButtons();
    QString exportPath(const QString &suggested, const QString &filter);
    static QString cacheKey(const QString &method, int64_t step) { return method + QLatin1Char('-') + QString::number(step); }

    ExplorerContext *m_context;
    ProjectionWorker *m_worker = nullptr;
    quint64 m_nextId = 0;
    quint64 m_running = 0; // id of the projection under way, 0 if none
    int64_t m_runningStep = -1;
    QString m_runningMethod;
    bool m_followFit = true; // fit each frame until the user moves the view
    bool m_deferred = false; // a projection waits for the panel to be seen
    bool m_inSight = true;
    QHash<QString, Matrix> m_projections; // method-step -> coordinates, this session
    int64_t m_shownStep = -1;
    QString m_shownMethod;

    EmbeddingView *m_view = nullptr;
    ThumbnailModel *m_gridModel = nullptr;
    QListView *m_grid = nullptr;
    QLabel *m_gridLabel = nullptr;
    QSlider *m_stepSlider = nullptr;
    QLabel *m_stepLabel = nullptr;
    QComboBox *m_methodBox = nullptr;
    QList<QWidget *> m_tsneFields; // shown with t-SNE
    QDoubleSpinBox *m_perplexityBox = nullptr;
    QDoubleSpinBox *m_learningRateBox = nullptr;
    QSpinBox *m_iterationsBox = nullptr;
    QList<QWidget *> m_umapFields; // shown with UMAP
    QSpinBox *m_neighborsBox = nullptr;
    QDoubleSpinBox *m_minDistBox = nullptr;
    QSpinBox *m_epochsBox = nullptr;
    QPushButton *m_rerunButton = nullptr;
    QPushButton *m_cancelButton = nullptr;
    QLabel *m_progress = nullptr;
    QToolBar *m_toolBar = nullptr;
    QLineEdit *m_classSearch = nullptr;         // highlights the classes whose name contains it
    QStringListModel *m_classNameModel = nullptr; // its completions
};

} // namespace liftlab
