// t-SNE, written for speed on a few cores.
//
// Input affinities: exact kNN (3 x perplexity neighbours), per-point binary
// search for the Gaussian bandwidth that gives the wanted perplexity,
// symmetrised into a sparse P that sums to 1.
//
// Gradient, in the convention of FIt-SNE (no factor 4; the learning rate
// N / 12 is chosen for it), with w_ij = 1 / (1 + |y_i - y_j|^2) and
// Z = sum_{i != j} w_ij:
//   g_i = exaggeration * sum_j p_ij w_ij (y_i - y_j)  -  (1/Z) sum_j w_ij^2 (y_i - y_j)
// The attractive half runs over the sparse P. The repulsive half is an
// N-body sum, done either by Barnes-Hut on a quadtree or by interpolation
// onto an equispaced grid whose convolution with the kernel is an FFT
// (Linderman et al. 2019): with the kernel K = w^2 and the charges
// 1, x_j, y_j, x_j^2 + y_j^2, four potentials give both the forces and Z,
// since w = K (1 + |y_i|^2 - 2 y_i.y_j + |y_j|^2). Once the layout has
// spread out, the kernel is split into a smooth far part on a coarse grid
// and an exact near part (as particle-particle particle-mesh methods do),
// which keeps the grid small as the layout grows. The sums over P and the
// near part run in float, vectorised (AVX2 where the CPU has it); the
// layout itself is kept in double.
#include "projection/projection.h"

#include "error.h"
#include "eval/knn.h"

#include <ATen/Parallel.h>

#include <fftw3.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>

namespace liftlab {

namespace {

// Symmetric sparse P in CSR form.
struct SparseP
{
    std::vector<int64_t> rowStart; // n + 1
    std::vector<int32_t> cols;
    std::vector<float> values;
};

// p_{j|i} over i's k nearest neighbours, with the bandwidth found by binary
// search so that the entropy is log(perplexity). Empty when cancelled during
// the kNN search (seconds for 70,000 points).
SparseP inputAffinities(const Matrix &data, double perplexity, const std::atomic<bool> *cancel)
{
    const int64_t n = data.rows;
    const int64_t k = std::min<int64_t>(n - 1, int64_t(std::ceil(3 * perplexity)));
    const NeighbourList nn = nearestNeighbours(data.values.data(), n, data.values.data(), n, data.cols, k, true, cancel);
    if (nn.rows < n)
        return {};
    const double target = std::log(std::min(perplexity, double(k)));
    std::vector<double> conditional(size_t(n * k));
    at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
        std::vector<double> d2(static_cast<size_t>(k));
        for (int64_t i = begin; i < end; ++i) {
            for (int64_t j = 0; j < k; ++j) {
                const double d = nn.distances[size_t(i * k + j)];
                d2[size_t(j)] = d * d - double(nn.distances[size_t(i * k)]) * nn.distances[size_t(i * k)];
            }
            double beta = 1, lo = 0, hi = INFINITY;
            double *p = conditional.data() + i * k;
            for (int step = 0; step < 200; ++step) {
                double sum = 0, weighted = 0;
                for (int64_t j = 0; j < k; ++j) {
                    p[j] = std::exp(-beta * d2[size_t(j)]);
                    sum += p[j];
                    weighted += p[j] * d2[size_t(j)];
                }
                const double entropy = std::log(sum) + beta * weighted / sum;
                for (int64_t j = 0; j < k; ++j)
                    p[j] /= sum;
                if (std::abs(entropy - target) < 1e-5)
                    break;
                if (entropy > target) { // too flat: sharpen
                    lo = beta;
                    beta = std::isinf(hi) ? beta * 2 : (beta + hi) / 2;
                } else {
                    hi = beta;
                    beta = (beta + lo) / 2;
                }
            }
        }
    });

