// Contrastive loss, Hadsell, Chopra, LeCun 2006:
//   L = 1/|pairs| * sum_{i<j} [ y_ij * D_ij^2 + (1 - y_ij) * max(0, m - D_ij)^2 ] / 2
// over all pairs of the batch, y_ij = 1 for a positive pair.
#include "losses/loss.h"

namespace liftlab {

namespace {

class ContrastiveLoss : public Loss
{
public:
    explicit ContrastiveLoss(const LossParams &p)
        : m_margin(p.real("margin"))
    {
    }

    LossOutput compute(const torch::Tensor &embeddings, const torch::Tensor &labels) override
    {
        const int64_t b = embeddings.size(0);
        const torch::Tensor distances = pairwiseDistances(embeddings);
        const torch::Tensor same = labels.unsqueeze(0).eq(labels.unsqueeze(1));
        const torch::Tensor upper = torch::ones({b, b}, same.options()).triu(1);
        const torch::Tensor positive = same & upper, negative = same.logical_not() & upper;
        const torch::Tensor terms = torch::where(positive, distances.pow(2),
                                                 torch::relu(m_margin - distances).pow(2)) * 0.5;
        const torch::Tensor valid = positive | negative;
        const double pairs = double(b * (b - 1) / 2);
        const torch::Tensor kept = terms.masked_fill(valid.logical_not(), 0); // each pair once, i < j
        LossOutput out;
        out.loss = kept.sum() / std::max(pairs, 1.0);
        out.activeFraction = pairs > 0 ? ((terms > 0) & valid).sum().item<double>() / pairs : 0.0;
        out.pairTerms = (kept + kept.t()).detach();
        return out;
    }

private:
    double m_margin;
};

} // namespace

LossInfo contrastiveLossInfo()
{
    LossInfo info;
    info.name = "contrastive";
    info.title = "Contrastive";
    info.description = "Hadsell et al. 2006: pull positive pairs together, push negatives beyond a margin.";
    info.params = {{"margin", ParamSpec::Kind::Real, 1.0, 0.0, 100.0, {}, "negatives closer than the margin are penalised", 0.1, 3.0}};
    info.create = [](const LossParams &p, const LossContext &) { return std::make_unique<ContrastiveLoss>(p); };
    return info;
}

} // namespace liftlab
