// Margin loss with distance-weighted sampling (Wu, Manmatha, Smola,
// Krähenbühl, ICCV 2017). On the L2-normalised embeddings, for triplets
// (a, p, n) drawn by distance-weighted sampling:
//   L = sum [ (alpha + D_ap - beta)_+ + (alpha - D_an + beta)_+ ] / #(non-zero terms)
// with beta, the boundary between positive and negative distances, learned
// (initial 1.2, margin alpha 0.2, sampling cut-offs 0.5 and 1.4, all from
// the paper). Anchor a's negatives are drawn from a stream of its own,
// seeded by (seed, step, a), see beginStep, so the rows can be sampled in
// parallel.
#include "losses/loss.h"
#include "losses/rowwise.h"
#include "util/mix.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <type_traits>

namespace liftlab {

namespace {

// SplitMix64 (Steele, Lea, Flood 2014): a random stream per anchor and step
// for the price of one integer. A std::mt19937_64 per anchor spent more time
// filling its 312-word state than the sampling took.
class AnchorStream
{
public:
    using result_type = uint64_t;
    AnchorStream(uint64_t seed, int64_t step, int64_t anchor)
        : m_state(seed * 0x9E3779B97F4A7C15ull ^ uint64_t(step) * 0xBF58476D1CE4E5B9ull
                  ^ uint64_t(anchor) * 0x94D049BB133111EBull)
    {
        (*this)();
    }
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return ~result_type(0); }
    result_type operator()()
    {
        return mix64(m_state += 0x9E3779B97F4A7C15ull); // SplitMix64
    }

private:
    uint64_t m_state;
};

// Anchor a's triplets (a, p, n), appended to `out`, from its row of distances.
template <typename T>
void sampleAnchor(int64_t a, const T *d, const int64_t *y, int64_t b, int64_t dim, double cutoff, double nonzeroCutoff,
                  AnchorStream &rng, std::vector<int64_t> &out)
{
    // 1/q(d) in logs, over a's negatives; the others get no weight. In the
    // distances' precision: float's logarithms are the sampler's main cost.
    const T n = T(dim);
    std::vector<T> logWeight(static_cast<size_t>(b), -INFINITY);
    std::vector<double> cumulative(static_cast<size_t>(b));
    T top = -INFINITY;
    bool anyNegative = false;
    for (int64_t k = 0; k < b; ++k) {
        if (y[k] == y[a])
            continue;
        anyNegative = true;
        if (d[k] >= nonzeroCutoff)
            continue;
        const T dk = std::max(d[k], T(cutoff));
        logWeight[size_t(k)] = (2 - n) * std::log(dk) - (n - 3) / 2 * std::log(std::max(1 - dk * dk / 4, T(1e-8)));
        top = std::max(top, logWeight[size_t(k)]);
    }
    if (!anyNegative)
        return;
    const bool uniform = top == -INFINITY; // no negative within the cut-off
    double total = 0;
    for (int64_t k = 0; k < b; ++k) {
        if (uniform)
            total += y[k] != y[a] ? 1.0 : 0.0;
        else if (logWeight[size_t(k)] != -INFINITY)
            total += double(std::exp(logWeight[size_t(k)] - top));
        cumulative[size_t(k)] = total;
    }
    std::uniform_real_distribution<double> draw(0.0, total);
    for (int64_t p = 0; p < b; ++p) {
        if (p == a || y[p] != y[a])
            continue;
        // The first k with cumulative[k] > u: zero-weight entries are never chosen.
        const double u = draw(rng);
        const int64_t k = std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin();
        out.insert(out.end(), {a, p, std::min(k, b - 1)});
    }
}

} // namespace

torch::Tensor distanceWeightedTriplets(const torch::Tensor &distances, const torch::Tensor &labels, int64_t dim,
                                       double cutoff, double nonzeroCutoff, uint64_t seed, int64_t step)
{
    const torch::Tensor dist = distances.detach().to(torch::kFloat64).contiguous();
    const torch::Tensor label = labels.to(torch::kInt64).contiguous();
    const int64_t b = dist.size(0);
    std::vector<int64_t> triplets;
    for (int64_t a = 0; a < b; ++a) {
        AnchorStream rng(seed, step, a);
        sampleAnchor(a, dist.data_ptr<double>() + a * b, label.data_ptr<int64_t>(), b, dim, cutoff, nonzeroCutoff, rng,
                     triplets);
    }
    return torch::tensor(triplets, torch::kInt64).view({-1, 3});
}

namespace {

class MarginLoss : public Loss
{
public:
    MarginLoss(const LossParams &p, const LossContext &context)
        : m_alpha(p.real("alpha"))
        , m_cutoff(p.real("cutoff"))
        , m_nonzeroCutoff(p.real("nonzero-cutoff"))
        , m_lrScale(p.real("lr-scale"))
        , m_seed(context.seed)
    {
        m_beta = register_parameter("beta", torch::full({1}, p.real("beta"), torch::kFloat32));
    }

    double learningRateScale() const override { return m_lrScale; }
    void beginStep(int64_t step) override { m_step = step; }

