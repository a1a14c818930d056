// Triplet loss with margin, max(0, D_ap - D_an + m), with three miners:
//  - all:        mean over every valid triplet (a, p, n) of the batch;
//  - batch-hard: per anchor, its farthest positive and closest negative
//                (Hermans, Beyer, Leibe 2017); mean over anchors;
//  - semi-hard:  per positive pair, the closest negative farther than the
//                positive (Schroff et al. 2015); when there is none, the
//                farthest negative; mean over positive pairs.
#include "losses/loss.h"

namespace liftlab {

namespace {

class TripletLoss : public Loss
{
public:
    explicit TripletLoss(const LossParams &p)
        : m_margin(p.real("margin"))
        , m_miner(p.choice("miner"))
    {
    }

    LossOutput compute(const torch::Tensor &embeddings, const torch::Tensor &labels) override
    {
        const int64_t b = embeddings.size(0);
        const torch::Tensor d = pairwiseDistances(embeddings);
        const torch::Tensor same = labels.unsqueeze(0).eq(labels.unsqueeze(1));
        const torch::Tensor positive = same & torch::eye(b, same.options()).logical_not();
        const torch::Tensor negative = same.logical_not();
        const torch::Tensor hasNegative = negative.any(1, true);
        LossOutput out;
        out.pairTerms = torch::zeros({b, b}, embeddings.options());
        torch::Tensor terms, valid;
        if (m_miner == "all") {
            terms = torch::relu(d.unsqueeze(2) - d.unsqueeze(1) + m_margin); // [a, p, n]
            valid = positive.unsqueeze(2) & negative.unsqueeze(1);
        } else if (m_miner == "batch-hard") {
            const torch::Tensor hardestPositive = std::get<0>(d.masked_fill(positive.logical_not(), -INFINITY).max(1));
            const torch::Tensor hardestNegative = std::get<0>(d.masked_fill(negative.logical_not(), INFINITY).min(1));
            valid = positive.any(1) & negative.any(1);
            terms = torch::relu((hardestPositive - hardestNegative + m_margin).masked_fill(valid.logical_not(), 0));
        } else { // semi-hard
            const torch::Tensor dan = d.unsqueeze(1).expand({b, b, b}); // [a, p, n] = D_an
            const torch::Tensor semiHard = negative.unsqueeze(1) & (dan > d.unsqueeze(2));
            const torch::Tensor closestSemiHard = dan.masked_fill(semiHard.logical_not(), INFINITY).amin(2);
            const torch::Tensor farthestNegative = d.masked_fill(negative.logical_not(), -INFINITY).amax(1, true);
            const torch::Tensor chosen = torch::where(semiHard.any(2), closestSemiHard, farthestNegative.expand({b, b}));
            valid = positive & hasNegative;
            terms = torch::relu((d - chosen + m_margin).masked_fill(valid.logical_not(), 0));
            out.pairTerms = terms.detach().clone();
        }
        const double count = valid.sum().item<double>();
        const torch::Tensor kept = terms.masked_fill(valid.logical_not(), 0);
        out.loss = kept.sum() / std::max(count, 1.0);
        out.activeFraction = count > 0 ? ((kept > 0) & valid).sum().item<double>() / count : 0.0;
        return out;
    }

private:
    double m_margin;
    std::string m_miner;
};

} // namespace

LossInfo tripletLossInfo()
{
    LossInfo info;
    info.name = "triplet";
    info.title = "Triplet";
    info.description = "max(0, D_ap - D_an + margin) over mined triplets.";
    info.params = {
        {"margin", ParamSpec::Kind::Real, 1.0, 0.0, 100.0, {}, "required gap between positive and negative distance", 0.1, 3.0},
        {"miner", ParamSpec::Kind::Choice, 0, 0, 0, {"all", "batch-hard", "semi-hard"},
         "which triplets: all valid ones, the hardest per anchor, or semi-hard per positive pair"},
    };
    info.create = [](const LossParams &p, const LossContext &) { return std::make_unique<TripletLoss>(p); };
    return info;
}

} // namespace liftlab
