#pragma once

#include <QList>
#include <QPointF>

#include <vector>

namespace liftlab {

// Display-only reduction of a long curve: the points with x in [xMin, xMax]
// are split into `buckets` equal x ranges (one per pixel column) and each
// bucket keeps its minimum and maximum, in the order they occur, so spikes
// stay visible. When there are no more points than 2 x buckets, they are
// returned unchanged. One point on each side of the range is kept so the
// line reaches the plot edges. `x` must be non-decreasing.
QList<QPointF> downsampleMinMax(const std::vector<double> &x, const std::vector<double> &y, double xMin, double xMax,
                                int buckets);

} // namespace liftlab
