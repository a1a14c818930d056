#pragma once

#include "explorer/explorercontext.h"

#include <QWidget>

#include <vector>

class QComboBox;
class QLabel;
class QListView;
class QPushButton;
class QSpinBox;

namespace liftlab {

class ThumbnailModel;

// Nearest-neighbour search in the embedding of the selected evaluation: a
// query (a test image picked in the explorer or a grid, or any image file,
// embedded with the run's model) against the test set as gallery, top K
// with distances and a green/red frame for the same/another class, and the
// query's precision@K and average precision over the K shown.
class RetrievalBrowser : public QWidget
{
    Q_OBJECT

public:
    enum class Metric { Euclidean, Cosine };

    struct Result
    {
        int64_t index = 0; // in the test set
        float distance = 0;
        int64_t label = -1;
        bool sameClass = false;
    };

    explicit RetrievalBrowser(ExplorerContext *context, QWidget *parent = nullptr);
    ~RetrievalBrowser() override;

    // A test image: its row of the embedding is the query, itself excluded.
    void setQueryIndex(int64_t testIndex);
    // A train image, embedded with the run's last checkpoint (in the background).
    void setQueryTrainImage(int64_t trainIndex);
    // An image file, embedded with the run's last checkpoint (in the background).
    void setQueryFile(const QString &path);
    // Any vector of the embedding's dimension (label -1: unknown class).
    void setQueryVector(const std::vector<float> &vector, const QImage &image, const QString &description,
                        int64_t label = -1);
    void clearQuery();

    // Parallel rows (the comparison window): only the scores and the results,
    // in one row; the query and K are shown once, above the rows.
    void setCompact(bool compact);

    int k() const;
    void setK(int k);
    Metric distanceMetric() const;
    void setDistanceMetric(Metric metric);

    bool hasQuery() const { return m_queryKind != QueryKind::None; }
    int64_t queryIndex() const { return m_queryKind == QueryKind::Test ? m_queryIndex : -1; }
    int64_t queryLabel() const { return m_queryLabel; }
    bool isEmbedding() const { return m_pendingEmbeds > 0; }
    const std::vector<Result> &results() const { return m_results; }
    // NaN when the query's class is unknown.
    double precisionAtK() const { return m_precision; }
    double averagePrecision() const { return m_ap; }
    ThumbnailModel *model() const { return m_model; }
    QLabel *statsLabel() const { return m_stats; }

Q_SIGNALS:
    void resultsChanged();
    // Another query from a result (double-click).
    void queryRequested(int subset, qint64 index);
    void failed(const QString &message);

private:
    // The query as a row of the gallery's space (empty when it has none).
    std::vector<float> queryVector(const Matrix &gallery, bool cosine) const;
    // Sets the precision and AP of the results and says them.
    QString precisionText(bool queryInGallery);
    enum class QueryKind { None, Test, Vector };

    void search();
    void embedInBackground(const QString &path, const QImage &image, const QString &description, int64_t label,
                           const QString &temporaryFile);
    void openFileDialog();
    void showQueryImage(const QImage &image);

    ExplorerContext *m_context;
    QueryKind m_queryKind = QueryKind::None;
    int64_t m_queryIndex = -1;
    int64_t m_queryLabel = -1;
    std::vector<float> m_queryVector;
    QString m_queryDescription;
    std::vector<Result> m_results;
    double m_precision = 0;
    double m_ap = 0;
    int m_pendingEmbeds = 0;
    quint64 m_generation = 0; // the latest query; older embeddings are dropped

    QLabel *m_queryImage = nullptr;
    QLabel *m_queryText = nullptr;
    QPushButton *m_openButton = nullptr;
    QSpinBox *m_kBox = nullptr;
    QComboBox *m_metricBox = nullptr;
    QLabel *m_stats = nullptr;
    ThumbnailModel *m_model = nullptr;
    QListView *m_view = nullptr;
};

} // namespace liftlab
