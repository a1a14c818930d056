// UMAP (McInnes, Healy, Melville 2018), following umap-learn 0.5:
//
// 1. The kNN graph of n_neighbors - 1 neighbours per point (umap-learn
//    counts the point itself as its first neighbour): exact for small sets,
//    else by nearest-neighbour descent (eval/nndescent.cpp), as umap-learn.
// 2. The fuzzy simplicial set: per point rho (its nearest neighbour's
//    distance) and sigma (binary search: the memberships
//    exp(-(d - rho) / sigma) sum to log2(n_neighbors)), symmetrised by the
//    fuzzy union A + A^T - A o A^T.
// 3. The spectral initialisation: the eigenvectors of the normalised
//    Laplacian I - D^-1/2 A D^-1/2 with the 2nd and 3rd smallest eigenvalues,
//    which are those of D^-1/2 A D^-1/2 with the 2nd and 3rd largest, found
//    by Lanczos with full reorthogonalisation against the known top one,
//    D^1/2 1. A graph in several pieces gets each piece's own spectral
//    layout around a place of its own (umap-learn's multi_component_layout).
//    Then, as umap-learn: scaled to [-10, 10], a little noise, each axis
//    rescaled to [0, 10].
// 4. Stochastic gradient descent on the fuzzy cross-entropy with the
//    low-dimensional similarity 1 / (1 + a d^2b): edge (i, j) with weight w
//    is sampled every max(w) / w epochs, each sample followed by
//    negative_sample_rate samples of random points, gradients clipped to 4,
//    the learning rate falling linearly to 0.
//
// Step 4 is where the time goes. umap-learn walks the edges in order and
// moves both ends of each sampled edge at once (Hogwild across threads, so
// its result depends on timing). Here the points are split into kChunks
// fixed chunks of consecutive rows, each chunk on one thread: inside a chunk
// rows go in order and a sampled edge moves both ends, as umap-learn's do;
// an end in another chunk (most of them, for rows in no particular order) is
// read as it stood at the start of the epoch and its move is added after the
// epoch, in chunk order. The result depends on the seed and the row order,
// not on the thread count. Moving both ends matters:
// moving only the row's own point, twice as far, gives the same forces on
// average but tears the clusters into strands. A row's negative samples are
// drawn by a counter-based hash and all push from where its pulls left the
// point, against the others as they stood at the start of the epoch, summed
// in SIMD lanes (umap-learn applies each as it is drawn).
#include "projection/projection.h"

#include "error.h"
#include "eval/knn.h"
#include "util/mix.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

namespace liftlab {

namespace {

constexpr double kSmoothKnnTolerance = 1e-5; // umap-learn's SMOOTH_K_TOLERANCE
constexpr double kMinKDistScale = 1e-3;      // umap-learn's MIN_K_DIST_SCALE
// Above this many points the kNN graph comes from nearest-neighbour descent
// (umap-learn's from pynndescent from 4,096 on): measured on Fashion-MNIST
// PCA-50 on two threads, exact search is the faster up to about 5,000
// points, and the descent's graph (recall 0.995 at 70,000) gives layouts of
// the same quality.
constexpr int64_t kExactNeighboursUpTo = 4096;

// Negative samples come from a counter-based generator: sample p of point i
// in epoch e is a hash of (key(seed, e, i), p), whatever thread draws it and
// in whatever order, and a loop of draws vectorises.
uint32_t sampleKey(uint64_t seed, int epoch, int64_t i)
{
    const uint64_t z = seed * 0x2545F4914F6CDD1Dull ^ (uint64_t(epoch) << 32) ^ uint64_t(i);
    return uint32_t(mix64(z + 0x9E3779B97F4A7C15ull) >> 32);
}

// Draw p of a key, uniform in [0, n) where `scale` is n / 2^31: murmur3's
// finaliser of a Weyl sequence, its top 31 bits scaled in double precision
// (exact enough that n itself never comes out; unlike a 64-bit
// multiply-shift, it vectorises).
__attribute__((always_inline)) inline uint32_t sampleBelow(uint32_t key, uint32_t p, double scale)
{
    uint32_t h = key + p * 0x9E3779B9u;
    h = (h ^ (h >> 16)) * 0x85EBCA6Bu;
    h = (h ^ (h >> 13)) * 0xC2B2AE35u;
    h ^= h >> 16;
    return uint32_t(int32_t(double(int32_t(h >> 1)) * scale));
}

void checkInput(const Matrix &data, const UmapOptions &o)
{
    if (o.neighbors < 2)
        throw Error("UMAP needs at least 2 neighbours (--neighbors), got " + std::to_string(o.neighbors));
    if (data.rows < int64_t(o.neighbors) + 1)
        throw Error("UMAP with " + std::to_string(o.neighbors) + " neighbours needs at least " +
                    std::to_string(int64_t(o.neighbors) + 1) + " points, got " + std::to_string(data.rows));
    if (data.rows > int64_t(std::numeric_limits<int32_t>::max()))
        throw Error("UMAP takes at most 2^31 - 1 points");
    if (data.cols < 1)
        throw Error("UMAP needs data with at least one column");
    if (!(o.spread > 0) || !std::isfinite(o.spread))
        throw Error("UMAP's spread must be positive");
    if (!(o.minDist >= 0) || o.minDist > o.spread)
        throw Error("UMAP's min_dist must be between 0 and spread (" + std::to_string(o.spread) + "), got " +
                    std::to_string(o.minDist));
    if (o.epochs < 0 || o.negativeSampleRate < 0 || !(o.learningRate > 0))
        throw Error("UMAP's epochs and negative sample rate must not be negative, its learning rate positive");
    for (size_t i = 0; i < data.values.size(); ++i)
        if (!std::isfinite(data.values[i]))
            throw Error("UMAP input has a non-finite value (NaN or infinity) in row " +
                        std::to_string(int64_t(i) / data.cols));
}

// y = D^-1/2 A D^-1/2 x for the graph, x and y [n].
void normalisedAdjacencyTimes(const SparseGraph &g, const std::vector<double> &invSqrtDegree, const double *x,
                              double *y)
{
    const int64_t n = int64_t(g.rowStart.size()) - 1;
    at::parallel_for(0, n, 2048, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            double sum = 0;
            for (int64_t e = g.rowStart[size_t(i)]; e < g.rowStart[size_t(i) + 1]; ++e)
                sum += double(g.weights[size_t(e)]) * invSqrtDegree[size_t(g.cols[size_t(e)])] *
                       x[g.cols[size_t(e)]];
            y[i] = invSqrtDegree[size_t(i)] * sum;
        }
    });
}

