#pragma once

// What the embedding explorer, the retrieval browser and the dataset browser
// share: one run (its images, labels and class names) and the test-set
// embedding of the evaluation step the user picked. Torch-free: the run is a
// RunData, or plain data handed in (tests, benchmarks).

#include "projection/projection.h"

#include <QImage>
#include <QObject>
#include <QStringList>

#include <functional>
#include <memory>
#include <vector>

namespace liftlab {

class RunData;

enum class Subset { Train = 0, Test = 1 };

class ExplorerContext : public QObject
{
    Q_OBJECT

public:
    // An image of a subset, as 8-bit pixels turned into a QImage.
    using ImageProvider = std::function<QImage(Subset subset, int64_t index)>;

    explicit ExplorerContext(QObject *parent = nullptr);
    ~ExplorerContext() override;

    // Opens a run directory in the background (RunData::open reads the whole
    // dataset); emits runChanged, or loadFailed with the reason. The last
    // embedding step is selected once it has loaded.
    void openRun(const QString &runPath);
    bool isLoading() const { return m_loading > 0; }
    // Plain data instead of a run: labels of both sets, class names and
    // the images. Steps and embeddings come with setEmbedding().
    void setData(std::vector<int64_t> testLabels, std::vector<int64_t> trainLabels, const QStringList &classNames,
                 ImageProvider images);
    void setEmbedding(int64_t step, const Matrix &embedding);
    void clear();

    std::shared_ptr<const RunData> runData() const { return m_run; }
    QString runPath() const { return m_runPath; }
    bool hasData() const { return !m_testLabels.empty(); }
    const QStringList &classNames() const { return m_classNames; }
    QString className(int64_t label) const;
    const std::vector<int64_t> &testLabels() const { return m_testLabels; }
    const std::vector<int64_t> &trainLabels() const { return m_trainLabels; }
    int64_t size(Subset subset) const;
    int64_t label(Subset subset, int64_t index) const;
    QImage image(Subset subset, int64_t index) const;

    // Evaluation steps with a saved embedding, ascending.
    const std::vector<int64_t> &steps() const { return m_steps; }
    // Re-reads the run's steps (a run being written gains evaluations);
    // emits stepsChanged if they changed.
    void refreshSteps();
    // Selects an evaluation step and loads its test embedding; emits
    // embeddingChanged. Returns false (and emits loadFailed) if unreadable.
    bool setStep(int64_t step);
    int64_t step() const { return m_step; }
    bool hasEmbedding() const { return m_embedding.rows > 0; }
    // The test set's embedding at step() [testSize, d].
    const Matrix &embedding() const { return m_embedding; }
    // Its rows scaled to unit length (computed once per step).
    const Matrix &normalizedEmbedding() const;

Q_SIGNALS:
    void loadingStarted(const QString &runPath);
    void runChanged();
    void stepsChanged();
    void embeddingChanged();
    void loadFailed(const QString &message);

private:
    void adoptRun(std::shared_ptr<const RunData> run, const QString &path);

    std::shared_ptr<const RunData> m_run;
    QString m_runPath;
    int m_loading = 0;
    quint64 m_generation = 0; // the latest openRun(); older loads are dropped
    QStringList m_classNames;
    std::vector<int64_t> m_testLabels;
    std::vector<int64_t> m_trainLabels;
    ImageProvider m_images;
    std::vector<int64_t> m_steps;
    int64_t m_step = -1;
    Matrix m_embedding;
    mutable Matrix m_normalized;
};

// A run's 8-bit image as a QImage (grayscale or RGB), owning its pixels.
QImage toQImage(int width, int height, int channels, const uint8_t *pixels);

} // namespace liftlab
