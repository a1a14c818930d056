#include "explorer/projectionworker.h"

#include <algorithm>
#include <limits>

namespace liftlab {

QString projectionMethodName(const QString &method)
{
    if (method == QLatin1String("pca"))
        return QObject::tr("PCA");
    if (method == QLatin1String("umap"))
        return QObject::tr("UMAP");
    return QObject::tr("t-SNE");
}

void registerProjectionMetaTypes()
{
    qRegisterMetaType<liftlab::ProjectionRequest>();
    qRegisterMetaType<liftlab::ProjectionFrame>();
}

ProjectionWorker::ProjectionWorker(const QString &threadName, QObject *parent)
    : QObject(parent)
    , m_thread(threadName, nullptr, QThread::LowPriority) // the window and training come first
{
    registerProjectionMetaTypes();
}

ProjectionWorker::~ProjectionWorker()
{
    shutdown(); // compute() uses the members below the thread: it ends first
}

void ProjectionWorker::request(const ProjectionRequest &request)
{
    m_thread.enqueue([this, request] { compute(request); });
}

void ProjectionWorker::shutdown()
{
    cancelUpTo(std::numeric_limits<quint64>::max());
    m_thread.shutdown();
}

void ProjectionWorker::cancelUpTo(quint64 id)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_cancelUpTo = std::max(m_cancelUpTo, id);
    if (m_current != 0 && m_current <= m_cancelUpTo)
        m_cancel.store(true);
}

void ProjectionWorker::compute(const ProjectionRequest &request)
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_current = request.id;
        m_cancel.store(request.id <= m_cancelUpTo);
    }
    ProjectionFrame last;
    bool cancelled = m_cancel.load();
    try {
        if (cancelled) {
            // Superseded before it began: nothing to compute.
        } else if (request.method == QLatin1String("pca")) {
            last.coordinates = pca(request.data, 2);
            last.iterations = 1;
            last.iteration = 1;
            last.final = true;
        } else {
            // Frames go to the GUI thread as they come; the final one is the result.
            const auto onFrame = [&](const ProjectionFrame &frame) {
                if (frame.final) {
                    last = frame;
                    return;
                }
                last.iteration = frame.iteration;
                last.iterations = frame.iterations;
                last.klDivergence = frame.klDivergence;
                m_thread.post([this, id = request.id, frame] { Q_EMIT frameReady(id, frame); });
            };
            if (request.method == QLatin1String("umap")) {
                last.coordinates = umap(request.data, request.umap, onFrame, &m_cancel);
            } else {
                last.iterations = request.options.iterations;
                last.coordinates = tsne(request.data, request.options, onFrame, &m_cancel);
            }
            cancelled = m_cancel.load() && !last.final;
            last.final = !cancelled;
        }
    } catch (const std::exception &e) {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_current = 0;
        }
        m_thread.post([this, id = request.id, message = QString::fromStdString(e.what())] { Q_EMIT failed(id, message); });
        return;
    }
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_current = 0;
    }
    m_thread.post([this, id = request.id, last, cancelled] { Q_EMIT finished(id, last, cancelled); });
}

} // namespace liftlab
