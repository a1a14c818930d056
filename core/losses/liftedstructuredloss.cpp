// Lifted structured feature embedding, Song, Xiang, Jegelka, Savarese,
// CVPR 2016 (arXiv 1511.06452), eq. 4, in exactly the paper's form:
//   D_ij = ||x_i - x_j||_2 on the raw embedding,
//   J_ij = log( sum_{k in N(i)} exp(a - D_ik) + sum_{l in N(j)} exp(a - D_jl) ) + D_ij,
//   L    = 1/(2|P|) * sum_{(i,j) in P, i<j} max(0, J_ij)^2.
// One masked row log-sum-exp per anchor m_i, then J_ij = logaddexp(m_i, m_j)
// + D_ij per positive pair: O(B^2) memory, stable for any distance.
//
// The gradient is written out rather than left to autograd, which would
// spend a third matrix product on the transposed operand of X X^T. With
// g_ij = max(0, J_ij) / |P| and s_i = sum over i's positive pairs of
// g_ij * exp(m_i - logaddexp(m_i, m_j)) (the share of m_i in J_ij):
//   dL/dD_ij = g_ij for positive pairs, dL/dD_ik = -s_i softmax_k(a - D_ik)
//   over negatives, and with W = (dL/dD + dL/dD^T) / D,
//   dL/dX = diag(W 1) X - W X: a single matrix product.
#include "losses/loss.h"

#include <torch/autograd.h>

namespace liftlab {

namespace {

struct LiftedResult
{
    torch::Tensor loss;      // scalar
    torch::Tensor terms;     // [B, B] J_ij at positive pairs (both orders), 0 elsewhere
    torch::Tensor gradient;  // dL/dX, defined when asked for
    double activeFraction = 0;
};

LiftedResult liftedStructured(const torch::Tensor &x, const torch::Tensor &labels, double margin, bool withGradient)
{
    // Everything is a dense B x B matrix: for B in the hundreds, masked
    // elementwise passes are cheaper than gathering the positive pairs.
    const int64_t b = x.size(0);
    const torch::Tensor squared = x.pow(2).sum(1);
    const torch::Tensor d2 = torch::addmm(squared.unsqueeze(1) + squared.unsqueeze(0), x, x.t(), 1.0, -2.0);
    const torch::Tensor distances = d2.clamp_min(1e-12).sqrt_();
    const torch::Tensor same = labels.unsqueeze(0).eq(labels.unsqueeze(1));
    const torch::Tensor positive = torch::triu(same, 1); // each positive pair once, i < j
    const double pairCount = positive.sum().item<double>();

    LiftedResult r;
    // No positive pair: nothing to pull together. No negative at all: every
    // J_ij is -inf, so every hinge is zero. Both give a zero loss.
    if (pairCount == 0 || same.all().item<bool>()) {
        r.loss = torch::zeros({}, x.options());
        r.terms = torch::zeros({b, b}, x.options());
        if (withGradient)
            r.gradient = torch::zeros_like(x);
        return r;
    }
    const torch::Tensor logits = (margin - distances).masked_fill_(same, -INFINITY);
    const torch::Tensor m = torch::logsumexp(logits, 1, true);         // [B, 1]
    const torch::Tensor both = torch::logaddexp(m, m.t());             // [B, B]
    const torch::Tensor terms = both + distances;                      // J_ij, symmetric
    const torch::Tensor hinge = terms.clamp_min(0).mul_(positive);
    r.loss = hinge.pow(2).sum() / (2.0 * pairCount);
    r.activeFraction = (hinge > 0).sum().item<double>() / pairCount;
    r.terms = terms.masked_fill(same.logical_not() | torch::eye(b, same.options()), 0);
    if (!withGradient)
        return r;

    const torch::Tensor g = hinge / pairCount; // dL/dJ_ij, zero off the positive pairs
    const torch::Tensor shareI = (m - both).exp_(); // d logaddexp(m_i, m_j) / d m_i; m_j's share is 1 - it
    const torch::Tensor s = (g * shareI).sum(1, true) + (g * (1 - shareI)).sum(0).unsqueeze(1);
    // dL/dD: -s_i * softmax over i's negatives, plus g_ij at positive pairs.
    const torch::Tensor gradD = (logits - m).exp_().mul_(-s).add_(g);
    const torch::Tensor w = (gradD + gradD.t()).div_(distances).masked_fill_(d2 <= 1e-12, 0);
    r.gradient = torch::addmm(x * w.sum(1, true), w, x, 1.0, -1.0);
    return r;
}

// Autograd wrapper: the gradient is computed with the loss (it shares all
// intermediates) and scaled by the incoming gradient in backward.
class LiftedFunction : public torch::autograd::Function<LiftedFunction>
{
public:
    static torch::autograd::variable_list forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x,
                                                  const torch::Tensor &labels, double margin)
    {
        LiftedResult r = liftedStructured(x, labels, margin, true);
        ctx->save_for_backward({r.gradient});
        const torch::Tensor active = torch::full({}, r.activeFraction, torch::kFloat64);
        ctx->mark_non_differentiable({r.terms, active});
        return {r.loss, r.terms, active};
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list gradOutputs)
    {
        const torch::Tensor gradient = ctx->get_saved_variables()[0];
        return {gradient * gradOutputs[0], torch::Tensor(), torch::Tensor()};
    }
};

class LiftedStructuredLoss : public Loss
{
public:
    explicit LiftedStructuredLoss(const LossParams &p)
        : m_margin(p.real("margin"))
    {
    }

    LossOutput compute(const torch::Tensor &embeddings, const torch::Tensor &labels) override
    {
        LossOutput out;
        if (!embeddings.requires_grad() || !torch::GradMode::is_enabled()) {
            const LiftedResult r = liftedStructured(embeddings, labels, m_margin, false);
            out.loss = r.loss;
            out.pairTerms = r.terms;
            out.activeFraction = r.activeFraction;
            return out;
        }
        const auto outputs = LiftedFunction::apply(embeddings, labels, m_margin);
        out.loss = outputs[0];
        out.pairTerms = outputs[1];
        out.activeFraction = outputs[2].item<double>();
        return out;
    }

private:
    double m_margin;
};

} // namespace

LossInfo liftedStructuredLossInfo()
{
    LossInfo info;
    info.name = "lifted";
    info.title = "Lifted structured";
    info.description = "Song et al. 2016: every positive pair against all negatives of both anchors "
                       "(smooth log-sum-exp), squared hinge on raw Euclidean distances.";
    info.params = {{"margin", ParamSpec::Kind::Real, 1.0, 0.0, 100.0, {}, "margin a: negatives closer than D_ij + a are penalised"}};
    info.create = [](const LossParams &p) { return std::make_unique<LiftedStructuredLoss>(p); };
    return info;
}

} // namespace liftlab
