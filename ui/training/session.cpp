#include "training/session.h"

#include "train/trainer.h"
#include "training/uitypes.h"

namespace liftlab {

Session::Session(const QString &threadName, QObject *parent)
    : QObject(parent)
    , m_thread(threadName)
{
    registerUiMetaTypes();
    connect(&m_thread, &WorkerThread::stateChanged, this, &Session::stateChanged);
}

void Session::log(const QString &text)
{
    m_thread.post([this, text] { Q_EMIT logMessage(text); });
}

LoadMonitor Session::loadMonitor(RunControl &control)
{
    return control.loadMonitor([this](int64_t done, int64_t total) {
        m_thread.post([this, done, total] { Q_EMIT loadProgress(done, total); });
    });
}

void Session::reportSkippedImages(const Trainer &trainer)
{
    if (trainer.skippedImages().empty())
        return;
    m_thread.post([this, count = int(trainer.skippedImages().size()), lines = skippedImageLines(trainer),
                   file = QString::fromStdString(trainer.skippedImagesPath())] {
        Q_EMIT imagesSkipped(count, lines, file);
    });
}

void Session::setPaused(bool paused)
{
    m_thread.setPaused(paused);
}

void Session::stop()
{
    m_thread.stop();
}

void Session::shutdown()
{
    m_thread.shutdown();
}

} // namespace liftlab
