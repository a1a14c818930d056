#pragma once

// 2-D projections of an embedding: PCA and t-SNE. Torch-free, so the GUI
// can hold these types; the work happens in projection.cpp / tsne.cpp.

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
