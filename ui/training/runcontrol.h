#pragma once

#include "data/loadmonitor.h"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>

namespace liftlab {

// Pause and stop of training on a worker thread, set from the GUI thread.
// The worker's event loop is busy while it trains, so these are plain
// thread-safe calls rather than queued signals; both act between batches.
// Shared by the training and the comparison workers.
class RunControl
{
public:
    // Clears stop and pause (before a run is requested).
    void reset();
    // The next waitWhilePaused() blocks until resumed or stopped.
    void setPaused(bool paused);
    // The trainer saves a checkpoint after the current batch and ends.
    void stop();
    // What Trainer::run() watches.
    const std::atomic<bool> &cancelFlag() const { return m_cancel; }
    bool isStopped() const { return m_cancel.load(); }
    // Watching a dataset load on the worker thread: stop() ends it, and
    // `progress` hears of it about each percent.
    LoadMonitor loadMonitor(std::function<void(int64_t done, int64_t total)> progress) const;

    // On the worker thread, between batches: blocks while paused. Calls
    // `pausedChanged(true)` before blocking and `pausedChanged(false)` once
    // resumed (not when a stop ended the pause). Returns whether it paused.
    bool waitWhilePaused(const std::function<void(bool paused)> &pausedChanged);

private:
    std::atomic<bool> m_cancel{false};
    std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_paused = false; // guarded by m_mutex
};

} // namespace liftlab
