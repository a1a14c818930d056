#pragma once

#include <torch/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace liftlab {

// The images and labels of one training step.
struct Batch
{
    std::vector<int64_t> indices;
    torch::Tensor images;
    torch::Tensor labels;
};

// Makes the batches of the coming training steps on a worker thread while
// the current step trains, so the step does not wait for decoding,
// cropping and normalising. A batch is a function of its step alone
// (stepGenerator), so what training sees does not depend on the timing.
class Prefetcher
{
public:
    using Make = std::function<Batch(int64_t step)>;

    // Makes up to `depth` batches ahead, from `firstStep` on, for steps
    // below `endStep`.
    Prefetcher(Make make, int64_t firstStep, int64_t endStep, int depth = 2);
    ~Prefetcher(); // stops the worker
    Prefetcher(const Prefetcher &) = delete;
    Prefetcher &operator=(const Prefetcher &) = delete;

    // The batch of `step`, waiting while it is being made. A step other than
    // the one after the last taken starts over from there. Rethrows what
    // making the batch threw.
    Batch take(int64_t step);

    // Seconds take() has waited, and seconds the worker has spent making batches.
    double waitedSeconds() const { return m_waited; }
    double makingSeconds() const;

private:
    struct Made
    {
        int64_t step;
        Batch batch;
        std::exception_ptr error;
    };
    void work();

    Make m_make;
    const int64_t m_end;
    const size_t m_depth;
    mutable std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<Made> m_ready;
    int64_t m_next = 0;     // the next step to make
    int64_t m_expected = 0; // the step take() is expected to ask for
    uint64_t m_generation = 0; // bumped when take() starts over: batches being made are dropped
    bool m_stop = false;
    double m_waited = 0;  // take()'s thread only
    double m_making = 0;  // under m_mutex
    std::thread m_worker; // last: starts once everything above is set
};

} // namespace liftlab
