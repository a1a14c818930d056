#include "explorer/explorercontext.h"

#include "error.h"
#include "projection/rundata.h"

#include <QFutureWatcher>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>

namespace liftlab {

namespace {

struct Loaded
{
    std::shared_ptr<const RunData> run;
    QString error;
};

} // namespace

QImage toQImage(int width, int height, int channels, const uint8_t *pixels)
{
    if (!pixels || width <= 0 || height <= 0 || (channels != 1 && channels != 3))
        return {};
    const QImage::Format format = channels == 3 ? QImage::Format_RGB888 : QImage::Format_Grayscale8;
    // The QImage only borrows the pixels: copy() before they go away.
    return QImage(pixels, width, height, width * channels, format).copy();
}

ExplorerContext::ExplorerContext(QObject *parent)
    : QObject(parent)
{
}

ExplorerContext::~ExplorerContext() = default;

void ExplorerContext::openRun(const QString &runPath)
{
    const quint64 generation = ++m_generation;
    ++m_loading;
    auto *watcher = new QFutureWatcher<Loaded>(this);
    connect(watcher, &QFutureWatcher<Loaded>::finished, this, [this, watcher, generation, runPath] {
        watcher->deleteLater();
        --m_loading;
        const Loaded loaded = watcher->result();
        if (generation != m_generation)
            return; // a newer run was asked for meanwhile
        if (!loaded.run) {
            Q_EMIT loadFailed(loaded.error);
            return;
        }
        adoptRun(loaded.run, runPath);
    });
    Q_EMIT loadingStarted(runPath);
    const std::string path = runPath.toStdString();
    watcher->setFuture(QtConcurrent::run([path]() -> Loaded {
        try {
            return {RunData::open(path), {}};
        } catch (const std::exception &e) {
            return {nullptr, QString::fromStdString(e.what())};
        }
    }));
}

void ExplorerContext::adoptRun(std::shared_ptr<const RunData> run, const QString &path)
{
    m_run = std::move(run);
    m_runPath = path;
    m_classNames.clear();
    for (const std::string &name : m_run->classNames())
        m_classNames.append(QString::fromStdString(name));
    m_testLabels = m_run->testLabels();
    m_trainLabels = m_run->trainLabels();
    std::weak_ptr<const RunData> weak = m_run;
    m_images = [weak](Subset subset, int64_t index) -> QImage {
        const std::shared_ptr<const RunData> r = weak.lock();
        if (!r)
            return {};
        const RunData::Image im = subset == Subset::Test ? r->testImage(index) : r->trainImage(index);
        return toQImage(im.width, im.height, im.channels, im.pixels.data());
    };
    m_steps = m_run->embeddingSteps();
    m_step = -1;
    m_embedding = Matrix();
    m_normalized = Matrix();
    Q_EMIT runChanged();
    Q_EMIT stepsChanged();
    if (!m_steps.empty())
        setStep(m_steps.back());
    else
        Q_EMIT embeddingChanged();
}

void ExplorerContext::setData(std::vector<int64_t> testLabels, std::vector<int64_t> trainLabels,
                              const QStringList &classNames, ImageProvider images)
{
    ++m_generation;
    m_run.reset();
    m_runPath.clear();
    m_testLabels = std::move(testLabels);
    m_trainLabels = std::move(trainLabels);
    m_classNames = classNames;
    m_images = std::move(images);
    m_steps.clear();
    m_step = -1;
    m_embedding = Matrix();
    m_normalized = Matrix();
    Q_EMIT runChanged();
    Q_EMIT stepsChanged();
}

void ExplorerContext::setEmbedding(int64_t step, const Matrix &embedding)
{
    if (std::find(m_steps.begin(), m_steps.end(), step) == m_steps.end()) {
        m_steps.insert(std::lower_bound(m_steps.begin(), m_steps.end(), step), step);
        Q_EMIT stepsChanged();
    }
    m_step = step;
    m_embedding = embedding;
    m_normalized = Matrix();
    Q_EMIT embeddingChanged();
}

void ExplorerContext::clear()
{
    setData({}, {}, {}, {});
}

QString ExplorerContext::className(int64_t label) const
{
    if (label >= 0 && label < m_classNames.size())
        return m_classNames.at(int(label));
    return label < 0 ? tr("unknown") : tr("class %1").arg(label);
}

int64_t ExplorerContext::size(Subset subset) const
{
    return int64_t(subset == Subset::Test ? m_testLabels.size() : m_trainLabels.size());
}

int64_t ExplorerContext::label(Subset subset, int64_t index) const
{
    const std::vector<int64_t> &labels = subset == Subset::Test ? m_testLabels : m_trainLabels;
    return index >= 0 && size_t(index) < labels.size() ? labels[size_t(index)] : -1;
}

QImage ExplorerContext::image(Subset subset, int64_t index) const
{
    if (!m_images || index < 0 || index >= size(subset))
        return {};
    return m_images(subset, index);
}

void ExplorerContext::refreshSteps()
{
    if (!m_run)
        return;
    std::vector<int64_t> steps = m_run->embeddingSteps();
    if (steps == m_steps)
        return;
    m_steps = std::move(steps);
    Q_EMIT stepsChanged();
}

bool ExplorerContext::setStep(int64_t step)
{
    if (!m_run) {
        // Plain data: only the embedding handed in exists.
        return step == m_step;
    }
    try {
        Matrix embedding = m_run->testEmbedding(step);
        if (embedding.rows != int64_t(m_testLabels.size()))
            throw Error(tr("the embedding of step %1 has %2 rows for %3 test images")
                            .arg(step)
                            .arg(embedding.rows)
                            .arg(m_testLabels.size())
                            .toStdString());
        m_embedding = std::move(embedding);
    } catch (const std::exception &e) {
        Q_EMIT loadFailed(QString::fromStdString(e.what()));
        return false;
    }
    m_step = step;
    m_normalized = Matrix();
    Q_EMIT embeddingChanged();
    return true;
}

const Matrix &ExplorerContext::normalizedEmbedding() const
{
    if (m_normalized.rows != m_embedding.rows || m_normalized.cols != m_embedding.cols)
        m_normalized = normalizedRows(m_embedding);
    return m_normalized;
}

} // namespace liftlab