    // P = (P_cond + P_cond^T) / 2n: every (i, j) and (j, i) entry, merged per row.
    SparseP p;
    std::vector<int64_t> count(size_t(n), k);
    for (int64_t e = 0; e < n * k; ++e)
        ++count[size_t(nn.indices[size_t(e)])];
    std::vector<int64_t> start(size_t(n) + 1, 0);
    for (int64_t i = 0; i < n; ++i)
        start[size_t(i) + 1] = start[size_t(i)] + count[size_t(i)];
    std::vector<std::pair<int32_t, double>> entries(size_t(start.back()));
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < k; ++j) {
            const int64_t other = nn.indices[size_t(i * k + j)];
            const double v = conditional[size_t(i * k + j)];
            entries[size_t(fill[size_t(i)]++)] = {int32_t(other), v};
            entries[size_t(fill[size_t(other)]++)] = {int32_t(i), v};
        }
    std::vector<int64_t> kept(static_cast<size_t>(n));
    at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            auto first = entries.begin() + start[size_t(i)], last = entries.begin() + start[size_t(i) + 1];
            std::sort(first, last, [](const auto &a, const auto &b) { return a.first < b.first; });
            auto out = first;
            for (auto it = first; it != last; ++it) {
                if (out != first && (out - 1)->first == it->first)
                    (out - 1)->second += it->second;
                else
                    *out++ = *it;
            }
            kept[size_t(i)] = out - first;
        }
    });
    p.rowStart.assign(size_t(n) + 1, 0);
    for (int64_t i = 0; i < n; ++i)
        p.rowStart[size_t(i) + 1] = p.rowStart[size_t(i)] + kept[size_t(i)];
    p.cols.resize(size_t(p.rowStart.back()));
    p.values.resize(size_t(p.rowStart.back()));
    const double scale = 1.0 / (2.0 * double(n));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t e = 0; e < kept[size_t(i)]; ++e) {
            const auto &entry = entries[size_t(start[size_t(i)] + e)];
            p.cols[size_t(p.rowStart[size_t(i)] + e)] = entry.first;
            p.values[size_t(p.rowStart[size_t(i)] + e)] = float(entry.second * scale);
        }
    return p;
}

// sum_j p_ij w_ij (y_i - y_j) for rows [begin, end), into force [2n]. The
// layout is read in float: half the bytes for the gathers of y_j, which
// dominate, and twice the lanes (AVX2 where the CPU has it).
__attribute__((target_clones("avx2", "default"))) void attractiveRows(const SparseP &p, const float *y, int64_t begin,
                                                                      int64_t end, double *force)
{
    const int32_t *cols = p.cols.data();
    const float *values = p.values.data();
    for (int64_t i = begin; i < end; ++i) {
        const float xi = y[2 * i], yi = y[2 * i + 1];
        float fx = 0, fy = 0;
#pragma omp simd reduction(+ : fx, fy)
        for (int64_t e = p.rowStart[size_t(i)]; e < p.rowStart[size_t(i) + 1]; ++e) {
            const int64_t j = cols[e];
            const float dx = xi - y[2 * j], dy = yi - y[2 * j + 1];
            const float pw = values[e] / (1 + dx * dx + dy * dy);
            fx += pw * dx;
            fy += pw * dy;
        }
        force[2 * i] = fx;
        force[2 * i + 1] = fy;
    }
}

void attractiveForces(const SparseP &p, const std::vector<float> &y, std::vector<double> &force)
{
    const int64_t n = int64_t(p.rowStart.size()) - 1;
    at::parallel_for(0, n, 1024, [&](int64_t begin, int64_t end) {
        attractiveRows(p, y.data(), begin, end, force.data());
    });
}

// KL(P || Q) with Q = w / Z, over P's non-zeros (the rest contribute 0).
double klDivergence(const SparseP &p, const std::vector<float> &y, double z)
{
    const int64_t n = int64_t(p.rowStart.size()) - 1;
    return at::parallel_reduce(0, n, 1024, 0.0, [&](int64_t begin, int64_t end, double kl) {
        for (int64_t i = begin; i < end; ++i)
            for (int64_t e = p.rowStart[size_t(i)]; e < p.rowStart[size_t(i) + 1]; ++e) {
                const int64_t j = p.cols[size_t(e)];
                const double dx = y[size_t(2 * i)] - y[size_t(2 * j)], dy = y[size_t(2 * i + 1)] - y[size_t(2 * j + 1)];
                const double q = 1 / (1 + dx * dx + dy * dy) / z;
                const double v = p.values[size_t(e)];
                if (v > 0)
                    kl += v * std::log(v / std::max(q, 1e-300));
            }
        return kl;
    }, std::plus<double>());
}

// ---- Barnes-Hut ------------------------------------------------------------

