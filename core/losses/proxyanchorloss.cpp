// Proxy-Anchor loss (Kim, Kim, Cho, Kwak, CVPR 2020): one learned proxy per
// training class, each an anchor for the whole batch. With s(x, p) the
// cosine similarity, P+ the proxies of the classes present in the batch,
// X_p+ the embeddings of p's class and X_p- the others:
//   L = 1/|P+| sum_{p in P+} log(1 + sum_{x in X_p+} exp(-alpha (s(x, p) - delta)))
//     + 1/|P|  sum_{p in P}  log(1 + sum_{x in X_p-} exp( alpha (s(x, p) + delta)))
// Defaults alpha 32 and delta 0.1 as in the paper; the proxies learn 10x
// faster than the network (the paper: 100x, at a 10x lower base rate).
#include "losses/loss.h"
#include "losses/rowwise.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <vector>

namespace liftlab {

namespace {

class ProxyAnchorLoss : public Loss
{
public:
    ProxyAnchorLoss(const LossParams &p, const LossContext &context)
        : m_alpha(p.real("alpha"))
        , m_delta(p.real("delta"))
        , m_lrScale(p.real("lr-scale"))
        , m_classes(context.classes)
    {
        m_proxies = register_parameter("proxies", initialProxies(context, "proxy-anchor"));
    }

    double learningRateScale() const override { return m_lrScale; }

    LossOutput compute(const torch::Tensor &embeddings, const torch::Tensor &labels) override
    {
        const torch::Tensor s = cosineSimilarities(embeddings, m_proxies);
        if (!fastKernels(s))
            return generic(s, proxyRows(labels.to(s.device()), m_classes));
        const torch::Tensor rows = proxyRows(labels.cpu(), m_classes).contiguous();
        if (s.scalar_type() == torch::kFloat64)
            return columns<double>(s, rows);
        return columns<float>(s, rows);
    }

private:
    // One pass over the proxies (the columns of s), each giving its two
    // terms and their derivatives with respect to its column; autograd takes
    // it from s on. Left to autograd, the masked log-sum-exps over B x C cost
    // a dozen tensor operations each way.
    template <typename T>
    LossOutput columns(const torch::Tensor &s, const torch::Tensor &rows)
    {
        const torch::Tensor sc = s.detach().t().contiguous(); // [C, B]
        const int64_t c = sc.size(0), b = sc.size(1);
        const int64_t *row = rows.data_ptr<int64_t>();
        std::vector<char> present(static_cast<size_t>(c), 0);
        for (int64_t k = 0; k < b; ++k)
            present[size_t(row[k])] = 1;
        const double presentCount = double(std::max<int64_t>(1, std::count(present.begin(), present.end(), 1)));
        const T alpha = T(m_alpha), delta = T(m_delta);
        torch::Tensor grad = torch::zeros({c, b}, sc.options());
        const T *similarity = sc.data_ptr<T>();
        T *g = grad.data_ptr<T>();
        std::vector<double> value(static_cast<size_t>(c), 0.0), active(static_cast<size_t>(c), 0.0);
        at::parallel_for(0, c, 4, [&](int64_t begin, int64_t end) {
            std::vector<T> z(static_cast<size_t>(b)), weight(static_cast<size_t>(b));
            for (int64_t p = begin; p < end; ++p) {
                const T *sp = similarity + p * b;
                T *gp = g + p * b;
                auto positive = [&](int64_t k) { return row[k] == p; };
                auto negative = [&](int64_t k) { return row[k] != p; };
                if (present[size_t(p)]) {
                    for (int64_t k = 0; k < b; ++k)
                        z[size_t(k)] = -alpha * (sp[k] - delta);
                    value[size_t(p)] += logSumExp(z.data(), b, positive, weight.data(), true) / presentCount;
                    for (int64_t k = 0; k < b; ++k)
                        gp[k] += T(-m_alpha * weight[size_t(k)] / presentCount);
                }
                for (int64_t k = 0; k < b; ++k)
                    z[size_t(k)] = alpha * (sp[k] + delta);
                value[size_t(p)] += logSumExp(z.data(), b, negative, weight.data(), true) / double(c);
                for (int64_t k = 0; k < b; ++k) {
                    gp[k] += T(m_alpha * weight[size_t(k)] / double(c));
                    // Active: embedding-proxy pairs on the wrong side of their margin.
                    active[size_t(p)] += positive(k) ? sp[k] < delta : sp[k] > -delta;
                }
            }
        });
        LossOutput out;
        out.loss = withGradient(s, std::accumulate(value.begin(), value.end(), 0.0), grad.t());
        out.activeFraction = std::accumulate(active.begin(), active.end(), 0.0) / double(b * c);
        return out;
    }

    // The same with torch operations (the generic kernels, any device), on
    // the similarities s [B, C] and the proxy (column) of each row.
    LossOutput generic(const torch::Tensor &s, const torch::Tensor &rows) const
    {
        const int64_t b = s.size(0), c = s.size(1);
        const torch::Tensor positive = torch::one_hot(rows, c).to(torch::kBool);
        const torch::Tensor present = positive.any(0);
        const double presentCount = std::max(1.0, present.sum().item<double>());
        const torch::Tensor pull = maskedLogSumExp(-m_alpha * (s - m_delta), positive, 0, true);
        const torch::Tensor push = maskedLogSumExp(m_alpha * (s + m_delta), positive.logical_not(), 0, true);
        LossOutput out;
        out.loss = pull.masked_fill(present.logical_not(), 0).sum() / presentCount + push.sum() / double(c);
        const torch::Tensor active = torch::where(positive, s.detach() < m_delta, s.detach() > -m_delta);
        out.activeFraction = active.sum().item<double>() / double(b * c);
        return out;
    }

    double m_alpha, m_delta, m_lrScale;
    std::vector<int64_t> m_classes;
    torch::Tensor m_proxies;
};

} // namespace

LossInfo proxyAnchorLossInfo()
{
    LossInfo info;
    info.name = "proxy-anchor";
    info.title = "Proxy-Anchor";
    info.description = "Kim et al. 2020: a learned proxy per class, each anchoring a soft-weighted sum over all "
                       "embeddings of the batch (cosine similarity).";
    info.params = {
        {"alpha", ParamSpec::Kind::Real, 32.0, 0.1, 128.0, {}, "scale of the similarities", 4.0, 64.0},
        {"delta", ParamSpec::Kind::Real, 0.1, 0.0, 1.0, {}, "margin delta", 0.0, 0.3},
        {"lr-scale", ParamSpec::Kind::Real, 10.0, 0.0, 1000.0, {}, "learning rate of the proxies relative to the network's"},
    };
    info.create = [](const LossParams &p, const LossContext &c) { return std::make_unique<ProxyAnchorLoss>(p, c); };
    return info;
}

} // namespace liftlab
