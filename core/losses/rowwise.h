#pragma once

// Pair losses as one pass over the rows of the batch's similarity or
// distance matrix, with their gradient written out in the same pass.
//
// Autograd over a B x B matrix costs a dozen full-matrix tensor operations
// forwards and as many backwards; for B = 256 that was two to three times
// the lifted loss's time, which is written out by hand. Here a loss gives a
// row function (its terms for anchor i, and their derivatives with respect
// to row i of the matrix); rowwiseLoss() runs it on every row in parallel,
// maps the derivatives back to the Gram matrix X X^T and returns the loss as
// a scalar whose backward pass is one product, (E + E^T) X.
#include "losses/loss.h"
#include "util/parallel.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace liftlab {

// What a row function returns for its anchor. The loss is the sum of the
// values divided by the sum of the counts (by 1 when no row counts).
struct RowTerm
{
    double value = 0;
    double count = 0;
    double active = 0; // pairs with a non-zero term, for activeFraction
};

enum class PairSpace {
    Similarity, // M = X X^T (for unit rows, cosine similarities)
    Distance,   // M_ij = ||x_i - x_j||, with the safe root of pairwiseDistances
};

struct RowwiseResult
{
    torch::Tensor loss;  // scalar, differentiable with respect to x
    double count = 0;    // sum of the rows' counts
    double active = 0;   // sum of the rows' active counts
    torch::Tensor terms; // [B, B] as written by the row function, if asked for
};

// log(sum_k exp(z_k)) over the k where keep(k), or log(1 + sum ...) with
// plusOne, stably; weight[k] receives its derivative d/dz_k (zero where not
// kept). Nothing kept and no plusOne: -inf, with zero weights.
template <typename T, typename Keep>
double logSumExp(const T *z, int64_t n, Keep keep, T *weight, bool plusOne)
{
    double top = plusOne ? 0.0 : -INFINITY;
    for (int64_t k = 0; k < n; ++k)
        if (keep(k) && z[k] > top)
            top = z[k];
    if (top == -INFINITY) {
        std::fill(weight, weight + n, T(0));
        return top;
    }
    double sum = plusOne ? std::exp(-top) : 0.0;
    for (int64_t k = 0; k < n; ++k) {
        weight[k] = keep(k) ? T(std::exp(z[k] - top)) : T(0);
        sum += weight[k];
    }
    for (int64_t k = 0; k < n; ++k)
        weight[k] = T(weight[k] / sum);
    return top + std::log(sum);
}

namespace detail {

// The scalar a rowwise loss returns: forward is the precomputed value, the
// backward pass turns the precomputed dL/dG (G = X X^T) into dL/dX.
class GramLossFunction : public torch::autograd::Function<GramLossFunction>
{
public:
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x,
                                 const torch::Tensor &gradGram, const torch::Tensor &value)
    {
        ctx->save_for_backward({x, gradGram});
        return value.clone();
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list gradOutputs)
    {
        const auto saved = ctx->get_saved_variables();
        const torch::Tensor &e = saved[1];
        return {parallelMm(e + e.t(), saved[0]) * gradOutputs[0], torch::Tensor(), torch::Tensor()};
    }
};

// A scalar `value` whose gradient with respect to `input` is `grad`.
class PrecomputedGradientFunction : public torch::autograd::Function<PrecomputedGradientFunction>
{
public:
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &input,
                                 const torch::Tensor &grad, const torch::Tensor &value)
    {
        (void)input;
        ctx->save_for_backward({grad});
        return value.clone();
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list gradOutputs)
    {
        return {ctx->get_saved_variables()[0] * gradOutputs[0], torch::Tensor(), torch::Tensor()};
    }
};

