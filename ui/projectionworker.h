#pragma once

#include "project/projection.h"

#include <QMetaType>
#include <QObject>
#include <QString>

#include <atomic>
#include <mutex>

namespace liftlab {

// One projection to compute: PCA or t-SNE of an evaluation's embedding.
struct ProjectionRequest
{
    quint64 id = 0;       // increasing; frames and results carry it back
    QString method;       // "pca" or "tsne"
    int64_t step = -1;    // the evaluation step the data belongs to
    TsneOptions options;
    Matrix data;          // [N, d]
};

// Computes projections on its own thread (moved there by ExplorerPanel, the
// Tiled FolderScanner shape): requests arrive as queued calls, t-SNE frames
// and the result leave as copied values in queued signals. cancel() is
// thread-safe and stops t-SNE at its next iteration.
class ProjectionWorker : public QObject
{
    Q_OBJECT

public:
    explicit ProjectionWorker(QObject *parent = nullptr);

    // Thread-safe: cancels every request with an id up to `id` (the one
    // running and any still queued).
    void cancelUpTo(quint64 id);

public Q_SLOTS:
    void compute(const liftlab::ProjectionRequest &request);

Q_SIGNALS:
    void frameReady(quint64 id, const liftlab::ProjectionFrame &frame);
    // The last frame: final unless cancelled.
    void finished(quint64 id, const liftlab::ProjectionFrame &frame, bool cancelled);
    void failed(quint64 id, const QString &message);

private:
    std::mutex m_mutex;
    quint64 m_cancelUpTo = 0; // guarded by m_mutex
    quint64 m_current = 0;    // guarded by m_mutex
    std::atomic<bool> m_cancel{false};
};

void registerProjectionMetaTypes();

} // namespace liftlab

Q_DECLARE_METATYPE(liftlab::ProjectionRequest)
Q_DECLARE_METATYPE(liftlab::ProjectionFrame)
