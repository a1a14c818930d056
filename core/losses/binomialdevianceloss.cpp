// Binomial deviance (Yi, Lei, Liao, Li 2014), on the cosine similarities S of
// the L2-normalised embeddings, over the pairs i < j:
//   L = 1/|P| sum_{positive} log(1 + exp(-alpha (S_ij - beta)))
//     + 1/|N| sum_{negative} log(1 + exp( alpha C (S_ij - beta)))
// C weighs the negatives, which far outnumber the positives. Defaults alpha 2,
// beta 0.5, C 25 (as in Ustinova and Lempitsky 2016).
#include "losses/loss.h"
#include "losses/rowwise.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

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
        if (!fastKernels(embeddings))
            return generic(embeddings, labels.to(embeddings.device()));
        const int64_t b = embeddings.size(0);
        const torch::Tensor labelsCpu = labels.to(torch::kCPU, torch::kInt64).contiguous();
        const int64_t *y = labelsCpu.data_ptr<int64_t>();
        double positives = 0, negatives = 0;
        for (int64_t i = 0; i < b; ++i)
            for (int64_t j = i + 1; j < b; ++j)
                (y[i] == y[j] ? positives : negatives) += 1;
        const double positiveWeight = 1.0 / std::max(positives, 1.0), negativeWeight = 1.0 / std::max(negatives, 1.0);
        // softplus(z) = log(1 + exp(z)) and its derivative, the logistic function.
        auto softPlus = [](double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); };
        auto logistic = [](double z) { return z > 0 ? 1 / (1 + std::exp(-z)) : std::exp(z) / (1 + std::exp(z)); };
        const RowwiseResult r = rowwiseLoss(normalizeRows(embeddings), PairSpace::Similarity, true,
                                            [&](int64_t i, const auto *s, auto *grad, auto *terms) {
            using T = std::remove_const_t<std::remove_pointer_t<decltype(s)>>;
            RowTerm row;
            for (int64_t j = i + 1; j < b; ++j) {
                const bool same = y[j] == y[i];
                const double slope = same ? -m_alpha : m_alpha * m_cost;
                const double z = slope * (s[j] - m_beta), weight = same ? positiveWeight : negativeWeight;
                const double term = softPlus(z);
                row.value += weight * term;
                row.active += z > 0; // on the wrong side of beta
                grad[j] = T(weight * slope * logistic(z));
                terms[j] = T(term);
            }
            return row;
        });
        LossOutput out;
        out.loss = r.loss;
        out.activeFraction = positives + negatives > 0 ? r.active / (positives + negatives) : 0.0;
        out.pairTerms = r.terms + r.terms.t();
        return out;
    }

private:
    // The same with torch operations (the generic kernels, any device).
    LossOutput generic(const torch::Tensor &embeddings, const torch::Tensor &labels) const
    {
        const int64_t b = embeddings.size(0);
        const torch::Tensor same = sameClass(labels);
        const torch::Tensor upper = torch::ones({b, b}, same.options()).triu(1);
        const double positives = (same & upper).sum().item<double>(), pairs = double(b * (b - 1) / 2);
        const torch::Tensor slope = torch::where(same, torch::full({}, -m_alpha, embeddings.options()),
                                                 torch::full({}, m_alpha * m_cost, embeddings.options()));
        const torch::Tensor z = slope * (cosineSimilarities(embeddings) - m_beta);
        const torch::Tensor weight = torch::where(same, torch::full({}, 1 / std::max(positives, 1.0), embeddings.options()),
                                                  torch::full({}, 1 / std::max(pairs - positives, 1.0), embeddings.options()));
        const torch::Tensor terms = torch::softplus(z).masked_fill(upper.logical_not(), 0);
        LossOutput out;
        out.loss = (terms * weight).sum();
        out.activeFraction = pairs > 0 ? ((z.detach() > 0) & upper).sum().item<double>() / pairs : 0.0;
        out.pairTerms = terms.detach() + terms.detach().t();
        return out;
    }

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
        {"alpha", ParamSpec::Kind::Real, 2.0, 0.01, 100.0, {}, "scale alpha", 0.5, 10.0},
        {"beta", ParamSpec::Kind::Real, 0.5, -1.0, 1.0, {}, "similarity threshold beta", 0.0, 0.9},
        {"cost", ParamSpec::Kind::Real, 25.0, 0.01, 1000.0, {}, "C: weight of the negative pairs' term"},
    };
    info.create = [](const LossParams &p, const LossContext &) { return std::make_unique<BinomialDevianceLoss>(p); };
    return info;
}

} // namespace liftlab
