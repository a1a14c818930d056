// Generalized lifted structure loss (Hermans, Beyer, Leibe 2017, "In Defense
// of the Triplet Loss", eq. 6), on raw Euclidean distances:
//   L = 1/|A| sum_{a in A} [ log sum_{p in P(a)} exp(D_ap) + log sum_{n in N(a)} exp(m - D_an) ]_+
// where P(a) are a's positives (itself excluded), N(a) its negatives, and A
// the anchors that have both. Unlike the lifted loss of Song et al. it works
// per anchor, and the soft maximum runs over positives too.
#include "losses/loss.h"

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
        const int64_t b = embeddings.size(0);
        const torch::Tensor d = pairwiseDistances(embeddings);
        const torch::Tensor same = labels.unsqueeze(0).eq(labels.unsqueeze(1));
        const torch::Tensor positive = same & torch::eye(b, same.options()).logical_not();
        const torch::Tensor negative = same.logical_not();
        // Only anchors with a positive and a negative: every row of the soft
        // maxima then has a finite entry, and no NaN reaches the gradient.
        const torch::Tensor anchors = (positive.any(1) & negative.any(1)).nonzero().squeeze(1);
        LossOutput out;
        if (anchors.numel() == 0) {
            out.loss = embeddings.sum() * 0; // zero, with a (zero) gradient
            return out;
        }
        const torch::Tensor da = d.index_select(0, anchors);
        const torch::Tensor pos = positive.index_select(0, anchors), neg = negative.index_select(0, anchors);
        const torch::Tensor positives = torch::logsumexp(da.masked_fill(pos.logical_not(), -INFINITY), 1);
        const torch::Tensor negatives = torch::logsumexp((m_margin - da).masked_fill(neg.logical_not(), -INFINITY), 1);
        const torch::Tensor terms = torch::relu(positives + negatives);
        out.loss = terms.mean();
        out.activeFraction = (terms > 0).sum().item<double>() / double(anchors.numel());
        return out;
    }

private:
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
    info.params = {{"margin", ParamSpec::Kind::Real, 1.0, 0.0, 100.0, {}, "margin m added to the negatives' term"}};
    info.create = [](const LossParams &p, const LossContext &) { return std::make_unique<GeneralizedLiftedLoss>(p); };
    return info;
}

} // namespace liftlab