class QuadTree
{
public:
    explicit QuadTree(const std::vector<double> &y) : m_y(y)
    {
        const int64_t n = int64_t(y.size()) / 2;
        double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
        for (int64_t i = 0; i < n; ++i) {
            x0 = std::min(x0, y[size_t(2 * i)]);
            x1 = std::max(x1, y[size_t(2 * i)]);
            y0 = std::min(y0, y[size_t(2 * i + 1)]);
            y1 = std::max(y1, y[size_t(2 * i + 1)]);
        }
        const double half = std::max({x1 - x0, y1 - y0, 1e-9}) / 2 * (1 + 1e-6);
        m_nodes.reserve(size_t(4 * n + 1));
        m_nodes.push_back(Node{(x0 + x1) / 2, (y0 + y1) / 2, half});
        for (int64_t i = 0; i < n; ++i)
            insert(int32_t(i));
    }

    // Adds sum_j w_ij^2 (y_i - y_j) to force and sum_j w_ij to z, j != i.
    void repulsion(int64_t i, double theta, double &fx, double &fy, double &z) const
    {
        const double xi = m_y[size_t(2 * i)], yi = m_y[size_t(2 * i + 1)];
        int32_t stack[256];
        int depth = 0;
        stack[depth++] = 0;
        while (depth > 0) {
            const Node &node = m_nodes[size_t(stack[--depth])];
            if (node.count == 0)
                continue;
            const double dx = xi - node.massX, dy = yi - node.massY;
            const double d2 = dx * dx + dy * dy;
            const bool leaf = node.child < 0;
            if (leaf || (2 * node.half) * (2 * node.half) < theta * theta * d2) {
                // A leaf's points, or a far cell summarised by its centre of mass.
                int32_t count = node.count;
                if (leaf && d2 == 0)
                    --count; // the point itself (coinciding others still count)
                if (count == 0)
                    continue;
                const double w = 1 / (1 + d2);
                z += count * w;
                fx += count * w * w * dx;
                fy += count * w * w * dy;
                continue;
            }
            for (int c = 0; c < 4 && depth < 252; ++c)
                stack[depth++] = node.child + c;
        }
    }

private:
    struct Node
    {
        double cx, cy, half;
        double massX = 0, massY = 0;
        int32_t count = 0;
        int32_t child = -1; // first of four children, or -1 for a leaf
        int32_t point = -1; // a leaf's point (all of a leaf's points coincide)
    };

    void insert(int32_t point)
    {
        const double px = m_y[size_t(2 * point)], py = m_y[size_t(2 * point + 1)];
        int32_t index = 0;
        for (int depth = 0;; ++depth) {
            Node &node = m_nodes[size_t(index)];
            node.massX = (node.massX * node.count + px) / (node.count + 1);
            node.massY = (node.massY * node.count + py) / (node.count + 1);
            ++node.count;
            if (node.child < 0) {
                if (node.count == 1) {
                    node.point = point;
                    return;
                }
                const int32_t old = node.point;
                const int32_t oldCount = node.count - 1;
                const double ox = m_y[size_t(2 * old)], oy = m_y[size_t(2 * old + 1)];
                // Coinciding points (or a cell too deep to split) share the leaf.
                if ((ox == px && oy == py) || depth > 48)
                    return;
                split(index); // may reallocate: no references held across it
                Node &parent = m_nodes[size_t(index)];
                parent.point = -1;
                Node &moved = m_nodes[size_t(parent.child + quadrant(parent, ox, oy))];
                moved.massX = ox;
                moved.massY = oy;
                moved.count = oldCount;
                moved.point = old;
            }
            const Node &current = m_nodes[size_t(index)];
            index = current.child + quadrant(current, px, py);
        }
    }

    void split(int32_t index)
    {
        const Node parent = m_nodes[size_t(index)];
        const double h = parent.half / 2;
        m_nodes[size_t(index)].child = int32_t(m_nodes.size());
        for (int c = 0; c < 4; ++c)
            m_nodes.push_back(Node{parent.cx + ((c & 1) ? h : -h), parent.cy + ((c & 2) ? h : -h), h});
    }

    static int quadrant(const Node &node, double x, double y)
    {
        return (x >= node.cx ? 1 : 0) + (y >= node.cy ? 2 : 0);
    }

    const std::vector<double> &m_y;
    std::vector<Node> m_nodes;
};

