#pragma once

#include "explorer/projectionworker.h"

#include <QStringList>
#include <QVector>
#include <QWidget>

#include <vector>

class QComboBox;
class QLabel;
class QPushButton;

namespace liftlab {

class EmbeddingView;
class ExplorerContext;

// t-SNE, UMAP or PCA of each run's test embedding (its last evaluation), side by side.
// All runs embed the same test images, so every panel shows the same points
// (a fixed sample of at most kMaxPoints, to keep t-SNE to seconds) in the
// same class colours, and a selection in one panel is shown in all. The
// projections run one after another on a worker thread.
class ComparisonEmbeddings : public QWidget
{
    Q_OBJECT

public:
    static constexpr int kMaxPoints = 2000;

    explicit ComparisonEmbeddings(QWidget *parent = nullptr);
    ~ComparisonEmbeddings() override;

    // One panel per run; each context holds that run (opened by the owner).
    void setRuns(const QStringList &labels, const std::vector<ExplorerContext *> &contexts);
    // Projects each run's embedding once all contexts have one: now, or as
    // soon as they have loaded.
    void compute();
    // "tsne", "umap" or "pca", for the next compute().
    void setMethod(const QString &method);
    void cancel();
    // Cancels and ends the worker thread (for closing the window).
    void shutdown();

    int runCount() const { return int(m_runs.size()); }
    EmbeddingView *view(int run) const { return m_runs.at(size_t(run)).view; }
    bool isComputing() const { return m_pending > 0; }
    // Test-set index of a point of the panels.
    int64_t testIndex(int point) const { return m_sample.at(size_t(point)); }
    int pointCount() const { return int(m_sample.size()); }
    // The training step of the embedding a panel shows (-1: none yet).
    int64_t shownStep(int run) const { return m_runs.at(size_t(run)).step; }

Q_SIGNALS:
    void projectionsFinished();
    // A point was clicked: search from this test image.
    void queryRequested(qint64 testIndex);

private:
    struct Run
    {
        ExplorerContext *context = nullptr;
        EmbeddingView *view = nullptr;
        QLabel *title = nullptr;
        QString label;
        quint64 request = 0;
        int64_t step = -1;
    };
    void startProjections();
    void showFrame(quint64 id, const ProjectionFrame &frame, bool final);
    void linkSelection(int from, const QVector<int> &points);

    std::vector<Run> m_runs;
    std::vector<int64_t> m_sample; // test indices of the points
    int m_pending = 0;
    bool m_wanted = false; // compute() was asked while the runs were loading
    ProjectionWorker *m_worker = nullptr;
    quint64 m_nextId = 0;
    QWidget *m_grid = nullptr;
    QLabel *m_status = nullptr;
    QPushButton *m_computeButton = nullptr;
    QComboBox *m_methodBox = nullptr;
    QString m_method = QStringLiteral("tsne"); // of the projections shown or computing
};

} // namespace liftlab