// The connected component of every point, numbered from 0 in order of
// their first point; `count` receives how many there are.
std::vector<int32_t> components(const SparseGraph &g, int32_t &count)
{
    const int64_t n = int64_t(g.rowStart.size()) - 1;
    std::vector<int32_t> label(size_t(n), -1);
    std::vector<int32_t> stack;
    count = 0;
    for (int64_t start = 0; start < n; ++start) {
        if (label[size_t(start)] >= 0)
            continue;
        label[size_t(start)] = count;
        stack.push_back(int32_t(start));
        while (!stack.empty()) {
            const int32_t i = stack.back();
            stack.pop_back();
            for (int64_t e = g.rowStart[size_t(i)]; e < g.rowStart[size_t(i) + 1]; ++e) {
                const int32_t j = g.cols[size_t(e)];
                if (label[size_t(j)] < 0 && g.weights[size_t(e)] > 0) {
                    label[size_t(j)] = count;
                    stack.push_back(j);
                }
            }
        }
        ++count;
    }
    return label;
}

// Vectors are summed in blocks of kBlock entries, each block in index order
// and the blocks in order: the same result whatever the thread count.
constexpr int64_t kBlock = 4096;

double dot(const double *a, const double *b, int64_t n)
{
    double sum = 0;
    for (int64_t i = 0; i < n; ++i)
        sum += a[i] * b[i];
    return sum;
}

// w -= B^T (B w) for the orthonormal rows of basis [rows, n]: w's component
// in their span removed (classical Gram-Schmidt), over the threads.
void orthogonalise(const std::vector<double> &basis, int64_t rows, int64_t n, double *w)
{
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    std::vector<double> partial(size_t(blocks * rows));
    at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t k = begin; k < end; ++k) {
            const int64_t lo = k * kBlock, length = std::min(kBlock, n - lo);
            for (int64_t r = 0; r < rows; ++r)
                partial[size_t(k * rows + r)] = dot(basis.data() + r * n + lo, w + lo, length);
        }
    });
    std::vector<double> projection(static_cast<size_t>(rows), 0.0);
    for (int64_t k = 0; k < blocks; ++k)
        for (int64_t r = 0; r < rows; ++r)
            projection[size_t(r)] += partial[size_t(k * rows + r)];
    at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t k = begin; k < end; ++k) {
            const int64_t lo = k * kBlock, hi = std::min(n, lo + kBlock);
            for (int64_t r = 0; r < rows; ++r) {
                const double *b = basis.data() + r * n;
                for (int64_t i = lo; i < hi; ++i)
                    w[i] -= projection[size_t(r)] * b[i];
            }
        }
    });
}