// Repulsive forces (already divided by Z) and Z, by Barnes-Hut.
double barnesHutRepulsion(const std::vector<double> &y, double theta, std::vector<double> &force)
{
    const int64_t n = int64_t(y.size()) / 2;
    const QuadTree tree(y);
    std::vector<double> zPart(static_cast<size_t>(n));
    at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            double fx = 0, fy = 0, z = 0;
            tree.repulsion(i, theta, fx, fy, z);
            force[size_t(2 * i)] = fx;
            force[size_t(2 * i + 1)] = fy;
            zPart[size_t(i)] = z;
        }
    });
    const double z = std::max(std::accumulate(zPart.begin(), zPart.end(), 0.0), 1e-300);
    for (double &f : force)
        f /= z;
    return z;
}

// ---- FFT-accelerated interpolation ------------------------------------------

std::mutex &fftwPlannerMutex()
{
    static std::mutex m; // FFTW's planner is not thread-safe; execution is
    return m;
}

template <typename T>
struct FftwDeleter
{
    void operator()(T *p) const { fftwf_free(p); }
};
template <typename T>
using FftwBuffer = std::unique_ptr<T[], FftwDeleter<T>>;

template <typename T>
FftwBuffer<T> fftwAlloc(size_t count)
{
    FftwBuffer<T> b(static_cast<T *>(fftwf_malloc(sizeof(T) * count)));
    if (!b)
        throw std::bad_alloc();
    return b;
}

// Smallest m >= n whose prime factors are 2, 3 and 5 (fast FFT sizes).
int64_t fastSize(int64_t n)
{
    for (int64_t m = std::max<int64_t>(n, 1);; ++m) {
        int64_t r = m;
        for (const int64_t f : {2, 3, 5})
            while (r % f == 0)
                r /= f;
        if (r == 1)
            return m;
    }
}

class FftRepulsion
{
public:
    static constexpr int kInterp = 4; // interpolation nodes per box and dimension
    static constexpr int kCharges = 4;          // 1, x, y, x^2 + y^2
    static constexpr int64_t kMinBoxes = 16;

    // The kernel is split as in particle-particle particle-mesh methods: a
    // far part, equal to w^2 beyond `nearRadius` and a smooth polynomial in
    // r^2 inside it, goes through the grid with boxes of `farBoxWidth`; the
    // rest, w^2 minus the far part, vanishes beyond `nearRadius` and is
    // summed exactly over each point's neighbours (a cell list). While the
    // layout is dense (early on), pairs within the radius would be too many:
    // then the whole kernel goes through a grid with boxes of `boxWidth`.
    FftRepulsion(double boxWidth, double farBoxWidth, double nearRadius)
        : m_boxWidth(boxWidth), m_farBoxWidth(farBoxWidth), m_nearRadius(nearRadius)
    {
    }
    ~FftRepulsion() { destroyPlans(); }

