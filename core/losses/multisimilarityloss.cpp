// Multi-similarity loss (Wang, Han, Huang, Dong, Scott 2019) with its pair
// mining, on the cosine similarities S of the L2-normalised embeddings. For
// anchor i, with P_i its positives (itself excluded) and N_i its negatives:
//   mining:  negative k kept if S_ik + eps > min_{j in P_i} S_ij,
//            positive j kept if S_ij - eps < max_{k in N_i} S_ik;
//   L = 1/B sum_i [ 1/alpha log(1 + sum_{kept j} exp(-alpha (S_ij - lambda)))
//                 + 1/beta  log(1 + sum_{kept k} exp( beta  (S_ik - lambda))) ]
// over the anchors that keep at least one pair of each kind (the others add
// zero, as in the authors' code). Defaults: alpha 2 and beta 50 from the
// paper, lambda 0.5 and eps 0.1 from the authors' code.
#include "losses/loss.h"

namespace liftlab {

namespace {

class MultiSimilarityLoss : public Loss
{
public:
    explicit MultiSimilarityLoss(const LossParams &p)
        : m_alpha(p.real("alpha"))
        , m_beta(p.real("beta"))
        , m_lambda(p.real("lambda"))
        , m_epsilon(p.real("epsilon"))
    {
    }

    LossOutput compute(const torch::Tensor &embeddings, const torch::Tensor &labels) override
    {
        const int64_t b = embeddings.size(0);
        const torch::Tensor s = cosineSimilarities(embeddings);
        const torch::Tensor same = labels.unsqueeze(0).eq(labels.unsqueeze(1));
        const torch::Tensor positive = same & torch::eye(b, same.options()).logical_not();
        const torch::Tensor negative = same.logical_not();
        // Mining looks at the similarities only; it is not differentiated.
        const torch::Tensor sd = s.detach();
        const torch::Tensor hardestPositive = sd.masked_fill(positive.logical_not(), INFINITY).amin(1, true);
        const torch::Tensor hardestNegative = sd.masked_fill(negative.logical_not(), -INFINITY).amax(1, true);
        const torch::Tensor keptNegative = negative & (sd + m_epsilon > hardestPositive);
        const torch::Tensor keptPositive = positive & (sd - m_epsilon < hardestNegative);
        const torch::Tensor valid = keptPositive.any(1) & keptNegative.any(1);

        // log(1 + sum_kept exp(z)) as a log-sum-exp with a zero column: finite
        // for every row, so rows with nothing kept give no NaN gradients.
        auto softPlusSum = [&](const torch::Tensor &z, const torch::Tensor &kept) {
            const torch::Tensor zero = torch::zeros({b, 1}, z.options());
            return torch::logsumexp(torch::cat({zero, z.masked_fill(kept.logical_not(), -INFINITY)}, 1), 1);
        };
        const torch::Tensor terms = softPlusSum(-m_alpha * (s - m_lambda), keptPositive) / m_alpha
            + softPlusSum(m_beta * (s - m_lambda), keptNegative) / m_beta;
        LossOutput out;
        out.loss = terms.masked_fill(valid.logical_not(), 0).sum() / double(b);
        const double pairs = (positive | negative).sum().item<double>();
        const torch::Tensor kept = (keptPositive | keptNegative) & valid.unsqueeze(1);
        out.activeFraction = pairs > 0 ? kept.sum().item<double>() / pairs : 0.0;
        return out;
    }

private:
    double m_alpha, m_beta, m_lambda, m_epsilon;
};

} // namespace

LossInfo multiSimilarityLossInfo()
{
    LossInfo info;
    info.name = "multi-similarity";
    info.title = "Multi-similarity";
    info.description = "Wang et al. 2019: cosine similarities, informative pairs mined per anchor, soft-weighted "
                       "positive and negative terms.";
    info.params = {
        {"alpha", ParamSpec::Kind::Real, 2.0, 0.01, 100.0, {}, "scale of the positive term"},
        {"beta", ParamSpec::Kind::Real, 50.0, 0.01, 200.0, {}, "scale of the negative term"},
        {"lambda", ParamSpec::Kind::Real, 0.5, -1.0, 1.0, {}, "similarity threshold lambda"},
        {"epsilon", ParamSpec::Kind::Real, 0.1, 0.0, 2.0, {},
         "mining margin: pairs within epsilon of the hardest other kind are kept"},
    };
    info.create = [](const LossParams &p, const LossContext &) { return std::make_unique<MultiSimilarityLoss>(p); };
    return info;
}

} // namespace liftlab
