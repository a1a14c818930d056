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
#include "losses/rowwise.h"

#include <algorithm>
#include <type_traits>
#include <vector>

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
        if (!fastKernels(embeddings))
            return generic(embeddings, labels.to(embeddings.device()));
        const int64_t b = embeddings.size(0);
        const torch::Tensor labelsCpu = labels.to(torch::kCPU, torch::kInt64).contiguous();
        const int64_t *y = labelsCpu.data_ptr<int64_t>();
        const RowwiseResult r = rowwiseLoss(normalizeRows(embeddings), PairSpace::Similarity, false,
                                            [&](int64_t i, const auto *s, auto *grad, auto *) {
            using T = std::remove_const_t<std::remove_pointer_t<decltype(s)>>;
            auto positive = [&](int64_t k) { return k != i && y[k] == y[i]; };
            auto negative = [&](int64_t k) { return y[k] != y[i]; };
            // Mining looks at the similarities only; it is not differentiated.
            T hardestPositive = INFINITY, hardestNegative = -INFINITY;
            for (int64_t k = 0; k < b; ++k) {
                if (positive(k))
                    hardestPositive = std::min(hardestPositive, s[k]);
                if (negative(k))
                    hardestNegative = std::max(hardestNegative, s[k]);
            }
            auto keptPositive = [&](int64_t k) { return positive(k) && s[k] - T(m_epsilon) < hardestNegative; };
            auto keptNegative = [&](int64_t k) { return negative(k) && s[k] + T(m_epsilon) > hardestPositive; };
            RowTerm term;
            term.count = 1;
            int64_t kept[2] = {0, 0};
            for (int64_t k = 0; k < b; ++k) {
                kept[0] += keptPositive(k);
                kept[1] += keptNegative(k);
            }
            // Anchors that keep no pair of one kind add zero, as in the authors' code.
            if (kept[0] == 0 || kept[1] == 0)
                return term;
            std::vector<T> z(static_cast<size_t>(b)), weight(static_cast<size_t>(b));
            for (int64_t k = 0; k < b; ++k)
                z[size_t(k)] = T(-m_alpha * (s[k] - m_lambda));
            term.value = logSumExp(z.data(), b, keptPositive, weight.data(), true) / m_alpha;
            for (int64_t k = 0; k < b; ++k)
                grad[k] -= weight[size_t(k)];
            for (int64_t k = 0; k < b; ++k)
                z[size_t(k)] = T(m_beta * (s[k] - m_lambda));
            term.value += logSumExp(z.data(), b, keptNegative, weight.data(), true) / m_beta;
            for (int64_t k = 0; k < b; ++k)
                grad[k] += weight[size_t(k)];
            term.active = double(kept[0] + kept[1]);
            return term;
        });
        LossOutput out;
        out.loss = r.loss;
        out.activeFraction = b > 1 ? r.active / double(b * (b - 1)) : 0.0;
        return out;
    }

private:
    // The same with torch operations (the generic kernels, any device).
    LossOutput generic(const torch::Tensor &embeddings, const torch::Tensor &labels) const
    {
        const int64_t b = embeddings.size(0);
        const torch::Tensor s = cosineSimilarities(embeddings), mined = s.detach();
        const torch::Tensor positive = positivePairs(labels), negative = sameClass(labels).logical_not();
        const torch::Tensor hardestPositive = mined.masked_fill(positive.logical_not(), INFINITY).amin(1, true);
        const torch::Tensor hardestNegative = mined.masked_fill(negative.logical_not(), -INFINITY).amax(1, true);
        const torch::Tensor keptPositive = positive & (mined - m_epsilon < hardestNegative);
        const torch::Tensor keptNegative = negative & (mined + m_epsilon > hardestPositive);
        const torch::Tensor counted = keptPositive.any(1) & keptNegative.any(1);
        const torch::Tensor value = maskedLogSumExp(-m_alpha * (s - m_lambda), keptPositive, 1, true) / m_alpha
                                    + maskedLogSumExp(m_beta * (s - m_lambda), keptNegative, 1, true) / m_beta;
        LossOutput out;
        out.loss = value.masked_fill(counted.logical_not(), 0).sum() / double(b);
        const double active = ((keptPositive | keptNegative) & counted.unsqueeze(1)).sum().item<double>();
        out.activeFraction = b > 1 ? active / double(b * (b - 1)) : 0.0;
        return out;
    }

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
        {"alpha", ParamSpec::Kind::Real, 2.0, 0.01, 100.0, {}, "scale of the positive term", 0.5, 20.0},
        {"beta", ParamSpec::Kind::Real, 50.0, 0.01, 200.0, {}, "scale of the negative term", 10.0, 100.0},
        {"lambda", ParamSpec::Kind::Real, 0.5, -1.0, 1.0, {}, "similarity threshold lambda", 0.2, 0.8},
        {"epsilon", ParamSpec::Kind::Real, 0.1, 0.0, 2.0, {},
         "mining margin: pairs within epsilon of the hardest other kind are kept"},
    };
    info.create = [](const LossParams &p, const LossContext &) { return std::make_unique<MultiSimilarityLoss>(p); };
    return info;
}

} // namespace liftlab
