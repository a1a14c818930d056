#pragma once

#include "losses/params.h"

#include <torch/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace liftlab {

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

struct LossInfo : LossDescription
{
    std::function<std::unique_ptr<Loss>(const LossParams &)> create;
};

const std::vector<LossInfo> &lossRegistry();

// Throws liftlab::Error naming the unknown loss and the known ones.
const LossInfo &findLoss(const std::string &name);


std::unique_ptr<Loss> createLoss(const std::string &name, const ParamValues &given);

// x x^T [B, B], differentiable, computed on every intra-op thread.
torch::Tensor gramProduct(const torch::Tensor &x);

// Cosine similarities [B, B] of the rows of x (x L2-normalised, then its Gram
// matrix); a zero row has similarity 0 with everything.
torch::Tensor cosineSimilarities(const torch::Tensor &x);

// Pairwise Euclidean distances [B, B] of the rows of x, with a safe square
// root: distances of coinciding points are ~1e-6 with zero gradient instead
// of an infinite one, so a collapsed embedding never produces NaN.
torch::Tensor pairwiseDistances(const torch::Tensor &x);

// The registry entries, one per loss file.
LossInfo liftedStructuredLossInfo();
LossInfo contrastiveLossInfo();
LossInfo tripletLossInfo();
LossInfo generalizedLiftedLossInfo();
LossInfo multiSimilarityLossInfo();
LossInfo binomialDevianceLossInfo();
LossInfo nPairLossInfo();

} // namespace liftlab
