#include "train/prefetcher.h"

#include <chrono>

namespace liftlab {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace

Prefetcher::Prefetcher(Make make, int64_t firstStep, int64_t endStep, int depth)
    : m_make(std::move(make))
    , m_end(endStep)
    , m_depth(size_t(std::max(depth, 1)))
    , m_next(firstStep)
    , m_expected(firstStep)
    , m_worker([this] { work(); })
{
}

Prefetcher::~Prefetcher()
{
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_changed.notify_all();
    m_worker.join();
}

void Prefetcher::work()
{
    std::unique_lock lock(m_mutex);
    while (!m_stop) {
        if (m_ready.size() >= m_depth || m_next >= m_end) {
            m_changed.wait(lock);
            continue;
        }
        const int64_t step = m_next++;
        const uint64_t generation = m_generation;
        lock.unlock();
        const Clock::time_point start = Clock::now();
        Made made{step, {}, nullptr};
        try {
            made.batch = m_make(step);
        } catch (...) {
            made.error = std::current_exception();
        }
        lock.lock();
        m_making += secondsSince(start);
        if (generation == m_generation) {
            m_ready.push_back(std::move(made));
            m_changed.notify_all();
        }
    }
}

Batch Prefetcher::take(int64_t step)
{
    const Clock::time_point start = Clock::now();
    std::unique_lock lock(m_mutex);
    if (step != m_expected) {
        m_ready.clear();
        m_next = step;
        ++m_generation;
        m_changed.notify_all();
    }
    m_expected = step + 1;
    if (step >= m_end) { // past the end: made here
        lock.unlock();
        return m_make(step);
    }
    m_changed.wait(lock, [&] { return !m_ready.empty(); });
    Made made = std::move(m_ready.front());
    m_ready.pop_front();
    lock.unlock();
    m_changed.notify_all();
    m_waited += secondsSince(start);
    if (made.error)
        std::rethrow_exception(made.error);
    return std::move(made.batch);
}

double Prefetcher::makingSeconds() const
{
    std::lock_guard lock(m_mutex);
    return m_making;
}

} // namespace liftlab