// a . b over the threads.
double blockedDot(const double *a, const double *b, int64_t n)
{
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    std::vector<double> partial(static_cast<size_t>(blocks));
    at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t k = begin; k < end; ++k)
            partial[size_t(k)] = dot(a + k * kBlock, b + k * kBlock, std::min(kBlock, n - k * kBlock));
    });
    return std::accumulate(partial.begin(), partial.end(), 0.0);
}

double norm(const double *w, int64_t n) { return std::sqrt(blockedDot(w, w, n)); }

// The eigenvectors of the symmetric tridiagonal matrix with diagonal
// `alpha` and off-diagonal `beta`, [size, size] row-major, column c for the
// c-th smallest eigenvalue (small: the library's dense solver).
torch::Tensor tridiagonalEigenvectors(const std::vector<double> &alpha, const std::vector<double> &beta, int64_t size)
{
    torch::Tensor t = torch::zeros({size, size}, torch::kFloat64);
    double *td = t.data_ptr<double>();
    for (int64_t j = 0; j < size; ++j) {
        td[j * size + j] = alpha[size_t(j)];
        if (j + 1 < size)
            td[j * size + j + 1] = td[(j + 1) * size + j] = beta[size_t(j)];
    }
    return std::get<1>(torch::linalg::eigh(t, "L")).contiguous();
}

// The 2nd and 3rd eigenvectors of D^-1/2 A D^-1/2 (largest eigenvalues
// first) of a connected graph, [n, 2] row-major, by Lanczos with full
// reorthogonalisation, orthogonal to the top eigenvector D^1/2 1. It stops
// when both Ritz pairs' residuals are below kTolerance (umap-learn asks
// scipy's eigsh for 1e-4), or at 100 vectors. Empty when cancelled.
std::vector<double> spectralEmbedding(const SparseGraph &g, std::mt19937_64 &rng, const std::atomic<bool> *cancel)
{
    constexpr double kTolerance = 1e-4;
    const int64_t n = int64_t(g.rowStart.size()) - 1;
    const int64_t m = std::min<int64_t>(100, n - 1);
    // Row 0: the top eigenvector; rows 1...: the Krylov basis.
    std::vector<double> basis(size_t((m + 2) * n), 0.0);
    std::vector<double> invSqrtDegree(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        double degree = 0;
        for (int64_t e = g.rowStart[size_t(i)]; e < g.rowStart[size_t(i) + 1]; ++e)
            degree += g.weights[size_t(e)];
        invSqrtDegree[size_t(i)] = 1 / std::sqrt(degree);
        basis[size_t(i)] = std::sqrt(degree);
    }
    const double topNorm = norm(basis.data(), n);
    for (int64_t i = 0; i < n; ++i)
        basis[size_t(i)] /= topNorm;

    double *start = basis.data() + n;
    std::normal_distribution<double> normal(0, 1);
    for (int64_t i = 0; i < n; ++i)
        start[i] = 1 + 0.1 * normal(rng);
    orthogonalise(basis, 1, n, start);
    const double startNorm = norm(start, n);
    for (int64_t i = 0; i < n; ++i)
        start[i] /= startNorm;
    std::vector<double> alpha, beta;
    std::vector<double> w(static_cast<size_t>(n));
    torch::Tensor ritz;
    int64_t size = 0;
    for (int64_t j = 0; j < m; ++j) {
        if (cancel && cancel->load())
            return {};
        const double *qj = basis.data() + (j + 1) * n, *previous = qj - n;
        normalisedAdjacencyTimes(g, invSqrtDegree, qj, w.data());
        alpha.push_back(blockedDot(w.data(), qj, n));
        // First the Lanczos recurrence, w -= alpha_j q_j + beta_j-1 q_j-1;
        // then against the top eigenvector and every basis vector so far,
        // and again when that removed most of w, where rounding leaves it
        // least orthogonal (Daniel, Gragg, Kaufman and Stewart's criterion).
        for (int64_t i = 0; i < n; ++i)
            w[size_t(i)] -= alpha.back() * qj[i] + (j > 0 ? beta.back() * previous[i] : 0.0);
        const double before = norm(w.data(), n);
        orthogonalise(basis, j + 2, n, w.data());
        double length = norm(w.data(), n);
        if (length < 0.7071 * before) {
            orthogonalise(basis, j + 2, n, w.data());
            length = norm(w.data(), n);
        }
        size = j + 1;
        if (length < 1e-10)
            break; // an invariant subspace: its Ritz vectors are exact
        beta.push_back(length);
        if (size % 5 == 0) { // converged?
            ritz = tridiagonalEigenvectors(alpha, beta, size);
            const double *y = ritz.data_ptr<double>();
            if (std::abs(length * y[(size - 1) * size + size - 1]) < kTolerance &&
                std::abs(length * y[(size - 1) * size + size - 2]) < kTolerance)
                break;
        }
        double *next = basis.data() + (j + 2) * n;
        for (int64_t i = 0; i < n; ++i)
            next[i] = w[size_t(i)] / length;
    }
    if (!ritz.defined() || ritz.size(0) != size)
        ritz = tridiagonalEigenvectors(alpha, beta, size);
    const double *y = ritz.data_ptr<double>();
    // Ritz vectors of the two largest Ritz values.
    std::vector<double> out(size_t(2 * n), 0.0);
    for (int c = 0; c < 2 && c < size; ++c) {
        const int64_t column = size - 1 - c;
        for (int64_t b = 0; b < size; ++b) {
            const double coefficient = y[b * size + column];
            const double *qb = basis.data() + (b + 1) * n;
            for (int64_t i = 0; i < n; ++i)
                out[size_t(2 * i + c)] += coefficient * qb[i];
        }
    }
    return out;
}

