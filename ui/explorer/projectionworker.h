#pragma once

#include "projection/projection.h"
#include "training/workerthread.h"

#include <QMetaType>
#include <QObject>
#include <QString>

#include <atomic>
#include <mutex>

namespace liftlab {

// One projection to compute: PCA, t-SNE or UMAP of an evaluation's embedding.
struct ProjectionRequest
{
    quint64 id = 0;       // increasing; frames and results carry it back
    QString method;       // "pca", "tsne" or "umap"
    int64_t step = -1;    // the evaluation step the data belongs to
    TsneOptions options;
    UmapOptions umap;
    Matrix data;          // [N, d]
};

// "t-SNE", "UMAP" or "PCA": a method's name on screen.
QString projectionMethodName(const QString &method);

// Computes projections on a WorkerThread of its own, one request after
// another: t-SNE frames and the result come back as signals on the GUI
// thread, carrying the request's id. cancelUpTo() stops t-SNE or UMAP at
// its next iteration. The explorer and the comparison's embeddings each own one.
class ProjectionWorker : public QObject
{
    Q_OBJECT

public:
    explicit ProjectionWorker(const QString &threadName, QObject *parent = nullptr);
    ~ProjectionWorker() override;

    // Queues a request behind those before it.
    void request(const ProjectionRequest &request);
    // Cancels every request with an id up to `id` (the one running and any
    // still queued).
    void cancelUpTo(quint64 id);
    // Cancels everything and waits for the thread to end (request() starts it again).
    void shutdown();
    bool isThreadRunning() const { return m_thread.isThreadRunning(); }

Q_SIGNALS:
    void frameReady(quint64 id, const liftlab::ProjectionFrame &frame);
    // The last frame: final unless cancelled.
    void finished(quint64 id, const liftlab::ProjectionFrame &frame, bool cancelled);
    void failed(quint64 id, const QString &message);

private:
    // On the worker thread.
    void compute(const ProjectionRequest &request);

    WorkerThread m_thread;
    std::mutex m_mutex;
    quint64 m_cancelUpTo = 0; // guarded by m_mutex
    quint64 m_current = 0;    // guarded by m_mutex
    std::atomic<bool> m_cancel{false};
};

void registerProjectionMetaTypes();

} // namespace liftlab

Q_DECLARE_METATYPE(liftlab::ProjectionRequest)
Q_DECLARE_METATYPE(liftlab::ProjectionFrame)
