#pragma once

#include "data/dataset.h"
#include "eval/metrics.h"
#include "nn/models.h"

#include <functional>

namespace liftlab {

struct Neighbours
{
    torch::Tensor indices;   // int64 [N, k], nearest first
    torch::Tensor distances; // float [N, k], Euclidean
};

// Exact k nearest neighbours by blocked GEMM + top-k: queries are processed a
// block at a time, so memory stays at block x gallery, never N x N. With
// `excludeSelf`, queries and gallery are the same set and each query's own
// row is skipped. `visit` receives each block's first query index and result.
// The ranking is exact either way; `exactDistances` also recomputes the k
// reported distances directly (the GEMM form rounds small ones to noise),
// which metrics that only use ranks can skip.
void forEachNeighbourBlock(const torch::Tensor &queries, const torch::Tensor &gallery, int64_t k, bool excludeSelf,
                           const std::function<void(int64_t first, const Neighbours &block)> &visit,
                           bool exactDistances = true);
Neighbours exactKnn(const torch::Tensor &queries, const torch::Tensor &gallery, int64_t k, bool excludeSelf);

// k-means (k-means++ seeding, Lloyd iterations), deterministic by seed.
// Once `cancel` is set, the functions below throw liftlab::Cancelled within
// one block of their work (an iteration, a batch of images or queries).
std::vector<int64_t> kmeans(const torch::Tensor &points, int64_t k, uint64_t seed, int iterations = 100,
                            const std::atomic<bool> *cancel = nullptr);

// All metrics of an embedding [N, d] with labels [N] (see Metrics).
Metrics evaluateEmbeddings(const torch::Tensor &embeddings, const torch::Tensor &labels, uint64_t seed = 0,
                           const std::atomic<bool> *cancel = nullptr);

// Embeds a dataset in evaluation mode without gradients.
torch::Tensor embedDataset(EmbeddingNetImpl &model, const Dataset &data, const Normalization &norm,
                           int64_t batchSize = 500, const std::atomic<bool> *cancel = nullptr);
// The same for images [first, last) only (a process's share of an evaluation).
torch::Tensor embedRows(EmbeddingNetImpl &model, const Dataset &data, const Normalization &norm, int64_t first,
                        int64_t last, int64_t batchSize = 500, const std::atomic<bool> *cancel = nullptr);

} // namespace liftlab