    double operator()(const std::vector<double> &y, std::vector<double> &force)
    {
        const int64_t n = int64_t(y.size()) / 2;
        double lo = INFINITY, hi = -INFINITY;
        for (const double v : y) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
        const double extent = std::max(hi - lo, 1e-6);
        // Split once the 3 x 3 cells around a point hold ~600 others or
        // fewer: from there on the exact near sums cost less than the fine
        // grid the whole kernel would need (measured on Fashion-MNIST).
        const bool split = m_nearRadius > 0 && 9 * m_nearRadius * m_nearRadius * double(n) / (extent * extent) <= 600;
        // Fixed box width, so the kernel's transform only changes with the
        // grid size; box counts that make the FFT size a 2-3-5 number.
        const double boxWidth = split ? m_farBoxWidth : m_boxWidth;
        // A small layout (early on) gets kMinBoxes boxes across its extent.
        int64_t boxes = std::max(kMinBoxes, int64_t(std::ceil(extent / boxWidth)) + 1);
        const double usedWidth = boxes == kMinBoxes ? std::min(boxWidth, extent * 1.0001 / double(kMinBoxes)) : boxWidth;
        while (fastSize(boxes * 2 * kInterp) != boxes * 2 * kInterp)
            ++boxes;
        const bool resized = prepare(boxes);
        const int64_t m = m_nodes;          // grid nodes per dimension
        const int64_t f = 2 * m;            // FFT size per dimension (zero-padded)
        const int64_t fc = f / 2 + 1;       // complex columns of the r2c output
        const double spacing = usedWidth / kInterp;

        // Kernel w^2 on the wrapped grid of node offsets, and its transform.
        const bool kernelChanged = resized || usedWidth != m_lastWidth || split != m_lastSplit;
        m_lastWidth = usedWidth;
        m_lastSplit = split;
        const double s0 = m_nearRadius * m_nearRadius;
        for (int64_t a = 0; a < f && kernelChanged; ++a) {
            const int64_t da = a < m ? a : a - f; // offset a (a >= m: a - f), a == m unused
            for (int64_t b = 0; b < f; ++b) {
                const int64_t db = b < m ? b : b - f;
                const double r2 = double(da * da + db * db) * spacing * spacing;
                const double k = split ? farKernel(r2, s0) : kernel(r2);
                m_kernel[size_t(a * f + b)] = (a == m || b == m) ? 0.0f : float(k);
            }
        }
        if (kernelChanged)
            fftwf_execute_dft_r2c(m_forward, m_kernel.get(), m_kernelHat.get());

        // Each point's box and Lagrange weights in x and y.
        m_box.resize(size_t(n));
        m_weight.resize(size_t(n * 2 * kInterp));
        at::parallel_for(0, n, 2048, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
                int64_t cell[2];
                for (int d = 0; d < 2; ++d) {
                    const double u = (y[size_t(2 * i + d)] - lo) / usedWidth;
                    cell[d] = std::min<int64_t>(boxes - 1, std::max<int64_t>(0, int64_t(u)));
                    const double t = u - double(cell[d]); // in [0, 1]: nodes at 1/6, 1/2, 5/6
                    lagrange(t, &m_weight[size_t((i * 2 + d) * kInterp)]);
                }
                m_box[size_t(i)] = {cell[0], cell[1]};
            }
        });

        // Spread the charges onto the grid (sequential: points share nodes).
        for (int c = 0; c < kCharges; ++c)
            std::fill(m_grid[size_t(c)].get(), m_grid[size_t(c)].get() + f * f, 0.0f);
        // Coordinates relative to the grid's centre keep x^2 + y^2 small
        // (the forces and Z do not depend on the origin).
        const double centre = lo + double(boxes) * usedWidth / 2;
        for (int64_t i = 0; i < n; ++i) {
            const double px = y[size_t(2 * i)] - centre, py = y[size_t(2 * i + 1)] - centre;
            const double charge[kCharges] = {1, px, py, px * px + py * py};
            const double *wx = &m_weight[size_t(i * 2 * kInterp)];
            const double *wy = wx + kInterp;
            const int64_t row0 = m_box[size_t(i)][0] * kInterp, col0 = m_box[size_t(i)][1] * kInterp;
            for (int a = 0; a < kInterp; ++a)
                for (int b = 0; b < kInterp; ++b) {
                    const double w = wx[a] * wy[b];
                    const int64_t at = (row0 + a) * f + col0 + b;
                    for (int c = 0; c < kCharges; ++c)
                        m_grid[size_t(c)][size_t(at)] += float(w * charge[c]);
                }
        }

        // Convolve each charge grid with the kernel: FFT, multiply, inverse.
        at::parallel_for(0, kCharges, 1, [&](int64_t begin, int64_t end) {
            for (int64_t c = begin; c < end; ++c) {
                float *grid = m_grid[size_t(c)].get();
                fftwf_complex *hat = m_hat[size_t(c)].get();
                fftwf_execute_dft_r2c(m_forward, grid, hat);
                const float norm = 1.0f / float(f * f);
                for (int64_t e = 0; e < f * fc; ++e) {
                    const float re = hat[e][0] * m_kernelHat[e][0] - hat[e][1] * m_kernelHat[e][1];
                    const float im = hat[e][0] * m_kernelHat[e][1] + hat[e][1] * m_kernelHat[e][0];
                    hat[e][0] = re * norm;
                    hat[e][1] = im * norm;
                }
                fftwf_execute_dft_c2r(m_inverse, hat, grid);
            }
        });

        // The near part, w^2 minus the far kernel within nearRadius, summed
        // exactly over a cell list of side nearRadius. Points are visited in
        // cell order: the 3 x 3 cells around a point are three contiguous
        // runs of the sorted coordinates, summed in float, vectorised. Per
        // point it gives sum k (1 + r^2) (its share of Z) and sum k (y_i - y_j)
        // (its force), directly in the differences, without the cancellation
        // of the charge form.
        m_near.assign(size_t(split ? 3 * n : 0), 0.0);
        if (split) {
            const int64_t cells = int64_t(extent / m_nearRadius) + 1;
            auto cellOf = [&](double v) { return std::min<int64_t>(cells - 1, int64_t((v - lo) / m_nearRadius)); };
            std::vector<int64_t> cellStart(size_t(cells * cells + 1), 0), cellIndex(static_cast<size_t>(n));
            for (int64_t i = 0; i < n; ++i) {
                cellIndex[size_t(i)] = cellOf(y[size_t(2 * i)]) * cells + cellOf(y[size_t(2 * i + 1)]);
                ++cellStart[size_t(cellIndex[size_t(i)] + 1)];
            }
            std::partial_sum(cellStart.begin(), cellStart.end(), cellStart.begin());
            std::vector<int64_t> fill(cellStart.begin(), cellStart.end() - 1), order(static_cast<size_t>(n));
            std::vector<float> xs(static_cast<size_t>(n)), ys(static_cast<size_t>(n));
            for (int64_t i = 0; i < n; ++i) {
                const int64_t at = fill[size_t(cellIndex[size_t(i)])]++;
                order[size_t(at)] = i;
                xs[size_t(at)] = float(y[size_t(2 * i)] - centre);
                ys[size_t(at)] = float(y[size_t(2 * i + 1)] - centre);
            }
            at::parallel_for(0, n, 1024, [&](int64_t begin, int64_t end) {
                for (int64_t at = begin; at < end; ++at) {
                    const int64_t i = order[size_t(at)];
                    const int64_t cell = cellIndex[size_t(i)], cx = cell / cells, cy = cell % cells;
                    const int64_t y0 = std::max<int64_t>(0, cy - 1), y1 = std::min(cells - 1, cy + 1);
                    float sums[3] = {0, 0, 0};
                    for (int64_t gx = std::max<int64_t>(0, cx - 1); gx <= std::min(cells - 1, cx + 1); ++gx)
                        nearSums(xs[size_t(at)], ys[size_t(at)], xs.data(), ys.data(), cellStart[size_t(gx * cells + y0)],
                                 cellStart[size_t(gx * cells + y1 + 1)], float(s0), sums);
                    for (int c = 0; c < 3; ++c)
                        m_near[size_t(3 * i + c)] = sums[c];
                }
            });
        }

        // Interpolate the potentials back to the points (plus the near part);
        // forces and Z.
        std::vector<double> zPart(static_cast<size_t>(n));
        at::parallel_for(0, n, 2048, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
                double phi[kCharges] = {0, 0, 0, 0};
                const double *wx = &m_weight[size_t(i * 2 * kInterp)];
                const double *wy = wx + kInterp;
                const int64_t row0 = m_box[size_t(i)][0] * kInterp, col0 = m_box[size_t(i)][1] * kInterp;
                for (int a = 0; a < kInterp; ++a)
                    for (int b = 0; b < kInterp; ++b) {
                        const double w = wx[a] * wy[b];
                        const int64_t at = (row0 + a) * f + col0 + b;
                        for (int c = 0; c < kCharges; ++c)
                            phi[c] += w * m_grid[size_t(c)][size_t(at)];
                    }
                const double px = y[size_t(2 * i)] - centre, py = y[size_t(2 * i + 1)] - centre;
                zPart[size_t(i)] = (1 + px * px + py * py) * phi[0] - 2 * (px * phi[1] + py * phi[2]) + phi[3];
                force[size_t(2 * i)] = px * phi[0] - phi[1];
                force[size_t(2 * i + 1)] = py * phi[0] - phi[2];
                if (split) {
                    zPart[size_t(i)] += m_near[size_t(3 * i)];
                    force[size_t(2 * i)] += m_near[size_t(3 * i + 1)];
                    force[size_t(2 * i + 1)] += m_near[size_t(3 * i + 2)];
                }
            }
        });
        // Minus the N self-interactions (w_ii = 1).
        const double z = std::max(std::accumulate(zPart.begin(), zPart.end(), 0.0) - double(n), 1e-300);
        for (double &v : force)
            v /= z;
        return z;
    }

