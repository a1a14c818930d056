#pragma once

#include "losses/params.h"
#include "util/parallel.h"

#include <torch/nn/module.h>
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

// A loss is a module: the losses that learn something (proxies, class
// weights, a margin) register it as parameters, trained beside the network
// with their own learning rate and saved in checkpoints with it.
class Loss : public torch::nn::Module
{
public:
    // embeddings [B, d] float, labels [B] int64.
    virtual LossOutput compute(const torch::Tensor &embeddings, const torch::Tensor &labels) = 0;
    // The learning rate of this loss's parameters relative to the network's.
    virtual double learningRateScale() const { return 1.0; }
    // The training step the next compute() belongs to. A loss that samples
    // draws from a generator seeded by it, so that a resumed run samples the
    // same and repeated calls for one step (a gradient check) agree.
    virtual void beginStep(int64_t step) { (void)step; }
};

// What a loss with parameters of its own needs to know to build them.
struct LossContext
{
    std::vector<int64_t> classes; // the training labels, sorted (one proxy each)
    int64_t embeddingDim = 0;
    uint64_t seed = 0;            // their initialisation
};

// The context of training on these labels (any order, repeats allowed).
LossContext lossContextFor(std::vector<int64_t> labels, int64_t embeddingDim, uint64_t seed);

struct LossInfo : LossDescription
{
    std::function<std::unique_ptr<Loss>(const LossParams &, const LossContext &)> create;
};

const std::vector<LossInfo> &lossRegistry();

// Throws liftlab::Error naming the unknown loss and the known ones.
const LossInfo &findLoss(const std::string &name);


std::unique_ptr<Loss> createLoss(const std::string &name, const ParamValues &given, const LossContext &context = {});

// x x^T [B, B], differentiable, computed on every intra-op thread.
torch::Tensor gramProduct(const torch::Tensor &x);

// Cosine similarities [B, B] of the rows of x (x L2-normalised, then its Gram
// matrix); a zero row has similarity 0 with everything.
torch::Tensor cosineSimilarities(const torch::Tensor &x);
// Cosine similarities [B, C] of the rows of x with the rows of proxies [C, d]
// (cast to x's type).
torch::Tensor cosineSimilarities(const torch::Tensor &x, const torch::Tensor &proxies);

// Pairwise Euclidean distances [B, B] of the rows of x, with a safe square
// root: distances of coinciding points are ~1e-6 with zero gradient instead
// of an infinite one, so a collapsed embedding never produces NaN.
torch::Tensor pairwiseDistances(const torch::Tensor &x);

// The generic kernels' log-sum-exp (util/parallel.h: Kernels): log sum_k
// exp(z_k) along `dim` over the entries where `keep` is true, or
// log(1 + sum ...) with plusOne. Where nothing is kept and not plusOne: -inf,
// with a zero gradient (not NaN).
torch::Tensor maskedLogSumExp(const torch::Tensor &z, const torch::Tensor &keep, int64_t dim, bool plusOne);

// The [B, B] masks of a batch's labels [B]: same class (the diagonal
// included), and positive pairs (same class, i != j).
torch::Tensor sameClass(const torch::Tensor &labels);
torch::Tensor positivePairs(const torch::Tensor &labels);

// For the losses with one learned vector per class: rows [classes, dim]
// drawn from N(0, 1) by the context's seed, and a map label -> row that
// throws liftlab::Error for a label that has none.
torch::Tensor initialProxies(const LossContext &context, const std::string &loss);
torch::Tensor proxyRows(const torch::Tensor &labels, const std::vector<int64_t> &classes);

// Distance-weighted negative sampling (Wu et al. 2017) on the distances
// [B, B] of unit vectors in `dim` dimensions: for every positive pair (a, p),
// a != p, one negative n of a, drawn with probability proportional to
// 1 / q(max(D_an, cutoff)), where q(d) ~ d^(dim-2) (1 - d^2/4)^((dim-3)/2) is
// the density of distances between random points on the sphere, among the
// negatives closer than nonzeroCutoff (uniformly among all of a's negatives
// when none is). Anchor a draws from a stream seeded by (seed, step, a).
// Returns the triplets as rows (a, p, n) [M, 3] int64, by anchor.
torch::Tensor distanceWeightedTriplets(const torch::Tensor &distances, const torch::Tensor &labels, int64_t dim,
                                       double cutoff, double nonzeroCutoff, uint64_t seed, int64_t step);

// The registry entries, one per loss file.
LossInfo liftedStructuredLossInfo();
LossInfo contrastiveLossInfo();
LossInfo tripletLossInfo();
LossInfo generalizedLiftedLossInfo();
LossInfo multiSimilarityLossInfo();
LossInfo binomialDevianceLossInfo();
LossInfo nPairLossInfo();
LossInfo proxyNcaLossInfo();
LossInfo proxyAnchorLossInfo();
LossInfo normalizedSoftmaxLossInfo();
LossInfo marginLossInfo();

} // namespace liftlab
