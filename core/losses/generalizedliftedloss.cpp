// Generalized lifted structure loss (Hermans, Beyer, Leibe 2017, "In Defense
// of the Triplet Loss", eq. 6), on raw Euclidean distances:
//   L = 1/|A| sum_{a in A} [ log sum_{p in P(a)} exp(D_ap) + log sum_{n in N(a)} exp(m - D_an) ]_+
// where P(a) are a's positives (itself excluded), N(a) its negatives, and A
// the anchors that have both. Unlike the lifted loss of Song et al. it works
// per anchor, and the soft maximum runs over positives too.
#include "losses/loss.h"
#include "losses/rowwise.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

namespace liftlab {

namespace {

class GeneralizedLiftedLoss : public Loss
{
public:
    explicit GeneralizedLiftedLoss(const LossParams &p)
        : m_margin(p.real("margin"))
    {
    }

    LossOutput compute(const torch::Tensor &embeddings, const torch::Tensor &labels) override
    {
        if (!fastKernels(embeddings))
            return generic(embeddings, labels.to(embeddings.device()));
        const int64_t b = embeddings.size(0);
        const torch::Tensor labelsCpu = labels.to(torch::kCPU, torch::kInt64).contiguous();
        const int64_t *y = labelsCpu.data_ptr<int64_t>();
        const RowwiseResult r = rowwiseLoss(embeddings, PairSpace::Distance, false,
                                            [&](int64_t i, const auto *d, auto *grad, auto *) {
            using T = std::remove_const_t<std::remove_pointer_t<decltype(d)>>;
            auto positive = [&](int64_t k) { return k != i && y[k] == y[i]; };
            auto negative = [&](int64_t k) { return y[k] != y[i]; };
            std::vector<T> z(static_cast<size_t>(b)), positiveWeight(static_cast<size_t>(b)),
                negativeWeight(static_cast<size_t>(b));
            const double positives = logSumExp(d, b, positive, positiveWeight.data(), false);
            for (int64_t k = 0; k < b; ++k)
                z[size_t(k)] = T(m_margin) - d[k];
            const double negatives = logSumExp(z.data(), b, negative, negativeWeight.data(), false);
            RowTerm row;
            // Only anchors with a positive and a negative count.
            if (positives == -INFINITY || negatives == -INFINITY)
                return row;
            row.count = 1;
            row.value = std::max(0.0, positives + negatives);
            if (row.value > 0) {
                row.active = 1;
                for (int64_t k = 0; k < b; ++k)
                    grad[k] = positiveWeight[size_t(k)] - negativeWeight[size_t(k)];
            }
            return row;
        });
        LossOutput out;
        out.loss = r.loss;
        out.activeFraction = r.count > 0 ? r.active / r.count : 0.0;
        return out;
    }

private:
    // The same with torch operations (the generic kernels, any device).
    LossOutput generic(const torch::Tensor &embeddings, const torch::Tensor &labels) const
    {
        const torch::Tensor positive = positivePairs(labels), negative = sameClass(labels).logical_not();
        const torch::Tensor anchors = (positive.any(1) & negative.any(1)).nonzero().squeeze(1);
        LossOutput out;
        if (anchors.numel() == 0) {
            out.loss = embeddings.sum() * 0;
            return out;
        }
        const torch::Tensor d = pairwiseDistances(embeddings).index_select(0, anchors);
        const torch::Tensor value = torch::relu(maskedLogSumExp(d, positive.index_select(0, anchors), 1, false)
                                                + maskedLogSumExp(m_margin - d, negative.index_select(0, anchors), 1, false));
        out.loss = value.mean();
        out.activeFraction = (value.detach() > 0).to(torch::kFloat64).mean().item<double>();
        return out;
    }

    double m_margin;
};

} // namespace

LossInfo generalizedLiftedLossInfo()
{
    LossInfo info;
    info.name = "generalized-lifted";
    info.title = "Generalized lifted structure";
    info.description = "Hermans et al. 2017: per anchor, a soft maximum over its positives' distances plus a soft "
                       "maximum over its negatives' margin violations, hinged.";
    info.params = {{"margin", ParamSpec::Kind::Real, 1.0, 0.0, 100.0, {}, "margin m added to the negatives' term", 0.1, 3.0}};
    info.create = [](const LossParams &p, const LossContext &) { return std::make_unique<GeneralizedLiftedLoss>(p); };
    return info;
}

} // namespace liftlab