// The graph's rows `members` (ascending) as a graph of their own.
SparseGraph subgraph(const SparseGraph &g, const std::vector<int32_t> &members)
{
    std::vector<int32_t> index(g.rowStart.size() - 1, -1);
    for (size_t k = 0; k < members.size(); ++k)
        index[size_t(members[k])] = int32_t(k);
    SparseGraph sub;
    sub.rowStart.push_back(0);
    for (const int32_t i : members) {
        for (int64_t e = g.rowStart[size_t(i)]; e < g.rowStart[size_t(i) + 1]; ++e)
            if (index[size_t(g.cols[size_t(e)])] >= 0) {
                sub.cols.push_back(index[size_t(g.cols[size_t(e)])]);
                sub.weights.push_back(g.weights[size_t(e)]);
            }
        sub.rowStart.push_back(int64_t(sub.cols.size()));
    }
    return sub;
}

// Where each of `count` components goes, [count, 2], the farthest at 1 (as
// umap-learn's component_layout): up to 4 at the ends of the axes; more at a
// PCA of their centroids in the data (umap-learn takes a spectral embedding
// of the centroids' affinities there).
std::vector<double> componentPositions(const Matrix &data, const std::vector<int32_t> &label, int32_t count)
{
    std::vector<double> at(size_t(2 * count), 0.0);
    if (count <= 4) {
        const double corners[4][2] = {{1, 0}, {0, 1}, {-1, 0}, {0, -1}};
        for (int32_t c = 0; c < count; ++c) {
            at[size_t(2 * c)] = corners[c][0];
            at[size_t(2 * c + 1)] = corners[c][1];
        }
        return at;
    }
    Matrix centroids{count, data.cols, std::vector<float>(size_t(count * data.cols), 0.f)};
    std::vector<int64_t> sizes(size_t(count), 0);
    for (int64_t i = 0; i < data.rows; ++i) {
        ++sizes[size_t(label[size_t(i)])];
        for (int64_t d = 0; d < data.cols; ++d)
            centroids.values[size_t(label[size_t(i)] * data.cols + d)] += data.row(i)[d];
    }
    for (int32_t c = 0; c < count; ++c)
        for (int64_t d = 0; d < data.cols; ++d)
            centroids.values[size_t(c * data.cols + d)] /= float(sizes[size_t(c)]);
    const Matrix projected = pca(centroids, 2);
    double largest = 0;
    for (const float v : projected.values)
        largest = std::max(largest, double(std::abs(v)));
    for (int64_t k = 0; k < 2 * count && k < int64_t(projected.values.size()); ++k)
        at[size_t(k)] = largest > 0 ? projected.values[size_t(k)] / largest : 0;
    return at;
}

