// Lifted structured feature embedding, Song, Xiang, Jegelka, Savarese,
// CVPR 2016 (arXiv 1511.06452), eq. 4, in exactly the paper's form:
//   D_ij = ||x_i - x_j||_2 on the raw embedding,
//   J_ij = log( sum_{k in N(i)} exp(a - D_ik) + sum_{l in N(j)} exp(a - D_jl) ) + D_ij,
//   L    = 1/(2|P|) * sum_{(i,j) in P, i<j} max(0, J_ij)^2.
// One masked row log-sum-exp per anchor m_i, then J_ij = logaddexp(m_i, m_j)
// + D_ij per positive pair: O(B^2) memory, stable for any distance.
//
// The gradient is written out rather than left to autograd. With
// g_ij = max(0, J_ij) / |P| and s_i = sum over i's positive pairs of
// g_ij * exp(m_i - logaddexp(m_i, m_j)) (the share of m_i in J_ij):
//   dL/dD_ij = g_ij for positive pairs, dL/dD_ik = -s_i softmax_k(a - D_ik)
//   over negatives, and with W = (dL/dD + dL/dD^T) / D,
//   dL/dX = diag(W 1) X - W X.
//
// Two matrix products (X X^T and W X) do the O(B^2 d) work; everything else
// is a few fused loops over the B x B matrix, parallel over rows, with the
// exponentials of the forward pass kept for the backward one. The generic
// kernels (any device) compute eq. 4 with torch operations and autograd.
#include "losses/loss.h"
#include "util/parallel.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace liftlab {

namespace {

struct LiftedResult
{
    torch::Tensor loss;      // scalar
    torch::Tensor terms;     // [B, B] J_ij at positive pairs (both orders), 0 elsewhere
    torch::Tensor gradient;  // dL/dX, defined when asked for
    double activeFraction = 0;
};

constexpr int64_t kRowGrain = 16;

template <typename T>
T logAddExp(T a, T b)
{
    if (a < b)
        std::swap(a, b);
    if (b == -std::numeric_limits<T>::infinity())
        return a;
    return a + std::log1p(std::exp(b - a));
}

template <typename T>
LiftedResult liftedStructured(const torch::Tensor &xIn, const torch::Tensor &labelsIn, double marginIn, bool withGradient)
{
    const torch::Tensor x = xIn.contiguous();
    const torch::Tensor labelsCpu = labelsIn.to(torch::kCPU, torch::kInt64).contiguous();
    const int64_t b = x.size(0);
    const T margin = static_cast<T>(marginIn);
    const T tiny = static_cast<T>(1e-12); // squared distances below this count as coinciding points
    const T minusInf = -std::numeric_limits<T>::infinity();
    const int64_t *label = labelsCpu.data_ptr<int64_t>();

    // D from the Gram matrix, in place.
    torch::Tensor dist = gram(x);
    T *d = dist.data_ptr<T>();
    std::vector<T> norm(b);
    for (int64_t i = 0; i < b; ++i)
        norm[i] = d[i * b + i];
    // A non-finite embedding (a diverged network) has no distances: report
    // a NaN loss, which the trainer stops on, instead of a made-up value.
    if (!std::all_of(norm.begin(), norm.end(), [](T v) { return std::isfinite(v); })) {
        LiftedResult r;
        r.loss = torch::full({}, NAN, x.options());
        r.terms = torch::zeros({b, b}, x.options());
        if (withGradient)
            r.gradient = torch::full_like(x, NAN);
        return r;
    }
    // e_ik = exp(a - D_ik - rowmax_i) over i's negatives (0 elsewhere), then
    // softmax_k after the division by the row sum; m_i the row log-sum-exp.
    torch::Tensor soft = torch::empty({b, b}, x.options());
    T *e = soft.data_ptr<T>();
    std::vector<T> m(b);
    at::parallel_for(0, b, kRowGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            T *di = d + i * b;
            T *ei = e + i * b;
            T rowMax = minusInf;
            for (int64_t k = 0; k < b; ++k) {
                const T sq = norm[i] + norm[k] - 2 * di[k];
                di[k] = std::sqrt(sq > tiny ? sq : tiny);
                if (label[k] != label[i] && margin - di[k] > rowMax)
                    rowMax = margin - di[k];
            }
            di[i] = std::sqrt(tiny);
            if (rowMax == minusInf) { // no negative: every J_ij of this anchor is -inf
                std::fill(ei, ei + b, T(0));
                m[i] = minusInf;
                continue;
            }
            T sum = 0;
            for (int64_t k = 0; k < b; ++k) {
                const T v = label[k] != label[i] ? std::exp(margin - di[k] - rowMax) : T(0);
                ei[k] = v;
                sum += v;
            }
            const T inv = 1 / sum;
            for (int64_t k = 0; k < b; ++k)
                ei[k] *= inv;
            m[i] = rowMax + std::log(sum);
        }
    });

    // The positive pairs: J_ij, the hinge, and the anchors' shares s_i.
    torch::Tensor terms = torch::zeros({b, b}, x.options());
    T *t = terms.data_ptr<T>();
    std::vector<T> s(b, 0);
    double lossSum = 0;
    int64_t pairs = 0, active = 0;
    for (int64_t i = 0; i < b; ++i)
        for (int64_t j = i + 1; j < b; ++j) {
            if (label[i] != label[j])
                continue;
            ++pairs;
            const T both = logAddExp(m[i], m[j]);
            const T term = both + d[i * b + j];
            t[i * b + j] = t[j * b + i] = term == minusInf ? T(0) : term;
            if (term > 0) {
                ++active;
                lossSum += double(term) * term;
            }
        }

    LiftedResult r;
    // No positive pair: nothing to pull together. No negative at all: every
    // J_ij is -inf, so every hinge is zero. Both give a zero loss.
    r.loss = torch::full({}, pairs == 0 ? 0.0 : lossSum / (2.0 * pairs), x.options());
    r.activeFraction = pairs == 0 ? 0.0 : double(active) / pairs;
    r.terms = terms;
    if (!withGradient)
        return r;
    if (active == 0) {
        r.gradient = torch::zeros_like(x);
        return r;
    }

    // s_i: what anchor i's log-sum-exp owes to its active positive pairs.
    const T invPairs = T(1) / T(pairs);
    for (int64_t i = 0; i < b; ++i)
        for (int64_t j = i + 1; j < b; ++j) {
            const T term = t[i * b + j];
            if (label[i] != label[j] || !(term > 0))
                continue;
            const T g = term * invPairs;
            const T shareI = std::exp(m[i] - logAddExp(m[i], m[j]));
            s[i] += g * shareI;
            s[j] += g * (1 - shareI);
        }
    // W_ik = (dL/dD_ik + dL/dD_ki) / D_ik: -s_i softmax_ik - s_k softmax_ki
    // for negatives, g_ik (counted once per unordered pair) for positive pairs;
    // and its row sums.
    torch::Tensor weights = torch::empty({b, b}, x.options());
    std::vector<T> rowSum(b);
    T *w = weights.data_ptr<T>();
    at::parallel_for(0, b, kRowGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const T *di = d + i * b;
            const T *ti = t + i * b;
            T *wi = w + i * b;
            T sum = 0;
            for (int64_t k = 0; k < b; ++k) {
                T v;
                if (label[k] != label[i])
                    v = -s[i] * e[i * b + k] - s[k] * e[k * b + i];
                else
                    v = ti[k] > 0 ? ti[k] * invPairs : T(0); // g_ik; 0 on the diagonal
                v = di[k] * di[k] > tiny ? v / di[k] : T(0);
                wi[k] = v;
                sum += v;
            }
            rowSum[i] = sum;
        }
    });
    // dL/dX = diag(W 1) X - W X, in the product's buffer.
    r.gradient = parallelMm(weights, x);
    T *g = r.gradient.data_ptr<T>();
    const T *xs = x.data_ptr<T>();
    const int64_t dim = x.size(1);
    at::parallel_for(0, b, kRowGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
            for (int64_t c = 0; c < dim; ++c)
                g[i * dim + c] = rowSum[i] * xs[i * dim + c] - g[i * dim + c];
    });
    return r;
}

