// ProxyNCA (Movshovitz-Attias, Toshev, Leung, Ioffe, Singh, ICCV 2017): one
// learned proxy per training class; each embedding is pulled to its class's
// proxy and pushed from the others, NCA-style, on the squared distances of
// the L2-normalised vectors, d(x, p) = scale * ||x/|x| - p/|p|||^2:
//   L = mean_x -log( exp(-d(x, p_y)) / sum_z exp(-d(x, p_z)) ).
// The denominator includes the own proxy (as in ProxyNCA++, Teh et al. 2020)
// so the loss is a cross-entropy, positive and bounded below by zero; scale 9
// is their embeddings and proxies at norm 3.
#include "losses/loss.h"

#include <torch/torch.h>

namespace liftlab {

namespace {

class ProxyNcaLoss : public Loss
{
public:
    ProxyNcaLoss(const LossParams &p, const LossContext &context)
        : m_scale(p.real("scale"))
        , m_lrScale(p.real("lr-scale"))
        , m_classes(context.classes)
    {
        m_proxies = register_parameter("proxies", initialProxies(context, "proxy-nca"));
    }

    double learningRateScale() const override { return m_lrScale; }

    LossOutput compute(const torch::Tensor &embeddings, const torch::Tensor &labels) override
    {
        const torch::Tensor rows = proxyRows(labels, m_classes);
        const torch::Tensor d = m_scale * (2 - 2 * cosineSimilarities(embeddings, m_proxies));
        LossOutput out;
        out.loss = torch::nn::functional::cross_entropy(-d, rows);
        // Active: embeddings whose own proxy is not the nearest.
        out.activeFraction = d.detach().argmin(1).ne(rows).to(torch::kFloat64).mean().item<double>();
        return out;
    }

private:
    double m_scale, m_lrScale;
    std::vector<int64_t> m_classes;
    torch::Tensor m_proxies;
};

} // namespace

LossInfo proxyNcaLossInfo()
{
    LossInfo info;
    info.name = "proxy-nca";
    info.title = "ProxyNCA";
    info.description = "Movshovitz-Attias et al. 2017: a learned proxy per class; each embedding is pulled to its "
                       "class's proxy and pushed from the others (softmax over proxy distances).";
    info.params = {
        {"scale", ParamSpec::Kind::Real, 9.0, 0.1, 100.0, {}, "squared distances of the unit vectors are multiplied by this", 1.0, 30.0},
        {"lr-scale", ParamSpec::Kind::Real, 10.0, 0.0, 1000.0, {}, "learning rate of the proxies relative to the network's"},
    };
    info.create = [](const LossParams &p, const LossContext &c) { return std::make_unique<ProxyNcaLoss>(p, c); };
    return info;
}

} // namespace liftlab