// The starting layout, [n, 2] row-major, each axis in [0, 10] (umap-learn's
// spectral initialisation: scaled by 10 / max |x|, noise of sd 1e-4, then
// each axis min-max scaled). A graph in several pieces is laid out as
// umap-learn's multi_component_layout does: each component spectrally (at
// random when it has 3 points or fewer), shrunk to half the distance to its
// nearest neighbouring component, around its place from componentPositions.
std::vector<float> initialLayout(const SparseGraph &g, const Matrix &data, uint64_t seed,
                                 const std::atomic<bool> *cancel)
{
    const int64_t n = int64_t(g.rowStart.size()) - 1;
    std::mt19937_64 rng(seed);
    int32_t count = 0;
    const std::vector<int32_t> label = components(g, count);
    std::vector<double> layout;
    if (count == 1) {
        layout = spectralEmbedding(g, rng, cancel);
        if (layout.empty())
            return {};
    } else {
        const std::vector<double> at = componentPositions(data, label, count);
        std::vector<std::vector<int32_t>> members(static_cast<size_t>(count));
        for (int64_t i = 0; i < n; ++i)
            members[size_t(label[size_t(i)])].push_back(int32_t(i));
        layout.assign(size_t(2 * n), 0.0);
        for (int32_t c = 0; c < count; ++c) {
            double nearest = INFINITY;
            for (int32_t o = 0; o < count; ++o) {
                const double d = std::hypot(at[size_t(2 * c)] - at[size_t(2 * o)],
                                            at[size_t(2 * c + 1)] - at[size_t(2 * o + 1)]);
                if (o != c && d > 0)
                    nearest = std::min(nearest, d);
            }
            const double range = std::isfinite(nearest) ? nearest / 2 : 1;
            const std::vector<int32_t> &points = members[size_t(c)];
            std::vector<double> local;
            if (points.size() > 3) {
                local = spectralEmbedding(subgraph(g, points), rng, cancel);
                if (local.empty())
                    return {};
                double largest = 0;
                for (const double x : local)
                    largest = std::max(largest, std::abs(x));
                for (double &x : local)
                    x *= largest > 0 ? range / largest : 0;
            } else {
                std::uniform_real_distribution<double> uniform(-range, range);
                local.resize(2 * points.size());
                for (double &x : local)
                    x = uniform(rng);
            }
            for (size_t k = 0; k < points.size(); ++k)
                for (int d = 0; d < 2; ++d)
                    layout[size_t(2 * points[k] + d)] = local[2 * k + size_t(d)] + at[size_t(2 * c + d)];
        }
    }
    double largest = 0;
    for (const double x : layout)
        largest = std::max(largest, std::abs(x));
    std::normal_distribution<double> noise(0, 1e-4);
    for (double &x : layout)
        x = x * (largest > 0 ? 10 / largest : 1) + noise(rng);
    std::vector<float> out(size_t(2 * n));
    for (int d = 0; d < 2; ++d) {
        double lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < n; ++i) {
            lo = std::min(lo, layout[size_t(2 * i + d)]);
            hi = std::max(hi, layout[size_t(2 * i + d)]);
        }
        const double scale = hi > lo ? 10 / (hi - lo) : 1;
        for (int64_t i = 0; i < n; ++i)
            out[size_t(2 * i + d)] = float((layout[size_t(2 * i + d)] - lo) * scale);
    }
    return out;
}

// Each edge's sampling schedule: one sample every `period` epochs, the
// negative samples every period / negative_sample_rate.
struct Schedule
{
    std::vector<float> period;
    std::vector<float> nextSample;
    std::vector<float> nextNegative;
};

__attribute__((always_inline)) inline float clip4(float g) { return std::min(4.0f, std::max(-4.0f, g)); }

// x^b for x > 0 as 2^(b log2 x), each by a least-squares polynomial on
// [1, 2) (relative error about 2e-5), without a division or a branch so that
// loops over it vectorise; results below 2^-126 come out as about 2^-126.
// The layout's inner loops are made of these; logf and expf cost far more.
__attribute__((always_inline)) inline float powPositive(float x, float b)
{
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    const int exponent = int(bits >> 23) - 127; // x is positive and not NaN
    bits = (bits & 0x007FFFFFu) | 0x3F800000u;
    float u; // the mantissa minus 1, in [0, 1)
    std::memcpy(&u, &bits, sizeof u);
    u -= 1;
    const float log2m =
        u * (1.4418797760f + u * (-0.7088638760f + u * (0.4152409602f + u * (-0.1935103910f + u * 0.0452655046f))));
    const float y = std::min(std::max(b * (float(exponent) + log2m), -126.0f), 127.0f);
    const int whole = int(y + 127) - 127; // floor(y), y >= -126
    const float f = y - float(whole);     // in [0, 1)
    const float p = 1.0000035900f + f * (0.6929696206f + f * (0.2416211631f + f * (0.0517178265f + f * 0.0136839965f)));
    const uint32_t scale = uint32_t(whole + 127) << 23;
    float power;
    std::memcpy(&power, &scale, sizeof power);
    return p * power;
}

// The summed push on point (x, y) from `count` negative samples drawn
// among n points with `key`, each term clipped to 4 (gamma = 1; `self`, if
// drawn, pushes nothing). Independent of each other, so they run in SIMD
// lanes (AVX2 where the CPU has it).
__attribute__((target_clones("avx2", "default"))) void negativePush(const float *from, uint32_t n, uint32_t key,
                                                                    int count, uint32_t self, float x, float y,
                                                                    float a, float b, float &sumX, float &sumY)
{
    const double scale = double(n) / 2147483648.0;
    float gx = 0, gy = 0;
#pragma omp simd reduction(+ : gx, gy)
    for (int p = 0; p < count; ++p) {
        const uint32_t k = sampleBelow(key, uint32_t(p), scale);
        const float dx = x - from[2 * size_t(k)], dy = y - from[2 * size_t(k) + 1];
        const float d2 = dx * dx + dy * dy;
        const float powB = powPositive(std::max(d2, 1e-30f), b);
        const float coefficient = 2 * b / ((0.001f + d2) * (a * powB + 1));
        const float px = d2 > 0 ? clip4(coefficient * dx) : 4, py = d2 > 0 ? clip4(coefficient * dy) : 4;
        gx += k == self ? 0 : px;
        gy += k == self ? 0 : py;
    }
    sumX = gx;
    sumY = gy;
}