    LossOutput compute(const torch::Tensor &embeddings, const torch::Tensor &labels) override
    {
        if (!fastKernels(embeddings))
            return generic(embeddings, labels);
        const int64_t b = embeddings.size(0), dim = embeddings.size(1);
        const torch::Tensor labelsCpu = labels.to(torch::kCPU, torch::kInt64).contiguous();
        const int64_t *y = labelsCpu.data_ptr<int64_t>();
        const double beta = m_beta.item<double>();
        // Each row's terms, and their derivatives with respect to beta
        // (-1 per active positive term, +1 per active negative one).
        std::vector<double> betaSlope(static_cast<size_t>(b), 0.0);
        const RowwiseResult r = rowwiseLoss(normalizeRows(embeddings), PairSpace::Distance, false,
                                            [&](int64_t a, const auto *d, auto *grad, auto *) {
            using T = std::remove_const_t<std::remove_pointer_t<decltype(d)>>;
            std::vector<int64_t> triplets;
            AnchorStream rng(m_seed, m_step, a);
            sampleAnchor(a, d, y, b, dim, m_cutoff, m_nonzeroCutoff, rng, triplets);
            RowTerm row;
            for (size_t t = 0; t < triplets.size(); t += 3) {
                const int64_t p = triplets[t + 1], n = triplets[t + 2];
                const double positive = m_alpha + d[p] - beta, negative = m_alpha - d[n] + beta;
                if (positive > 0) {
                    row.value += positive;
                    row.count += 1;
                    grad[p] += T(1);
                    betaSlope[size_t(a)] -= 1;
                }
                if (negative > 0) {
                    row.value += negative;
                    row.count += 1;
                    grad[n] -= T(1);
                    betaSlope[size_t(a)] += 1;
                }
                row.active += 1; // triplets, for the fraction below
            }
            return row;
        });
        // beta's share: the same normalisation as the rows' (their count).
        double slope = 0;
        for (double s : betaSlope)
            slope += s;
        const torch::Tensor betaTerm = (m_beta.to(r.loss.scalar_type()) - beta).sum() * (slope / std::max(r.count, 1.0));
        LossOutput out;
        out.loss = r.loss + betaTerm;
        out.activeFraction = r.active > 0 ? r.count / (2 * r.active) : 0.0;
        return out;
    }

private:
    // The same with torch operations (the generic kernels, any device). The
    // triplets are drawn on the CPU from the same per-anchor streams.
    LossOutput generic(const torch::Tensor &embeddings, const torch::Tensor &labels) const
    {
        const torch::Tensor d = pairwiseDistances(normalizeRows(embeddings));
        const torch::Tensor triplets = distanceWeightedTriplets(d.detach().cpu(), labels.cpu(), embeddings.size(1), m_cutoff,
                                                                m_nonzeroCutoff, m_seed, m_step).to(d.device());
        const torch::Tensor a = triplets.select(1, 0), p = triplets.select(1, 1), n = triplets.select(1, 2);
        const torch::Tensor beta = m_beta.to(d.scalar_type());
        const torch::Tensor positive = torch::relu(m_alpha + d.index({a, p}) - beta);
        const torch::Tensor negative = torch::relu(m_alpha - d.index({a, n}) + beta);
        const double count = ((positive.detach() > 0).sum() + (negative.detach() > 0).sum()).item<double>();
        LossOutput out;
        out.loss = (positive.sum() + negative.sum()) / std::max(count, 1.0);
        out.activeFraction = triplets.size(0) > 0 ? count / double(2 * triplets.size(0)) : 0.0;
        return out;
    }

    double m_alpha, m_cutoff, m_nonzeroCutoff, m_lrScale;
    uint64_t m_seed;
    int64_t m_step = 0;
    torch::Tensor m_beta;
};

} // namespace
LossInfo marginLossInfo()
{
    LossInfo info;
    info.name = "margin";
    info.title = "Margin (distance-weighted sampling)";
    info.description = "Wu et al. 2017: one negative per positive pair, drawn by distance-weighted sampling; positive "
                       "distances pushed below and negative ones above a learned boundary beta, by a margin alpha.";
    info.params = {
        {"alpha", ParamSpec::Kind::Real, 0.2, 0.0, 2.0, {}, "margin alpha around the boundary", 0.05, 0.5},
        {"beta", ParamSpec::Kind::Real, 1.2, 0.0, 2.0, {}, "initial boundary beta (learned)", 0.6, 1.6},
        {"cutoff", ParamSpec::Kind::Real, 0.5, 0.0, 2.0, {}, "distances below this are sampled as if at it"},
        {"nonzero-cutoff", ParamSpec::Kind::Real, 1.4, 0.0, 2.0, {},
         "negatives this far or farther are not sampled (their term would be zero)"},
        {"lr-scale", ParamSpec::Kind::Real, 10.0, 0.0, 1000.0, {}, "learning rate of beta relative to the network's"},
    };
    info.create = [](const LossParams &p, const LossContext &c) { return std::make_unique<MarginLoss>(p, c); };
    return info;
}

} // namespace liftlab
