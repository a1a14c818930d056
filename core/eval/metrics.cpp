#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace liftlab {

namespace {

struct Contingency
{
    std::map<std::pair<int64_t, int64_t>, double> joint;
    std::map<int64_t, double> byLabel, byCluster;
    double n = 0;
};

Contingency contingency(const std::vector<int64_t> &labels, const std::vector<int64_t> &clusters)
{
    Contingency c;
    for (size_t i = 0; i < labels.size() && i < clusters.size(); ++i) {
        c.joint[{labels[i], clusters[i]}] += 1;
        c.byLabel[labels[i]] += 1;
        c.byCluster[clusters[i]] += 1;
        c.n += 1;
    }
    return c;
}

double entropy(const std::map<int64_t, double> &counts, double n)
{
    double h = 0;
    for (const auto &entry : counts)
        h -= entry.second / n * std::log(entry.second / n);
    return h;
}

double pairsOf(double count)
{
    return count * (count - 1) / 2;
}

} // namespace

double normalizedMutualInformation(const std::vector<int64_t> &labels, const std::vector<int64_t> &clusters)
{
    const Contingency c = contingency(labels, clusters);
    if (c.n == 0)
        return 0;
    double mutual = 0;
    for (const auto &[key, count] : c.joint)
        mutual += count / c.n * std::log(count * c.n / (c.byLabel.at(key.first) * c.byCluster.at(key.second)));
    const double h = entropy(c.byLabel, c.n) + entropy(c.byCluster, c.n);
    // Both partitions trivial (one class, one cluster): they agree perfectly.
    return h <= 0 ? 1.0 : std::max(0.0, 2 * mutual / h);
}

double pairwiseF1(const std::vector<int64_t> &labels, const std::vector<int64_t> &clusters)
{
    const Contingency c = contingency(labels, clusters);
    double truePositive = 0, predicted = 0, actual = 0;
    for (const auto &entry : c.joint)
        truePositive += pairsOf(entry.second);
    for (const auto &entry : c.byCluster)
        predicted += pairsOf(entry.second);
    for (const auto &entry : c.byLabel)
        actual += pairsOf(entry.second);
    if (predicted == 0 || actual == 0)
        return 0;
    const double precision = truePositive / predicted, recall = truePositive / actual;
    return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
}

double averagePrecisionAtR(const std::vector<bool> &relevant, int64_t r)
{
    if (r <= 0)
        return 0;
    double hits = 0, sum = 0;
    for (int64_t k = 0; k < r && k < int64_t(relevant.size()); ++k) {
        if (relevant[size_t(k)]) {
            hits += 1;
            sum += hits / double(k + 1);
        }
    }
    return sum / double(r);
}

PrecisionAtK precisionAtK(const std::vector<bool> &relevant, int64_t inGallery)
{
    PrecisionAtK p;
    double sum = 0;
    for (size_t i = 0; i < relevant.size(); ++i)
        if (relevant[i]) {
            ++p.hits;
            sum += double(p.hits) / double(i + 1);
        }
    p.precision = relevant.empty() ? 0 : double(p.hits) / double(relevant.size());
    const int64_t denominator = std::min<int64_t>(int64_t(relevant.size()), inGallery);
    p.averagePrecision = denominator > 0 ? sum / double(denominator) : std::numeric_limits<double>::quiet_NaN();
    return p;
}

} // namespace liftlab