// The layout's fixed split of the points (see the top of the file): the
// result does not depend on the thread count, and up to kChunks threads work.
constexpr int64_t kChunks = 16;

// A move of a point in another chunk, added after the epoch.
struct Deferred
{
    uint32_t point;
    float dx, dy;
};

// One epoch for the chunk of points [begin, end), rows in order. A sampled
// edge (i, j) pulls i and j towards each other, as umap-learn's do: both in
// `layout` when j is in the chunk; otherwise j is read from `snapshot`, the
// epoch's start, and its move goes to `deferred`. Then i's negative samples
// push it from where its pulls left it, against the other points as they
// stood at the start of the epoch.
void epochChunk(const SparseGraph &g, Schedule &s, const UmapCurve &curve, const UmapOptions &o, int epoch,
                float alpha, const float *snapshot, float *layout, int64_t begin, int64_t end,
                std::vector<Deferred> &deferred)
{
    const float a = float(curve.a), b = float(curve.b);
    const uint32_t n = uint32_t(g.rowStart.size() - 1);
    const float rate = float(o.negativeSampleRate);
    for (int64_t i = begin; i < end; ++i) {
        float *x = layout + 2 * i;
        int pushes = 0;
        for (int64_t e = g.rowStart[size_t(i)]; e < g.rowStart[size_t(i) + 1]; ++e) {
            if (s.nextSample[size_t(e)] > float(epoch))
                continue;
            s.nextSample[size_t(e)] += s.period[size_t(e)];
            if (rate > 0) {
                const float negativePeriod = s.period[size_t(e)] / rate;
                const int samples = int((float(epoch) - s.nextNegative[size_t(e)]) / negativePeriod);
                s.nextNegative[size_t(e)] += float(samples) * negativePeriod;
                pushes += samples;
            }
            const int64_t j = g.cols[size_t(e)];
            const bool inChunk = j >= begin && j < end;
            const float *y = inChunk ? layout + 2 * j : snapshot + 2 * j;
            const float dx = x[0] - y[0], dy = x[1] - y[1];
            const float d2 = std::max(dx * dx + dy * dy, 1e-30f);
            const float powB = powPositive(d2, b); // d^2b
            const float coefficient = -2 * a * b * powB / (d2 * (a * powB + 1));
            const float moveX = clip4(coefficient * dx) * alpha, moveY = clip4(coefficient * dy) * alpha;
            x[0] += moveX;
            x[1] += moveY;
            if (inChunk) {
                layout[2 * j] -= moveX;
                layout[2 * j + 1] -= moveY;
            } else {
                deferred.push_back({uint32_t(j), -moveX, -moveY});
            }
        }
        float pushX, pushY;
        negativePush(snapshot, n, sampleKey(o.seed, epoch, i), pushes, uint32_t(i), x[0], x[1], a, b, pushX, pushY);
        x[0] += pushX * alpha;
        x[1] += pushY * alpha;
    }
}

Matrix toMatrix(const std::vector<float> &layout)
{
    return Matrix{int64_t(layout.size() / 2), 2, layout};
}

} // namespace

