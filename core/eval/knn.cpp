#include "eval/knn.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace liftlab {

namespace {

// Rows handled by one task, and gallery rows per GEMM tile: a 256 x 1024
// float tile is 1 MB, which stays in a core's L2 while the rows are scanned,
// and 256 rows amortise the packing of the gallery tile in the GEMM.
constexpr int64_t kBlockRows = 256;
constexpr int64_t kTileCols = 1024;
// Queries handed to `visit` at a time, so that a chunk's result stays
// under ~48 MB whatever k is.
int64_t chunkRows(int64_t k)
{
    return std::max<int64_t>(kBlockRows, std::min<int64_t>(8192, (int64_t(1) << 22) / std::max<int64_t>(1, k)));
}

struct Candidate
{
    float distance;
    int64_t index;
    bool operator<(const Candidate &o) const
    {
        return distance < o.distance || (distance == o.distance && index < o.index);
    }
};

// The k best candidates of one query. Candidates below the current bound
// are appended; when the buffer holds 2k (at least k + 64) they are cut back
// to the k best with nth_element, which tightens the bound. Each candidate
// costs O(1) amortised whatever k is, where a heap pays log k with a cache
// miss per level: for MAP@R, k is the class size (~1,000 on Fashion-MNIST).
class TopK
{
public:
    explicit TopK(int64_t k) : m_k(size_t(k)), m_capacity(std::max(2 * m_k, m_k + 64))
    {
        m_items.reserve(m_capacity);
    }

    int64_t size() const { return int64_t(m_items.size()); }
    // Everything below bound() may belong to the k best; nothing above does.
    float bound() const { return m_bound; }

    void offer(float distance, int64_t index)
    {
        m_items.push_back({std::isnan(distance) ? INFINITY : distance, index}); // NaN ranks last
        if (m_items.size() == m_capacity)
            cut();
    }

    // The k best (fewer if fewer were offered), in no particular order.
    std::vector<Candidate> &items()
    {
        if (m_items.size() > m_k)
            cut();
        return m_items;
    }

private:
    void cut()
    {
        const auto kth = m_items.begin() + std::ptrdiff_t(m_k) - 1;
        std::nth_element(m_items.begin(), kth, m_items.end());
        m_items.resize(m_k);
        // Later offers come from higher indices, so a tie with the k-th loses.
        m_bound = kth->distance;
    }

    size_t m_k;
    size_t m_capacity;
    float m_bound = INFINITY;
    std::vector<Candidate> m_items;
};

} // namespace

