#include "charts/downsample.h"

#include <algorithm>
#include <cmath>

namespace liftlab {

QList<QPointF> downsampleMinMax(const std::vector<double> &x, const std::vector<double> &y, double xMin, double xMax,
                                int buckets)
{
    QList<QPointF> out;
    const size_t n = std::min(x.size(), y.size());
    if (n == 0)
        return out;
    // First index with x >= xMin and first with x > xMax, widened by one.
    size_t begin = size_t(std::lower_bound(x.begin(), x.begin() + n, xMin) - x.begin());
    size_t end = size_t(std::upper_bound(x.begin(), x.begin() + n, xMax) - x.begin());
    begin = begin > 0 ? begin - 1 : 0;
    end = std::min(n, end + 1);
    if (begin >= end)
        return out;

    buckets = std::max(buckets, 1);
    if (end - begin <= size_t(2 * buckets) || !(xMax > xMin)) {
        out.reserve(int(end - begin));
        for (size_t i = begin; i < end; ++i)
            out.append(QPointF(x[i], y[i]));
        return out;
    }

    out.reserve(2 * buckets + 2);
    const double width = (xMax - xMin) / buckets;
    size_t i = begin;
    while (i < end) {
        const double b = std::floor((x[i] - xMin) / width);
        size_t lo = i, hi = i, j = i;
        for (; j < end && std::floor((x[j] - xMin) / width) == b; ++j) {
            if (y[j] < y[lo])
                lo = j;
            if (y[j] > y[hi])
                hi = j;
        }
        const size_t first = std::min(lo, hi), second = std::max(lo, hi);
        out.append(QPointF(x[first], y[first]));
        if (second != first)
            out.append(QPointF(x[second], y[second]));
        i = j;
    }
    return out;
}

} // namespace liftlab