private:
    // Over j in [begin, end), with k = w^2 - far within r^2 < s0 (the point
    // itself included: k = 1 - far(0)), adds the sums of k (1 + r^2), k dx
    // and k dy to sums[0..2]. Built for AVX2 too, picked at run time.
    __attribute__((target_clones("avx2", "default"))) static void
    nearSums(float px, float py, const float *xs, const float *ys, int64_t begin, int64_t end, float s0, float *sums)
    {
        const float u = 1 / (1 + s0);
        float z = 0, fx = 0, fy = 0;
#pragma omp simd reduction(+ : z, fx, fy)
        for (int64_t j = begin; j < end; ++j) {
            const float dx = px - xs[j], dy = py - ys[j];
            const float r2 = dx * dx + dy * dy;
            const float w = 1 / (1 + r2), d = r2 - s0;
            const float k = r2 < s0 ? w * w - u * u * (1 - 2 * u * d + 3 * u * u * d * d) : 0.0f;
            z += k * (1 + r2);
            fx += k * dx;
            fy += k * dy;
        }
        sums[0] += z;
        sums[1] += fx;
        sums[2] += fy;
    }

    static double kernel(double r2)
    {
        const double w = 1 / (1 + r2);
        return w * w;
    }

    // (1 + s)^-2 for s = r^2 >= s0; inside, its second-order Taylor
    // polynomial in s around s0: smooth, so a coarse grid carries it well.
    static double farKernel(double r2, double s0)
    {
        if (r2 >= s0)
            return kernel(r2);
        const double u = 1 / (1 + s0), d = r2 - s0;
        return u * u * (1 - 2 * u * d + 3 * u * u * d * d);
    }

    static void lagrange(double t, double *w)
    {
        double nodes[kInterp];
        for (int a = 0; a < kInterp; ++a)
            nodes[a] = (a + 0.5) / kInterp;
        for (int a = 0; a < kInterp; ++a) {
            double v = 1;
            for (int b = 0; b < kInterp; ++b)
                if (b != a)
                    v *= (t - nodes[b]) / (nodes[a] - nodes[b]);
            w[a] = v;
        }
    }

    // Buffers and plans for a grid of `boxes` per dimension; true when they changed.
    bool prepare(int64_t boxes)
    {
        if (boxes * kInterp == m_nodes)
            return false;
        destroyPlans();
        m_nodes = boxes * kInterp;
        const int64_t f = 2 * m_nodes, fc = f / 2 + 1;
        m_kernel = fftwAlloc<float>(size_t(f * f));
        m_kernelHat = fftwAlloc<fftwf_complex>(size_t(f * fc));
        for (int c = 0; c < kCharges; ++c) {
            m_grid[size_t(c)] = fftwAlloc<float>(size_t(f * f));
            m_hat[size_t(c)] = fftwAlloc<fftwf_complex>(size_t(f * fc));
        }
        const std::lock_guard<std::mutex> lock(fftwPlannerMutex());
        m_forward = fftwf_plan_dft_r2c_2d(int(f), int(f), m_kernel.get(), m_kernelHat.get(), FFTW_ESTIMATE);
        m_inverse = fftwf_plan_dft_c2r_2d(int(f), int(f), m_hat[0].get(), m_grid[0].get(), FFTW_ESTIMATE);
        if (!m_forward || !m_inverse)
            throw Error("t-SNE: FFTW could not plan a " + std::to_string(f) + " x " + std::to_string(f) + " transform");
        return true;
    }

    void destroyPlans()
    {
        const std::lock_guard<std::mutex> lock(fftwPlannerMutex());
        if (m_forward)
            fftwf_destroy_plan(m_forward);
        if (m_inverse)
            fftwf_destroy_plan(m_inverse);
        m_forward = m_inverse = nullptr;
    }

    double m_boxWidth, m_farBoxWidth, m_nearRadius;
    double m_lastWidth = -1;
    bool m_lastSplit = false;
    int64_t m_nodes = 0;
    fftwf_plan m_forward = nullptr, m_inverse = nullptr;
    FftwBuffer<float> m_kernel;
    FftwBuffer<fftwf_complex> m_kernelHat;
    std::array<FftwBuffer<float>, kCharges> m_grid;
    std::array<FftwBuffer<fftwf_complex>, kCharges> m_hat;
    std::vector<std::array<int64_t, 2>> m_box;
    std::vector<double> m_weight;
    std::vector<double> m_near; // per point: its near share of Z, and of the force in x and y
};

} // namespace