LiftedResult liftedStructured(const torch::Tensor &x, const torch::Tensor &labels, double margin, bool withGradient)
{
    if (x.scalar_type() == torch::kFloat64)
        return liftedStructured<double>(x, labels, margin, withGradient);
    if (x.scalar_type() == torch::kFloat32)
        return liftedStructured<float>(x, labels, margin, withGradient);
    return liftedStructured<float>(x.to(torch::kFloat32), labels, margin, withGradient);
}

// Eq. 4 with torch operations, differentiated by autograd: the generic
// kernels' lifted loss (util/parallel.h), on any device.
LossOutput liftedGeneric(const torch::Tensor &x, const torch::Tensor &labels, double margin)
{
    const torch::Tensor d = pairwiseDistances(x);
    const torch::Tensor same = sameClass(labels);
    const torch::Tensor positive = same.triu(1); // the pairs i < j
    const double pairs = positive.sum().item<double>();
    LossOutput out;
    // No positive pair, or no negative at all: a zero loss (see above).
    if (pairs == 0 || same.all().item<bool>()) {
        out.loss = x.sum() * 0;
        out.pairTerms = torch::zeros({x.size(0), x.size(0)}, x.options());
        return out;
    }
    const torch::Tensor m = maskedLogSumExp(margin - d, same.logical_not(), 1, false);
    const torch::Tensor j = torch::logaddexp(m.unsqueeze(1), m.unsqueeze(0)) + d;
    out.loss = torch::relu(j).masked_fill(positive.logical_not(), 0).pow(2).sum() / (2 * pairs);
    const torch::Tensor terms = j.detach().masked_fill(positive.logical_not(), 0);
    out.pairTerms = terms + terms.t();
    out.activeFraction = (terms > 0).sum().item<double>() / pairs;
    return out;
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
        const torch::Tensor &scale = gradOutputs[0];
        // loss.backward() seeds 1: hand the gradient over without a pass.
        if (scale.numel() == 1 && scale.item<double>() == 1.0)
            return {gradient, torch::Tensor(), torch::Tensor()};
        return {gradient * scale, torch::Tensor(), torch::Tensor()};
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
        if (!fastKernels(embeddings))
            return liftedGeneric(embeddings, labels.to(embeddings.device()), m_margin);
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
    info.params = {{"margin", ParamSpec::Kind::Real, 1.0, 0.0, 100.0, {}, "margin a: negatives closer than D_ij + a are penalised", 0.1, 3.0}};
    info.create = [](const LossParams &p, const LossContext &) { return std::make_unique<LiftedStructuredLoss>(p); };
    return info;
}

} // namespace liftlab
