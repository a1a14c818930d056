#include "train/divergence.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace liftlab {

std::string DivergenceWatch::add(int64_t step, double loss)
{
    if (m_warned || !std::isfinite(loss))
        return {}; // the trainer stops at a non-finite loss and says why
    if (m_first < 0)
        m_first = std::max(std::abs(loss), kSmallest);
    const double average = m_average.add(loss);
    if (!(average > kGrowth * m_first))
        return {};
    m_warned = true;
    char text[200];
    std::snprintf(text, sizeof text,
                  "the loss grew from %.3g to %.3g by step %lld: the run is diverging (is the learning rate too "
                  "large?)",
                  m_first, average, (long long)step);
    return text;
}

} // namespace liftlab