template <typename T, typename RowFn>
RowwiseResult rowwise(const torch::Tensor &xIn, PairSpace space, bool withTerms, const RowFn &rowFn)
{
    const torch::Tensor x = xIn.detach().contiguous();
    const int64_t b = x.size(0);
    const T tiny = T(1e-12); // squared distances below this count as coinciding points
    torch::Tensor matrix = gram(x);
    T *m = matrix.data_ptr<T>();
    std::vector<T> norm(static_cast<size_t>(b));
    for (int64_t i = 0; i < b; ++i)
        norm[size_t(i)] = m[i * b + i];
    torch::Tensor grad = torch::zeros({b, b}, x.options());
    T *g = grad.data_ptr<T>();
    RowwiseResult result;
    T *t = nullptr;
    if (withTerms) {
        result.terms = torch::zeros({b, b}, x.options());
        t = result.terms.template data_ptr<T>();
    }
    std::vector<RowTerm> rows(static_cast<size_t>(b));
    at::parallel_for(0, b, 16, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            T *mi = m + i * b;
            if (space == PairSpace::Distance) {
                for (int64_t k = 0; k < b; ++k) {
                    const T sq = norm[size_t(i)] + norm[size_t(k)] - 2 * mi[k];
                    mi[k] = std::sqrt(sq > tiny ? sq : tiny);
                }
                mi[i] = std::sqrt(tiny);
            }
            rows[size_t(i)] = rowFn(i, static_cast<const T *>(mi), g + i * b, t ? t + i * b : nullptr);
        }
    });
    double value = 0, count = 0;
    for (const RowTerm &r : rows) {
        value += r.value;
        count += r.count;
        result.active += r.active;
    }
    result.count = count;
    const double scale = count > 0 ? 1.0 / count : 1.0;
    if (space == PairSpace::Distance) {
        // dD_ij/dG_ij = -1/D_ij, dD_ij/dG_ii = dD_ij/dG_jj = 1/(2 D_ij); a
        // clamped distance has no gradient. W = dL/dD / D, then
        // dL/dG = -W off the diagonal and (W 1 + W^T 1) / 2 on it.
        const T floor = std::sqrt(tiny);
        std::vector<double> diagonal(static_cast<size_t>(b), 0.0);
        for (int64_t i = 0; i < b; ++i)
            for (int64_t k = 0; k < b; ++k) {
                T &gik = g[i * b + k];
                const T w = k != i && m[i * b + k] > floor ? gik / m[i * b + k] : T(0);
                gik = -w;
                diagonal[size_t(i)] += 0.5 * w;
                diagonal[size_t(k)] += 0.5 * w;
            }
        for (int64_t i = 0; i < b; ++i)
            g[i * b + i] = T(diagonal[size_t(i)]);
    }
    if (scale != 1.0)
        grad.mul_(scale);
    result.loss = GramLossFunction::apply(xIn, grad, torch::full({}, value * scale, x.options()));
    return result;
}

} // namespace detail

// A loss computed outside autograd, with its derivatives `grad` with respect
// to `input` (same shape) written out: a scalar with value `value` whose
// backward pass is grad * dL.
inline torch::Tensor withGradient(const torch::Tensor &input, double value, const torch::Tensor &grad)
{
    return detail::PrecomputedGradientFunction::apply(input, grad, torch::full({}, value, input.options()));
}

// rowFn(i, row, grad, terms) -> RowTerm, called once per anchor i (from
// several threads) for T = float and T = double: `row` is row i of the
// matrix (const T *, B entries), `grad` (T *) receives the derivatives of the
// row's value with respect to it (zeroed before), `terms` (T *, null unless
// withTerms) the per-pair terms to show in the heatmap.
template <typename RowFn>
RowwiseResult rowwiseLoss(const torch::Tensor &x, PairSpace space, bool withTerms, const RowFn &rowFn)
{
    if (x.scalar_type() == torch::kFloat64)
        return detail::rowwise<double>(x, space, withTerms, rowFn);
    return detail::rowwise<float>(x.to(torch::kFloat32), space, withTerms, rowFn);
}

} // namespace liftlab