Matrix tsne(const Matrix &data, const TsneOptions &o, const std::function<void(const ProjectionFrame &)> &onFrame,
            const std::atomic<bool> *cancel)
{
    const int64_t n = data.rows;
    if (n < 4)
        throw Error("t-SNE needs at least 4 points (got " + std::to_string(n) + ")");
    if (!(o.perplexity >= 1) || o.perplexity > 1000)
        throw Error("t-SNE perplexity must be between 1 and 1000");
    if (o.iterations < 1)
        throw Error("t-SNE needs at least one iteration");

    const SparseP p = inputAffinities(data, o.perplexity, cancel);
    if (p.rowStart.empty())
        return {}; // cancelled

    // PCA initialisation scaled to a standard deviation of 1e-4 (as
    // scikit-learn does), plus a seeded jitter well below that scale so that
    // coinciding inputs do not stay stacked.
    const Matrix start = pca(data, 2);
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i)
        mean += start.values[size_t(2 * i)];
    mean /= double(n);
    for (int64_t i = 0; i < n; ++i)
        var += (start.values[size_t(2 * i)] - mean) * (start.values[size_t(2 * i)] - mean);
    const double sd = std::sqrt(var / double(n));
    std::vector<double> y(size_t(2 * n));
    std::mt19937_64 rng(o.seed);
    std::normal_distribution<double> jitter(0, 1e-6);
    for (size_t e = 0; e < y.size(); ++e)
        y[e] = (sd > 0 ? start.values[e] / sd * 1e-4 : 0) + jitter(rng);

    const bool barnesHut = o.repulsion == TsneOptions::Repulsion::BarnesHut
        || (o.repulsion == TsneOptions::Repulsion::Auto && n < 5000);
    // Grid boxes of 1 (4 nodes each) for the whole kernel while the layout
    // is dense; later boxes of 2 for the far part and exact sums within 3.
    // Force error against the exact sum ~0.5-1% (Barnes-Hut at theta 0.5:
    // ~1.5%), checked on Fashion-MNIST layouts.
    FftRepulsion fft(1.0, 2.0, 3.0);
    const double rate = o.learningRate > 0 ? o.learningRate : std::max(double(n) / 12, 200.0);
    std::vector<double> attract(y.size()), repel(y.size()), update(y.size(), 0), gains(y.size(), 1);
    std::vector<float> yFloat(y.begin(), y.end()); // for the sums over P and the frames

    auto frame = [&](int iteration, double z, bool final) {
        if (!onFrame)
            return;
        ProjectionFrame f;
        f.iteration = iteration;
        f.iterations = o.iterations;
        f.final = final;
        f.klDivergence = klDivergence(p, yFloat, z);
        f.coordinates = Matrix{n, 2, yFloat};
        onFrame(f);
    };

    int iteration = 0;
    double z = 1;
    for (; iteration < o.iterations; ++iteration) {
        if (cancel && cancel->load())
            break;
        const bool early = iteration < o.exaggerationIterations;
        const double exaggeration = early ? o.earlyExaggeration : 1;
        const double momentum = early ? 0.5 : 0.8;
        attractiveForces(p, yFloat, attract);
        z = barnesHut ? barnesHutRepulsion(y, o.theta, repel) : fft(y, repel);
        double cx = 0, cy = 0;
        for (size_t e = 0; e < y.size(); ++e) {
            const double g = exaggeration * attract[e] - repel[e];
            gains[e] = update[e] * g < 0 ? gains[e] + 0.2 : std::max(gains[e] * 0.8, 0.01);
            update[e] = momentum * update[e] - rate * gains[e] * g;
            y[e] += update[e];
            (e % 2 ? cy : cx) += y[e];
        }
        cx /= double(n);
        cy /= double(n);
        for (int64_t i = 0; i < n; ++i) {
            y[size_t(2 * i)] -= cx;
            y[size_t(2 * i + 1)] -= cy;
            yFloat[size_t(2 * i)] = float(y[size_t(2 * i)]);
            yFloat[size_t(2 * i + 1)] = float(y[size_t(2 * i + 1)]);
        }
        if (o.frameEvery > 0 && (iteration + 1) % o.frameEvery == 0 && iteration + 1 < o.iterations)
            frame(iteration + 1, z, false);
    }
    if (iteration == o.iterations)
        frame(iteration, z, true);
    return Matrix{n, 2, yFloat};
}

} // namespace liftlab