UmapCurve umapCurve(double spread, double minDist)
{
    if (!(spread > 0) || !(minDist >= 0) || minDist > spread)
        throw Error("UMAP's min_dist must be between 0 and spread");
    // Levenberg-Marquardt on f(x) = 1 / (1 + a x^2b) from a = b = 1, as
    // scipy's curve_fit does.
    constexpr int kPoints = 300;
    std::vector<double> xs(kPoints), ys(kPoints);
    for (int i = 0; i < kPoints; ++i) {
        xs[size_t(i)] = 3 * spread * i / (kPoints - 1);
        ys[size_t(i)] = xs[size_t(i)] < minDist ? 1 : std::exp(-(xs[size_t(i)] - minDist) / spread);
    }
    const auto cost = [&](double a, double b) {
        double sum = 0;
        for (int i = 0; i < kPoints; ++i) {
            const double r = 1 / (1 + a * std::pow(xs[size_t(i)], 2 * b)) - ys[size_t(i)];
            sum += r * r;
        }
        return sum;
    };
    double a = 1, b = 1, lambda = 1e-3, current = cost(a, b);
    for (int iteration = 0; iteration < 500; ++iteration) {
        double jaa = 0, jab = 0, jbb = 0, ga = 0, gb = 0;
        for (int i = 0; i < kPoints; ++i) {
            const double x = xs[size_t(i)];
            const double p = x > 0 ? std::pow(x, 2 * b) : 0;
            const double f = 1 / (1 + a * p);
            const double r = f - ys[size_t(i)];
            const double da = -p * f * f;
            const double db = x > 0 ? -a * p * 2 * std::log(x) * f * f : 0;
            jaa += da * da;
            jab += da * db;
            jbb += db * db;
            ga += da * r;
            gb += db * r;
        }
        bool improved = false;
        while (!improved && lambda < 1e12) {
            const double aa = jaa * (1 + lambda), bb = jbb * (1 + lambda);
            const double det = aa * bb - jab * jab;
            const double stepA = -(bb * ga - jab * gb) / det, stepB = -(aa * gb - jab * ga) / det;
            const double next = cost(a + stepA, b + stepB);
            if (std::isfinite(next) && next < current) {
                const double change = current - next;
                a += stepA;
                b += stepB;
                current = next;
                lambda = std::max(lambda / 10, 1e-12);
                improved = true;
                if (change < 1e-15 * std::max(1.0, current))
                    return {a, b};
            } else {
                lambda *= 10;
            }
        }
        if (!improved)
            break;
    }
    return {a, b};
}

SmoothKnn smoothKnnDistances(const float *distances, int64_t n, int64_t k)
{
    SmoothKnn out;
    out.rho.resize(size_t(n));
    out.sigma.resize(size_t(n));
    const double target = std::log2(double(k + 1)); // n_neighbors counts the point itself
    double meanAll = 0;
    for (int64_t e = 0; e < n * k; ++e)
        meanAll += distances[e];
    meanAll /= double(n * (k + 1)); // the points themselves, at distance 0, count too (umap-learn)
    at::parallel_for(0, n, 512, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const float *d = distances + i * k;
            double rho = 0, mean = 0;
            for (int64_t j = 0; j < k; ++j) {
                if (rho == 0 && d[j] > 0)
                    rho = d[j];
                mean += d[j];
            }
            mean /= double(k + 1);
            double lo = 0, hi = INFINITY, sigma = 1;
            for (int step = 0; step < 64; ++step) {
                double sum = 0;
                for (int64_t j = 0; j < k; ++j) {
                    const double over = double(d[j]) - rho;
                    sum += over > 0 ? std::exp(-over / sigma) : 1;
                }
                if (std::abs(sum - target) < kSmoothKnnTolerance)
                    break;
                if (sum > target) {
                    hi = sigma;
                    sigma = (lo + hi) / 2;
                } else {
                    lo = sigma;
                    sigma = std::isinf(hi) ? sigma * 2 : (lo + hi) / 2;
                }
            }
            sigma = std::max(sigma, kMinKDistScale * (rho > 0 ? mean : meanAll));
            out.rho[size_t(i)] = float(rho);
            out.sigma[size_t(i)] = float(sigma);
        }
    });
    return out;
}

SparseGraph fuzzySimplicialSet(const int64_t *indices, const float *distances, int64_t n, int64_t k)
{
    const SmoothKnn local = smoothKnnDistances(distances, n, k);
    // Row i holds (j, a_ij, 0) from its own list and (j, 0, a_ji) from j's.
    struct Entry
    {
        int32_t col;
        float own, other;
    };
    std::vector<int64_t> start(size_t(n) + 1, 0);
    for (int64_t i = 0; i < n; ++i)
        start[size_t(i) + 1] += k;
    for (int64_t e = 0; e < n * k; ++e)
        ++start[size_t(indices[e]) + 1];
    std::partial_sum(start.begin(), start.end(), start.begin());
    std::vector<Entry> entries(size_t(start.back()));
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < k; ++j) {
            const int64_t other = indices[i * k + j];
            const double over = double(distances[i * k + j]) - local.rho[size_t(i)];
            const float membership =
                over <= 0 || local.sigma[size_t(i)] == 0 ? 1.0f : float(std::exp(-over / local.sigma[size_t(i)]));
            entries[size_t(fill[size_t(i)]++)] = {int32_t(other), membership, 0};
            entries[size_t(fill[size_t(other)]++)] = {int32_t(i), 0, membership};
        }
    std::vector<int64_t> kept(static_cast<size_t>(n));
    at::parallel_for(0, n, 512, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const auto first = entries.begin() + start[size_t(i)], last = entries.begin() + start[size_t(i) + 1];
            std::sort(first, last, [](const Entry &x, const Entry &y) { return x.col < y.col; });
            auto out = first;
            for (auto it = first; it != last; ++it) {
                if (out != first && (out - 1)->col == it->col) {
                    (out - 1)->own += it->own;
                    (out - 1)->other += it->other;
                } else {
                    *out++ = *it;
                }
            }
            kept[size_t(i)] = out - first;
        }
    });
    SparseGraph g;
    g.rowStart.assign(size_t(n) + 1, 0);
    for (int64_t i = 0; i < n; ++i)
        g.rowStart[size_t(i) + 1] = g.rowStart[size_t(i)] + kept[size_t(i)];
    g.cols.resize(size_t(g.rowStart.back()));
    g.weights.resize(size_t(g.rowStart.back()));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t e = 0; e < kept[size_t(i)]; ++e) {
            const Entry &entry = entries[size_t(start[size_t(i)] + e)];
            g.cols[size_t(g.rowStart[size_t(i)] + e)] = entry.col;
            // The fuzzy union; computed the same way from both ends, so exactly symmetric.
            g.weights[size_t(g.rowStart[size_t(i)] + e)] = entry.own + entry.other - entry.own * entry.other;
        }
    return g;
}

