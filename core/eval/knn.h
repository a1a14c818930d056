#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

namespace liftlab {

// k nearest neighbours of a set of queries, row-major [rows, k], nearest
// first; `distances` are Euclidean.
struct NeighbourList
{
    int64_t first = 0; // index of the first query these rows belong to
    int64_t rows = 0;
    int64_t k = 0;
    std::vector<int64_t> indices;
    std::vector<float> distances;
};

// Exact kNN over row-major float matrices (queries [nq, dim], gallery [ng, dim]).
// Ranking uses |g|^2 - 2 q.g from blocked single-threaded GEMMs, each thread
// owning its own query rows and keeping the k best of each row in a buffer
// cut back by selection, so memory is a few MB per thread plus the k best
// per row; ties go to the lower index. With
// `excludeSelf` queries and gallery are the same set and query i never
// returns itself. `exactDistances` recomputes the k reported distances
// directly (the GEMM form rounds small ones to noise) and orders by them;
// metrics that only use ranks can skip it. Queries are handed to `visit` in
// order, in chunks of at most 8,192 rows and ~48 MB of result. Non-finite
// distances (a NaN embedding) rank last instead of breaking the order.
// Once `*cancel` is true it stops after the current chunk.
void forEachNeighbourChunk(const float *queries, int64_t nq, const float *gallery, int64_t ng, int64_t dim, int64_t k,
                           bool excludeSelf, bool exactDistances,
                           const std::function<void(const NeighbourList &chunk)> &visit,
                           const std::atomic<bool> *cancel = nullptr);

// All rows at once (fewer when cancelled: `rows` says how many).
NeighbourList nearestNeighbours(const float *queries, int64_t nq, const float *gallery, int64_t ng, int64_t dim,
                                int64_t k, bool excludeSelf, const std::atomic<bool> *cancel = nullptr);

// Approximate k nearest neighbours of the rows of data [n, dim] among
// themselves (a row never returns itself), by nearest-neighbour descent from
// a random projection forest (pynndescent's method, which umap-learn uses).
// Sorted nearest first with Euclidean distances, like nearestNeighbours;
// a few hundred distance computations per point and round, a handful of
// rounds, where the exact search makes n per point. NaN distances rank
// last. The same for a seed whatever the thread count. No rows when
// cancelled. At most 2^31 - 1 points.
NeighbourList approximateNeighbours(const float *data, int64_t n, int64_t dim, int64_t k, uint64_t seed,
                                    const std::atomic<bool> *cancel = nullptr);

} // namespace liftlab
