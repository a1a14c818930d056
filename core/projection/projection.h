#pragma once

// 2-D projections of an embedding: PCA, t-SNE and UMAP. Torch-free, so the
// GUI can hold these types; the work happens in projection.cpp, tsne.cpp
// and umap.cpp.

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace liftlab {

// A row-major float matrix [rows, cols].
struct Matrix
{
    int64_t rows = 0;
    int64_t cols = 0;
    std::vector<float> values;

    const float *row(int64_t i) const { return values.data() + i * cols; }
};

// The leading principal components of `data`: [rows, components], centred.
// Deterministic: each component's sign makes its largest loading positive.
Matrix pca(const Matrix &data, int64_t components);

struct TsneOptions
{
    enum class Repulsion { Auto, BarnesHut, Fft };

    double perplexity = 30;
    int iterations = 750;
    double learningRate = 0;          // 0: max(N / 12, 200)
    double earlyExaggeration = 12;
    int exaggerationIterations = 250; // momentum 0.5 during these, then 0.8
    Repulsion repulsion = Repulsion::Auto; // Auto: Barnes-Hut below 5,000 points, else FFT
    double theta = 0.5;               // Barnes-Hut accuracy
    uint64_t seed = 0;                // tie-breaking jitter of the initialisation
    int frameEvery = 10;              // iterations between frames
};

// A snapshot of a projection in progress, as handed to the GUI.
struct ProjectionFrame
{
    int iteration = 0;
    int iterations = 0;
    double klDivergence = std::numeric_limits<double>::quiet_NaN(); // on frames where it was computed
    Matrix coordinates; // [N, 2]
    bool final = false;
};

// t-SNE (van der Maaten and Hinton 2008) of `data` [N, d]: input affinities
// from an exact kNN graph of 3 x perplexity neighbours with per-point
// perplexity calibration, symmetrised; PCA initialisation; early
// exaggeration, momentum and gains. Repulsion by Barnes-Hut (small N) or by
// FFT-accelerated interpolation onto a grid (large N, as FIt-SNE does).
// `onFrame` receives a frame every options.frameEvery iterations and the
// final one. When `cancel` becomes true the run stops at the next
// iteration and returns the coordinates so far (the last frame is not
// marked final), or no coordinates if it was still finding neighbours. Deterministic for given data, options and thread count.
Matrix tsne(const Matrix &data, const TsneOptions &options,
            const std::function<void(const ProjectionFrame &)> &onFrame = {},
            const std::atomic<bool> *cancel = nullptr);

struct UmapOptions
{
    int neighbors = 15;          // n_neighbors: the point itself and its 14 nearest
    double minDist = 0.1;        // how tightly points may pack in the layout
    double spread = 1.0;         // the scale of the layout's distances
    int epochs = 0;              // 0: 500 up to 10,000 points, else 200 (as umap-learn)
    double learningRate = 1.0;
    int negativeSampleRate = 5;  // negative samples per positive one
    uint64_t seed = 0;           // initialisation noise and negative samples
    int frameEvery = 5;          // epochs between frames
};

// The low-dimensional similarity 1 / (1 + a d^2b) of UMAP, fitted by least
// squares (as umap-learn's find_ab_params) to 1 below min_dist and
// exp(-(d - min_dist) / spread) above, on 300 points of [0, 3 spread].
struct UmapCurve
{
    double a = 0;
    double b = 0;
};
UmapCurve umapCurve(double spread, double minDist);

// UMAP's local metric (smooth_knn_dist): rho_i, the distance to i's nearest
// neighbour, and sigma_i, found by binary search so that the memberships
// exp(-(d_ij - rho_i) / sigma_i) of its k nearest neighbours (row i of
// `distances` [n, k], self excluded, nearest first) sum to log2(k + 1).
struct SmoothKnn
{
    std::vector<float> rho;
    std::vector<float> sigma;
};
SmoothKnn smoothKnnDistances(const float *distances, int64_t n, int64_t k);

// A weighted graph over n points, CSR, each row's columns ascending.
struct SparseGraph
{
    std::vector<int64_t> rowStart; // n + 1
    std::vector<int32_t> cols;
    std::vector<float> weights;
};

// UMAP's fuzzy simplicial set of a kNN graph (self excluded): the
// memberships above, symmetrised by the fuzzy union a + b - ab.
SparseGraph fuzzySimplicialSet(const int64_t *indices, const float *distances, int64_t n, int64_t k);

// UMAP (McInnes, Healy, Melville 2018) of `data` [N, d] into 2-D: the kNN
// graph (exact up to 4,096 points, else by nearest-neighbour descent), its
// fuzzy simplicial set, a spectral initialisation (the
// normalised Laplacian's second and third eigenvectors, by Lanczos; a graph
// in several pieces gets one per piece, each around a place of its own, as
// umap-learn's multi_component_layout does), then
// stochastic gradient descent on the fuzzy cross-entropy with negative
// sampling, each edge sampled in proportion to its weight and moving both
// its ends. The points are split into fixed chunks that run in parallel, so
// the result is the same for a seed whatever the thread count. Frames, cancelling and the
// returned coordinates behave as tsne()'s. Throws liftlab::Error on fewer
// than neighbors + 1 points, non-finite input, or min_dist above spread.
Matrix umap(const Matrix &data, const UmapOptions &options,
            const std::function<void(const ProjectionFrame &)> &onFrame = {},
            const std::atomic<bool> *cancel = nullptr);

// Quality of a 2-D layout against the data it came from:
// the mean fraction of each point's k nearest neighbours in `data` that are
// also among its k nearest in `layout`, and (with labels) the leave-one-out
// 1-NN label accuracy in the layout.
struct ProjectionQuality
{
    double neighbourPreservation = 0;
    double oneNnAccuracy = std::numeric_limits<double>::quiet_NaN();
};
ProjectionQuality projectionQuality(const Matrix &data, const Matrix &layout, const std::vector<int64_t> &labels,
                                    int64_t k = 10);

} // namespace liftlab
