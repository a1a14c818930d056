#include "projection/projection.h"

#include "error.h"
#include "eval/knn.h"
#include "util/parallel.h"

#include <torch/torch.h>

#include <unordered_set>

namespace liftlab {

Matrix pca(const Matrix &data, int64_t components)
{
    if (data.rows < 2 || data.cols < 1)
        throw Error("PCA needs at least two points");
    components = std::max<int64_t>(1, std::min(components, data.cols));
    const torch::Tensor x = torch::from_blob(const_cast<float *>(data.values.data()), {data.rows, data.cols})
                                .to(torch::kFloat64);
    const torch::Tensor centred = x - x.mean(0, true);
    // Covariance eigenvectors: d x d, cheap for any N when d is at most a few thousand.
    const torch::Tensor covariance = parallelMm(centred.t().contiguous(), centred) / double(data.rows - 1);
    const auto [values, vectors] = torch::linalg::eigh(covariance, "L"); // ascending
    torch::Tensor leading = vectors.flip({1}).narrow(1, 0, components).contiguous();
    // Sign: the largest loading of each component is positive.
    const torch::Tensor biggest = leading.abs().argmax(0);
    const torch::Tensor sign = leading.gather(0, biggest.unsqueeze(0)).sign().clamp_min(0) * 2 - 1;
    leading = leading * sign;
    const torch::Tensor projected = torch::mm(centred, leading).to(torch::kFloat32).contiguous();
    Matrix out{data.rows, components, {}};
    out.values.assign(projected.data_ptr<float>(), projected.data_ptr<float>() + projected.numel());
    return out;
}

ProjectionQuality projectionQuality(const Matrix &data, const Matrix &layout, const std::vector<int64_t> &labels,
                                    int64_t k)
{
    if (data.rows != layout.rows)
        throw Error("the layout has " + std::to_string(layout.rows) + " points, the data " + std::to_string(data.rows));
    const int64_t n = data.rows;
    if (!labels.empty() && int64_t(labels.size()) != n)
        throw Error("there are " + std::to_string(labels.size()) + " labels for " + std::to_string(n) + " points");
    ProjectionQuality q;
    if (n < 2)
        return q;
    const NeighbourList high = nearestNeighbours(data.values.data(), n, data.values.data(), n, data.cols, k, true);
    const NeighbourList low = nearestNeighbours(layout.values.data(), n, layout.values.data(), n, layout.cols, k, true);
    double kept = 0;
    int64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) {
        const auto begin = high.indices.begin() + i * high.k;
        std::unordered_set<int64_t> near(begin, begin + high.k);
        for (int64_t j = 0; j < low.k; ++j)
            kept += near.count(low.indices[size_t(i * low.k + j)]);
        if (!labels.empty() && labels[size_t(low.indices[size_t(i * low.k)])] == labels[size_t(i)])
            ++correct;
    }
    q.neighbourPreservation = kept / double(n * std::max<int64_t>(1, high.k));
    if (!labels.empty())
        q.oneNnAccuracy = double(correct) / double(n);
    return q;
}

} // namespace liftlab
