#include "losses/loss.h"

#include "error.h"
#include "util/parallel.h"

#include <torch/torch.h>

#include <cmath>
#include <sstream>

namespace liftlab {

std::string ParamSpec::defaultText() const
{
    if (kind == Kind::Choice)
        return choices.empty() ? std::string() : choices.front();
    std::ostringstream s;
    s << defaultValue;
    return s.str();
}

double LossParams::real(const std::string &name) const
{
    return std::stod(m_values.at(name));
}

const std::string &LossParams::choice(const std::string &name) const
{
    return m_values.at(name);
}

const std::vector<LossInfo> &lossRegistry()
{
    static const std::vector<LossInfo> registry = {
        liftedStructuredLossInfo(),
        contrastiveLossInfo(),
        tripletLossInfo(),
        generalizedLiftedLossInfo(),
        multiSimilarityLossInfo(),
        binomialDevianceLossInfo(),
        nPairLossInfo(),
    };
    return registry;
}

std::vector<LossDescription> lossDescriptions()
{
    return std::vector<LossDescription>(lossRegistry().begin(), lossRegistry().end());
}

const LossInfo &findLoss(const std::string &name)
{
    std::string known;
    for (const LossInfo &info : lossRegistry()) {
        if (info.name == name)
            return info;
        known += (known.empty() ? "" : ", ") + info.name;
    }
    throw Error("unknown loss '" + name + "' (known: " + known + ")");
}

const LossDescription &describeLoss(const std::string &name)
{
    return findLoss(name);
}

LossParams resolveParams(const LossDescription &info, const ParamValues &given)
{
    for (const auto &[name, value] : given) {
        bool known = false;
        for (const ParamSpec &spec : info.params)
            known = known || spec.name == name;
        if (!known) {
            std::string names;
            for (const ParamSpec &spec : info.params)
                names += (names.empty() ? "" : ", ") + spec.name;
            throw Error("loss '" + info.name + "' has no parameter '" + name + "' (parameters: "
                        + (names.empty() ? "none" : names) + ")");
        }
    }
    LossParams params;
    for (const ParamSpec &spec : info.params) {
        const auto it = given.find(spec.name);
        const std::string text = it == given.end() ? spec.defaultText() : it->second;
        const std::string where = "loss '" + info.name + "' parameter '" + spec.name + "'";
        if (spec.kind == ParamSpec::Kind::Choice) {
            bool valid = false;
            std::string options;
            for (const std::string &c : spec.choices) {
                valid = valid || c == text;
                options += (options.empty() ? "" : ", ") + c;
            }
            if (!valid)
                throw Error(where + ": '" + text + "' is not one of " + options);
        } else {
            size_t used = 0;
            double value = NAN;
            try {
                value = std::stod(text, &used);
            } catch (const std::exception &) {
                used = 0;
            }
            if (used != text.size() || !std::isfinite(value))
                throw Error(where + ": '" + text + "' is not a number");
            if (value < spec.minimum || value > spec.maximum) {
                std::ostringstream s;
                s << where << ": " << value << " is outside [" << spec.minimum << ", " << spec.maximum << "]";
                throw Error(s.str());
            }
        }
        params.m_values[spec.name] = text;
    }
    return params;
}

std::unique_ptr<Loss> createLoss(const std::string &name, const ParamValues &given)
{
    const LossInfo &info = findLoss(name);
    return info.create(resolveParams(info, given));
}

namespace {

// x x^T with its gradient: forward by syrk (half a product, on every
// intra-op thread), backward dL/dx = (G + G^T) x as a row-parallel product.
// torch::mm runs single-threaded here (OpenBLAS keeps one thread, see
// prepareCompute), and these three products were most of a pair loss's time.
class GramFunction : public torch::autograd::Function<GramFunction>
{
public:
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x)
    {
        ctx->save_for_backward({x});
        return gram(x);
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list gradOutputs)
    {
        const torch::Tensor x = ctx->get_saved_variables()[0];
        const torch::Tensor g = gradOutputs[0];
        return {parallelMm(g + g.t(), x)};
    }
};

} // namespace

torch::Tensor gramProduct(const torch::Tensor &x)
{
    return GramFunction::apply(x.contiguous());
}

torch::Tensor cosineSimilarities(const torch::Tensor &x)
{
    return gramProduct(x / x.norm(2, 1, true).clamp_min(1e-12));
}

torch::Tensor pairwiseDistances(const torch::Tensor &x)
{
    const torch::Tensor squared = x.pow(2).sum(1);
    const torch::Tensor d2 = squared.unsqueeze(1) + squared.unsqueeze(0) - 2 * gramProduct(x);
    return d2.clamp_min(1e-12).sqrt();
}

} // namespace liftlab
