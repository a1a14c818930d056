#pragma once

#include "util/movingaverage.h"

#include <cstdint>
#include <string>

namespace liftlab {

// Tells a diverging run apart from a noisy one, from its training losses:
// the moving average of the loss grows past 100 times the loss of the first
// step (a learning rate too large takes the lifted loss from ~8 to ~1e8 in
// two steps). A loss that is not finite is left to the trainer, which stops
// there. Speaks once per run.
class DivergenceWatch
{
public:
    // The warning, in words, the first time `loss` at `step` shows the run
    // diverging; empty otherwise.
    std::string add(int64_t step, double loss);

private:
    static constexpr double kGrowth = 100;
    static constexpr double kSmallest = 0.1; // a loss starting near 0 may grow a little without diverging

    MovingAverage m_average{0.9};
    double m_first = -1; // the first step's loss; -1 until then
    bool m_warned = false;
};

} // namespace liftlab