void forEachNeighbourChunk(const float *queries, int64_t nq, const float *gallery, int64_t ng, int64_t dim, int64_t k,
                           bool excludeSelf, bool exactDistances,
                           const std::function<void(const NeighbourList &chunk)> &visit,
                           const std::atomic<bool> *cancel)
{
    k = std::max<int64_t>(0, std::min(k, ng - (excludeSelf ? 1 : 0)));
    const auto options = torch::TensorOptions().dtype(torch::kFloat32);
    // from_blob does not copy; the tensors never outlive this call.
    const torch::Tensor q = torch::from_blob(const_cast<float *>(queries), {nq, dim}, options);
    const torch::Tensor g = torch::from_blob(const_cast<float *>(gallery), {ng, dim}, options);
    const torch::Tensor galleryNormsT = g.pow(2).sum(1).contiguous();
    const float *galleryNorms = galleryNormsT.data_ptr<float>();

    const int64_t rowsPerChunk = chunkRows(k);
    for (int64_t chunkFirst = 0; chunkFirst < nq && !(cancel && cancel->load()); chunkFirst += rowsPerChunk) {
        NeighbourList chunk;
        chunk.first = chunkFirst;
        chunk.rows = std::min(rowsPerChunk, nq - chunkFirst);
        chunk.k = k;
        chunk.indices.resize(size_t(chunk.rows * k));
        chunk.distances.resize(size_t(chunk.rows * k));
        const int64_t blocks = (chunk.rows + kBlockRows - 1) / kBlockRows;
        at::parallel_for(0, blocks, 1, [&](int64_t blockBegin, int64_t blockEnd) {
            torch::Tensor dots = torch::empty({kBlockRows, std::min(kTileCols, ng)}, options);
            std::vector<TopK> tops;
            for (int64_t block = blockBegin; block < blockEnd; ++block) {
                const int64_t first = chunkFirst + block * kBlockRows;
                const int64_t rows = std::min(kBlockRows, chunkFirst + chunk.rows - first);
                tops.assign(size_t(rows), TopK(k));
                const torch::Tensor qb = q.narrow(0, first, rows);
                for (int64_t tile = 0; tile < ng && k > 0; tile += kTileCols) {
                    const int64_t cols = std::min(kTileCols, ng - tile);
                    torch::Tensor out = dots.narrow(0, 0, rows).narrow(1, 0, cols);
                    if (!out.is_contiguous())
                        out = torch::empty({rows, cols}, options);
                    torch::mm_out(out, qb, g.narrow(0, tile, cols).t());
                    float *d = out.data_ptr<float>();
                    const float *norms = galleryNorms + tile;
                    for (int64_t r = 0; r < rows; ++r) {
                        TopK &best = tops[size_t(r)];
                        float *dr = d + r * cols;
                        // |q|^2 is the same for the whole row: rank by |g|^2 - 2 q.g.
                        for (int64_t c = 0; c < cols; ++c)
                            dr[c] = norms[c] - 2 * dr[c];
                        const int64_t self = excludeSelf ? first + r - tile : -1;
                        int64_t c = 0;
                        for (; c < cols && best.size() < k; ++c) // the first k, whatever they are
                            if (c != self)
                                best.offer(dr[c], tile + c);
                        float bound = best.bound();
                        // Eight at a time: most groups have nothing below the bound.
                        for (; c < cols; c += 8) {
                            const int64_t end = std::min(cols, c + 8);
                            bool any = end - c < 8;
                            if (!any)
                                for (int j = 0; j < 8; ++j)
                                    any |= dr[c + j] < bound;
                            if (!any)
                                continue;
                            for (int64_t j = c; j < end; ++j)
                                if (dr[j] < bound && j != self) {
                                    best.offer(dr[j], tile + j);
                                    bound = best.bound();
                                }
                        }
                    }
                }
                for (int64_t r = 0; r < rows; ++r) {
                    std::vector<Candidate> &items = tops[size_t(r)].items();
                    const float *qr = queries + (first + r) * dim;
                    float qNorm = 0;
                    for (int64_t j = 0; j < dim; ++j)
                        qNorm += qr[j] * qr[j];
                    for (Candidate &c : items) {
                        if (exactDistances) {
                            const float *gr = gallery + c.index * dim;
                            double sum = 0;
                            for (int64_t j = 0; j < dim; ++j) {
                                const double diff = double(qr[j]) - gr[j];
                                sum += diff * diff;
                            }
                            c.distance = std::isnan(sum) ? INFINITY : float(std::sqrt(sum));
                        } else {
                            c.distance = std::isnan(qNorm) ? INFINITY : std::sqrt(std::max(0.0f, c.distance + qNorm));
                        }
                    }
                    std::sort(items.begin(), items.end());
                    const int64_t row = first - chunkFirst + r;
                    for (int64_t j = 0; j < k; ++j) {
                        chunk.indices[size_t(row * k + j)] = items[size_t(j)].index;
                        chunk.distances[size_t(row * k + j)] = items[size_t(j)].distance;
                    }
                }
            }
        });
        visit(chunk);
    }
}

NeighbourList nearestNeighbours(const float *queries, int64_t nq, const float *gallery, int64_t ng, int64_t dim,
                                int64_t k, bool excludeSelf, const std::atomic<bool> *cancel)
{
    NeighbourList all;
    forEachNeighbourChunk(
        queries, nq, gallery, ng, dim, k, excludeSelf, true,
        [&](const NeighbourList &chunk) {
            all.k = chunk.k;
            all.rows += chunk.rows;
            all.indices.insert(all.indices.end(), chunk.indices.begin(), chunk.indices.end());
            all.distances.insert(all.distances.end(), chunk.distances.begin(), chunk.distances.end());
        },
        cancel);
    return all;
}

} // namespace liftlab
