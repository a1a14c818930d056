#include "losses/loss.h"

#include "error.h"
#include "util/parallel.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
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
        marginLossInfo(),
        proxyNcaLossInfo(),
        proxyAnchorLossInfo(),
        normalizedSoftmaxLossInfo(),
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

const LossDescription *lookUpLoss(const std::string &name)
{
    for (const LossInfo &info : lossRegistry())
        if (info.name == name)
            return &info;
    return nullptr;
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

std::unique_ptr<Loss> createLoss(const std::string &name, const ParamValues &given, const LossContext &context)
{
    const LossInfo &info = findLoss(name);
    return info.create(resolveParams(info, given), context);
}

LossContext lossContextFor(std::vector<int64_t> labels, int64_t embeddingDim, uint64_t seed)
{
    std::sort(labels.begin(), labels.end());
    labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
    LossContext context;
    context.classes = std::move(labels);
    context.embeddingDim = embeddingDim;
    context.seed = seed;
    return context;
}

torch::Tensor initialProxies(const LossContext &context, const std::string &loss)
{
    if (context.classes.empty() || context.embeddingDim <= 0)
        throw Error("loss '" + loss + "' learns one vector per class: it needs the training classes");
    auto generator = at::make_generator<at::CPUGeneratorImpl>(context.seed);
    return torch::randn({int64_t(context.classes.size()), context.embeddingDim}, generator, torch::kFloat32);
}

torch::Tensor proxyRows(const torch::Tensor &labels, const std::vector<int64_t> &classes)
{
    const torch::Tensor known = torch::tensor(classes, torch::kInt64).to(labels.device());
    const torch::Tensor rows = torch::searchsorted(known, labels.to(torch::kInt64));
    const torch::Tensor found = rows.clamp_max(int64_t(classes.size()) - 1);
    const torch::Tensor missing = known.index_select(0, found.flatten()).view_as(labels).ne(labels);
    if (missing.any().item<bool>())
        throw Error("label " + std::to_string(labels.masked_select(missing)[0].item<int64_t>())
                    + " is not one of the training classes the loss has proxies for");
    return rows;
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

// a b^T with its gradients (dL/da = G b, dL/db = G^T a), all three
// products split over the intra-op threads like the Gram matrix's.
class ProductFunction : public torch::autograd::Function<ProductFunction>
{
public:
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &a, const torch::Tensor &b)
    {
        ctx->save_for_backward({a, b});
        return parallelMm(a, b.t());
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list gradOutputs)
    {
        const auto saved = ctx->get_saved_variables();
        const torch::Tensor g = gradOutputs[0].contiguous();
        return {parallelMm(g, saved[1]), parallelMm(g.t().contiguous(), saved[0])};
    }
};

} // namespace

torch::Tensor gramProduct(const torch::Tensor &x)
{
    return GramFunction::apply(x.contiguous());
}

torch::Tensor cosineSimilarities(const torch::Tensor &x)
{
    return gramProduct(normalizeRows(x));
}

torch::Tensor cosineSimilarities(const torch::Tensor &x, const torch::Tensor &proxies)
{
    return ProductFunction::apply(normalizeRows(x).contiguous(), normalizeRows(proxies.to(x.scalar_type())).contiguous());
}

torch::Tensor maskedLogSumExp(const torch::Tensor &z, const torch::Tensor &keep, int64_t dim, bool plusOne)
{
    torch::Tensor masked = z.masked_fill(keep.logical_not(), -INFINITY);
    if (plusOne) {
        std::vector<int64_t> one = z.sizes().vec();
        one[size_t(dim)] = 1;
        return torch::logsumexp(torch::cat({masked, torch::zeros(one, z.options())}, dim), dim);
    }
    // Rows with nothing kept are summed as zeros (their gradient then stays
    // finite) and then set to -inf.
    const torch::Tensor none = keep.any(dim, true).logical_not();
    return torch::logsumexp(masked.masked_fill(none, 0), dim).masked_fill(none.squeeze(dim), -INFINITY);
}

torch::Tensor sameClass(const torch::Tensor &labels)
{
    return labels.unsqueeze(0).eq(labels.unsqueeze(1));
}

torch::Tensor positivePairs(const torch::Tensor &labels)
{
    return sameClass(labels) & torch::eye(labels.size(0), labels.options().dtype(torch::kBool)).logical_not();
}

torch::Tensor pairwiseDistances(const torch::Tensor &x)
{
    const torch::Tensor squared = x.pow(2).sum(1);
    const torch::Tensor d2 = squared.unsqueeze(1) + squared.unsqueeze(0) - 2 * gramProduct(x);
    return d2.clamp_min(1e-12).sqrt();
}

} // namespace liftlab
