#pragma once

#include "train/events.h"
#include "util/movingaverage.h"

#include <chrono>
#include <cstdio>

namespace liftlab {

// A one-line progress bar with loss, images/s and ETA on a terminal; plain
// lines (one per ~5% of the run) when stdout is redirected.
class ProgressBar
{
public:
    explicit ProgressBar(FILE *out);
    void update(const TrainingStep &step);
    void message(const std::string &text); // printed on its own line
    void finish();

private:
    FILE *m_out;
    bool m_terminal;
    MovingAverage m_loss{0.95}, m_rate{0.95}; // so the first steps read right
    int64_t m_updates = 0;
    int64_t m_lastPrintedStep = -1;
    std::chrono::steady_clock::time_point m_lastDraw;
    bool m_lineOpen = false;
};

} // namespace liftlab
