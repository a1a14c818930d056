// Margin loss with distance-weighted sampling (Wu, Manmatha, Smola,
// Krähenbühl, ICCV 2017). On the L2-normalised embeddings, for triplets
// (a, p, n) from distanceWeightedTriplets:
//   L = sum [ (alpha + D_ap - beta)_+ + (alpha - D_an + beta)_+ ] / #(non-zero terms)
// with beta, the boundary between positive and negative distances, learned
// (initial 1.2, margin alpha 0.2, sampling cut-offs 0.5 and 1.4, all from
// the paper). Sampling draws from stepGenerator(seed, step), see beginStep.
#include "data/sampler.h"
#include "losses/loss.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace liftlab {

torch::Tensor distanceWeightedTriplets(const torch::Tensor &distances, const torch::Tensor &labels, int64_t dim,
                                       double cutoff, double nonzeroCutoff, std::mt19937_64 &rng)
{
    const torch::Tensor dist = distances.detach().to(torch::kFloat64).contiguous();
    const torch::Tensor label = labels.to(torch::kInt64).contiguous();
    const int64_t b = dist.size(0);
    const double *d = dist.data_ptr<double>();
    const int64_t *y = label.data_ptr<int64_t>();
    const double n = double(dim);
    std::vector<int64_t> triplets;
    std::vector<double> logWeight(static_cast<size_t>(b)), cumulative(static_cast<size_t>(b));
    for (int64_t a = 0; a < b; ++a) {
        // 1/q(d) in logs, over a's negatives; the others get no weight.
        double top = -INFINITY;
        bool anyNegative = false;
        for (int64_t k = 0; k < b; ++k) {
            logWeight[k] = -INFINITY;
            if (y[k] == y[a])
                continue;
            anyNegative = true;
            const double dk = std::max(d[a * b + k], cutoff);
            if (d[a * b + k] >= nonzeroCutoff)
                continue;
            logWeight[k] = (2.0 - n) * std::log(dk) - (n - 3.0) / 2.0 * std::log(std::max(1.0 - 0.25 * dk * dk, 1e-8));
            top = std::max(top, logWeight[k]);
        }
        if (!anyNegative)
            continue;
        double total = 0;
        for (int64_t k = 0; k < b; ++k) {
            const bool uniform = top == -INFINITY; // no negative within the cut-off
            total += uniform ? (y[k] != y[a] ? 1.0 : 0.0) : std::exp(logWeight[k] - top);
            cumulative[k] = total;
        }
        std::uniform_real_distribution<double> uniform(0.0, total);
        for (int64_t p = 0; p < b; ++p) {
            if (p == a || y[p] != y[a])
                continue;
            const double u = uniform(rng);
            // The first k with cumulative[k] > u; skipping zero-weight entries.
            const int64_t k = std::min<int64_t>(b - 1, std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin());
            triplets.insert(triplets.end(), {a, p, k});
        }
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
        const torch::Tensor d = pairwiseDistances(normalizeRows(embeddings));
        std::mt19937_64 rng = stepGenerator(m_seed, m_step, 3);
        const torch::Tensor t = distanceWeightedTriplets(d, labels, embeddings.size(1), m_cutoff, m_nonzeroCutoff, rng);
        const torch::Tensor beta = m_beta.to(embeddings.scalar_type());
        const torch::Tensor a = t.select(1, 0), p = t.select(1, 1), n = t.select(1, 2);
        const int64_t b = d.size(0);
        const torch::Tensor flat = d.flatten();
        const torch::Tensor positive = torch::relu(m_alpha + flat.index_select(0, a * b + p) - beta);
        const torch::Tensor negative = torch::relu(m_alpha - flat.index_select(0, a * b + n) + beta);
        const torch::Tensor active = (positive.detach() > 0).sum() + (negative.detach() > 0).sum();
        LossOutput out;
        out.loss = (positive.sum() + negative.sum()) / active.clamp_min(1).to(embeddings.scalar_type());
        out.activeFraction = t.size(0) > 0 ? active.item<double>() / double(2 * t.size(0)) : 0.0;
        return out;
    }

private:
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
        {"alpha", ParamSpec::Kind::Real, 0.2, 0.0, 2.0, {}, "margin alpha around the boundary"},
        {"beta", ParamSpec::Kind::Real, 1.2, 0.0, 2.0, {}, "initial boundary beta (learned)"},
        {"cutoff", ParamSpec::Kind::Real, 0.5, 0.0, 2.0, {}, "distances below this are sampled as if at it"},
        {"nonzero-cutoff", ParamSpec::Kind::Real, 1.4, 0.0, 2.0, {},
         "negatives this far or farther are not sampled (their term would be zero)"},
        {"lr-scale", ParamSpec::Kind::Real, 10.0, 0.0, 1000.0, {}, "learning rate of beta relative to the network's"},
    };
    info.create = [](const LossParams &p, const LossContext &c) { return std::make_unique<MarginLoss>(p, c); };
    return info;
}

} // namespace liftlab
