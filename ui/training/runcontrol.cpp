#include "training/runcontrol.h"

namespace liftlab {

LoadMonitor RunControl::loadMonitor(std::function<void(int64_t done, int64_t total)> progress) const
{
    LoadMonitor monitor;
    monitor.cancel = &m_cancel;
    monitor.progress = [progress = std::move(progress), lastPercent = int64_t(-1)](int64_t done, int64_t total) mutable {
        const int64_t percent = total > 0 ? 100 * done / total : 100;
        if (percent != lastPercent)
            progress(done, total);
        lastPercent = percent;
    };
    return monitor;
}

void RunControl::reset()
{
    m_cancel.store(false);
    std::lock_guard<std::mutex> lock(m_mutex);
    m_paused = false;
}

void RunControl::setPaused(bool paused)
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_paused = paused;
    }
    m_wake.notify_all();
}

void RunControl::stop()
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_cancel.store(true);
    }
    m_wake.notify_all();
}

bool RunControl::waitWhilePaused(const std::function<void(bool paused)> &pausedChanged)
{
    std::unique_lock<std::mutex> lock(m_mutex);
    if (!m_paused || m_cancel.load())
        return false;
    lock.unlock();
    pausedChanged(true);
    lock.lock();
    m_wake.wait(lock, [this] { return !m_paused || m_cancel.load(); });
    lock.unlock();
    if (!m_cancel.load()) // a stop while paused ends the run instead
        pausedChanged(false);
    return true;
}

} // namespace liftlab
