#pragma once

#include <torch/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace liftlab {

// Describes one loss parameter, so the CLI and the GUI can build help text and
// forms (ranges, defaults, tooltips) from the registry alone.
struct ParamSpec
{
    enum class Kind { Real, Choice };

    std::string name;
    Kind kind = Kind::Real;
    double defaultValue = 0.0;
    double minimum = 0.0;
    double maximum = 0.0;
    std::vector<std::string> choices; // Kind::Choice: the first is the default
    std::string help;

    std::string defaultText() const;
};

// Parameter values as given by a user: name -> text ("1.5", "semi-hard").
using ParamValues = std::map<std::string, std::string>;

// Parameter values checked against their specs, with defaults filled in.
class LossParams
{
public:
    double real(const std::string &name) const;
    const std::string &choice(const std::string &name) const;
    const ParamValues &values() const { return m_values; }

private:
    friend LossParams resolveParams(const struct LossInfo &info, const ParamValues &given);
    ParamValues m_values;
};

struct LossOutput
{
    torch::Tensor loss;          // scalar, differentiable
    double activeFraction = 0.0; // pairs/triplets with a non-zero loss term
    torch::Tensor pairTerms;     // optional [B, B] per-pair loss term (detached), e.g. J_ij of the lifted loss
};

class Loss
{
public:
    virtual ~Loss() = default;
    // embeddings [B, d] float, labels [B] int64.
    virtual LossOutput compute(const torch::Tensor &embeddings, const torch::Tensor &labels) = 0;
};

struct LossInfo
{
    std::string name;
    std::string title;
    std::string description;
    std::vector<ParamSpec> params;
    std::function<std::unique_ptr<Loss>(const LossParams &)> create;
};

const std::vector<LossInfo> &lossRegistry();

// Throws liftlab::Error naming the unknown loss and the known ones.
const LossInfo &findLoss(const std::string &name);

// Throws liftlab::Error for an unknown parameter or a value out of range.
LossParams resolveParams(const LossInfo &info, const ParamValues &given);

std::unique_ptr<Loss> createLoss(const std::string &name, const ParamValues &given);

// Pairwise Euclidean distances [B, B] of the rows of x, with a safe square
// root: distances of coinciding points are ~1e-6 with zero gradient instead
// of an infinite one, so a collapsed embedding never produces NaN.
torch::Tensor pairwiseDistances(const torch::Tensor &x);

// The registry entries, one per loss file.
LossInfo liftedStructuredLossInfo();
LossInfo contrastiveLossInfo();
LossInfo tripletLossInfo();

} // namespace liftlab
