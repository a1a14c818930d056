// Normalized softmax with an additive angular margin (NormFace, Wang et al.
// 2017; ArcFace, Deng et al. 2019): a classifier whose weights, one learned
// vector per training class, and inputs are L2-normalised, so its logits are
// cosines cos(theta_c), scaled by s; the true class's angle gets a margin m:
//   L = mean_x -log( exp(s phi_y) / (exp(s phi_y) + sum_{c != y} exp(s cos theta_c)) ),
//   phi_y = cos(theta_y + m) while theta_y + m <= pi, else cos(theta_y) - m sin(m)
// (ArcFace's continuation, which keeps phi decreasing in theta). m = 0 is
// NormFace's normalized softmax.
#include "losses/loss.h"

#include <torch/torch.h>

#include <cmath>

namespace liftlab {

namespace {

class NormalizedSoftmaxLoss : public Loss
{
public:
    NormalizedSoftmaxLoss(const LossParams &p, const LossContext &context)
        : m_scale(p.real("scale"))
        , m_margin(p.real("margin"))
        , m_lrScale(p.real("lr-scale"))
        , m_classes(context.classes)
    {
        m_weights = register_parameter("weights", initialProxies(context, "normalized-softmax"));
    }

    double learningRateScale() const override { return m_lrScale; }

    LossOutput compute(const torch::Tensor &embeddings, const torch::Tensor &labels) override
    {
        const torch::Tensor rows = proxyRows(labels, m_classes);
        const torch::Tensor cos = cosineSimilarities(embeddings, m_weights);
        const torch::Tensor target = cos.gather(1, rows.unsqueeze(1));
        // The square root's gradient is infinite at sin = 0: keep it finite.
        const torch::Tensor sin = (1 - target * target).clamp_min(1e-12).sqrt();
        const torch::Tensor phi = torch::where(target > std::cos(M_PI - m_margin),
                                               target * std::cos(m_margin) - sin * std::sin(m_margin),
                                               target - m_margin * std::sin(m_margin));
        const torch::Tensor logits = m_scale * cos.scatter(1, rows.unsqueeze(1), phi);
        LossOutput out;
        out.loss = torch::nn::functional::cross_entropy(logits, rows);
        // Active: embeddings not classified right with the margin.
        out.activeFraction = logits.detach().argmax(1).ne(rows).to(torch::kFloat64).mean().item<double>();
        return out;
    }

private:
    double m_scale, m_margin, m_lrScale;
    std::vector<int64_t> m_classes;
    torch::Tensor m_weights;
};

} // namespace

LossInfo normalizedSoftmaxLossInfo()
{
    LossInfo info;
    info.name = "normalized-softmax";
    info.title = "Normalized softmax / ArcFace";
    info.description = "NormFace / ArcFace: a cosine classifier over the training classes with an additive angular "
                       "margin on the true class (margin 0: normalized softmax).";
    info.params = {
        {"scale", ParamSpec::Kind::Real, 16.0, 1.0, 128.0, {}, "scale s of the cosine logits", 4.0, 64.0},
        {"margin", ParamSpec::Kind::Real, 0.2, 0.0, 1.0, {}, "additive angular margin m in radians", 0.0, 0.5},
        {"lr-scale", ParamSpec::Kind::Real, 10.0, 0.0, 1000.0, {},
         "learning rate of the class weights relative to the network's"},
    };
    info.create = [](const LossParams &p, const LossContext &c) { return std::make_unique<NormalizedSoftmaxLoss>(p, c); };
    return info;
}

} // namespace liftlab