Matrix umap(const Matrix &data, const UmapOptions &o, const std::function<void(const ProjectionFrame &)> &onFrame,
            const std::atomic<bool> *cancel)
{
    checkInput(data, o);
    const int64_t n = data.rows, k = o.neighbors - 1;
    // Exact up to kExactNeighboursUpTo points, where it is the faster.
    const NeighbourList nn =
        n <= kExactNeighboursUpTo
            ? nearestNeighbours(data.values.data(), n, data.values.data(), n, data.cols, k, true, cancel)
            : approximateNeighbours(data.values.data(), n, data.cols, k, o.seed, cancel);
    if (nn.rows < n)
        return {};
    SparseGraph graph = fuzzySimplicialSet(nn.indices.data(), nn.distances.data(), n, k);
    const int epochs = o.epochs > 0 ? o.epochs : (n <= 10000 ? 500 : 200);

    // Edges too weak to be sampled once in the whole run are dropped (umap-learn).
    const float strongest = *std::max_element(graph.weights.begin(), graph.weights.end());
    const float weakest = strongest / float(epochs);
    Schedule schedule;
    schedule.period.resize(graph.weights.size());
    for (size_t e = 0; e < graph.weights.size(); ++e) {
        if (graph.weights[e] < weakest)
            graph.weights[e] = 0;
        schedule.period[e] = graph.weights[e] > 0 ? strongest / graph.weights[e] : INFINITY;
    }
    schedule.nextSample = schedule.period;
    schedule.nextNegative.resize(graph.weights.size());
    for (size_t e = 0; e < graph.weights.size(); ++e)
        schedule.nextNegative[e] = o.negativeSampleRate > 0 ? schedule.period[e] / float(o.negativeSampleRate) : 0;

    std::vector<float> layout = initialLayout(graph, data, o.seed, cancel);
    if (layout.empty())
        return {};
    const UmapCurve curve = umapCurve(o.spread, o.minDist);
    std::vector<float> snapshot(layout.size());
    std::vector<std::vector<Deferred>> deferred(static_cast<size_t>(kChunks));
    ProjectionFrame frame;
    frame.iterations = epochs;
    for (int epoch = 0; epoch < epochs; ++epoch) {
        if (cancel && cancel->load()) {
            frame.iteration = epoch;
            frame.coordinates = toMatrix(layout);
            frame.final = false;
            if (onFrame)
                onFrame(frame);
            return frame.coordinates;
        }
        const float alpha = float(o.learningRate * (1 - double(epoch) / epochs));
        std::copy(layout.begin(), layout.end(), snapshot.begin());
        at::parallel_for(0, kChunks, 1, [&](int64_t begin, int64_t end) {
            for (int64_t c = begin; c < end; ++c) {
                deferred[size_t(c)].clear();
                epochChunk(graph, schedule, curve, o, epoch, alpha, snapshot.data(), layout.data(), n * c / kChunks,
                           n * (c + 1) / kChunks, deferred[size_t(c)]);
            }
        });
        for (const std::vector<Deferred> &moves : deferred) // in chunk order: the same sums on any thread count
            for (const Deferred &move : moves) {
                layout[2 * size_t(move.point)] += move.dx;
                layout[2 * size_t(move.point) + 1] += move.dy;
            }
        if (onFrame && o.frameEvery > 0 && (epoch + 1) % o.frameEvery == 0 && epoch + 1 < epochs) {
            frame.iteration = epoch + 1;
            frame.coordinates = toMatrix(layout);
            onFrame(frame);
        }
    }
    frame.iteration = epochs;
    frame.coordinates = toMatrix(layout);
    frame.final = true;
    if (onFrame)
        onFrame(frame);
    return frame.coordinates;
}

} // namespace liftlab
