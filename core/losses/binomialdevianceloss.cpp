// Binomial deviance (Yi, Lei, Liao, Li 2014), on the cosine similarities S of
// the L2-normalised embeddings, over the pairs i < j:
//   L = 1/|P| sum_{positive} log(1 + exp(-alpha (S_ij - beta)))
//     + 1/|N| sum_{negative} log(1 + exp( alpha C (S_ij - beta)))
// C weighs the negatives, which far outnumber the positives. Defaults alpha 2,
// beta 0.5, C 25 (as in Ustinova and Lempitsky 2016).
#include "losses/loss.h"

namespace liftlab {

namespace {

class BinomialDevianceLoss : public Loss
{
public:
    explicit BinomialDevianceLoss(const LossParams &p)
        : m_alpha(p.real("alpha"))
        , m_beta(p.real("beta"))
        , m_cost(p.real("cost"))
    {
    }

    LossOutput compute(const torch::Tensor &embeddings, const torch::Tensor &labels) override
    {
        const int64_t b = embeddings.size(0);
        const torch::Tensor s = cosineSimilarities(embeddings);
        const torch::Tensor same = labels.unsqueeze(0).eq(labels.unsqueeze(1));
        const torch::Tensor upper = torch::ones({b, b}, same.options()).triu(1);
        const torch::Tensor positive = same & upper, negative = same.logical_not() & upper;
        const torch::Tensor terms = torch::where(same, torch::softplus(-m_alpha * (s - m_beta)),
                                                 torch::softplus(m_alpha * m_cost * (s - m_beta)));
        const double positives = positive.sum().item<double>(), negatives = negative.sum().item<double>();
        LossOutput out;
        out.loss = terms.masked_fill(positive.logical_not(), 0).sum() / std::max(positives, 1.0)
            + terms.masked_fill(negative.logical_not(), 0).sum() / std::max(negatives, 1.0);
        // Active: pairs on the wrong side of beta.
        const torch::Tensor wrong = (positive & (s.detach() < m_beta)) | (negative & (s.detach() > m_beta));
        out.activeFraction = positives + negatives > 0 ? wrong.sum().item<double>() / (positives + negatives) : 0.0;
        out.pairTerms = (terms * upper + (terms * upper).t()).detach();
        return out;
    }

private:
    double m_alpha, m_beta, m_cost;
};

} // namespace

LossInfo binomialDevianceLossInfo()
{
    LossInfo info;
    info.name = "binomial-deviance";
    info.title = "Binomial deviance";
    info.description = "Yi et al. 2014: a soft (logistic) version of the contrastive loss on cosine similarities, "
                       "negatives weighted by C.";
    info.params = {
        {"alpha", ParamSpec::Kind::Real, 2.0, 0.01, 100.0, {}, "scale alpha"},
        {"beta", ParamSpec::Kind::Real, 0.5, -1.0, 1.0, {}, "similarity threshold beta"},
        {"cost", ParamSpec::Kind::Real, 25.0, 0.01, 1000.0, {}, "C: weight of the negative pairs' term"},
    };
    info.create = [](const LossParams &p, const LossContext &) { return std::make_unique<BinomialDevianceLoss>(p); };
    return info;
}

} // namespace liftlab
