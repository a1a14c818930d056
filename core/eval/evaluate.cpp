#include "eval/evaluate.h"

#include "data/augment.h"
#include "error.h"
#include "eval/knn.h"
#include "util/parallel.h"

#include <torch/torch.h>

#include <limits>
#include <numeric>
#include <random>

namespace liftlab {

namespace {

Neighbours toNeighbours(const NeighbourList &list)
{
    return {torch::tensor(list.indices, torch::kInt64).view({list.rows, list.k}),
            torch::tensor(list.distances, torch::kFloat32).view({list.rows, list.k})};
}

// The generic kernels' kNN (util/parallel.h): the same ranking with torch
// operations on the queries' device, a block of queries at a time (at most
// 2^26 scores, 256 MB, per block). Ties go in top-k's order.
void neighbourBlocksGeneric(const torch::Tensor &q, const torch::Tensor &g, int64_t k, bool excludeSelf,
                            const std::function<void(int64_t, const Neighbours &)> &visit, bool exactDistances)
{
    torch::NoGradGuard noGrad;
    const int64_t nq = q.size(0), ng = g.size(0);
    k = std::max<int64_t>(0, std::min(k, ng - (excludeSelf ? 1 : 0)));
    const torch::Tensor galleryNorms = g.pow(2).sum(1);
    const int64_t block = std::max<int64_t>(1, (int64_t(1) << 26) / std::max<int64_t>(1, ng));
    for (int64_t first = 0; first < nq; first += block) {
        const int64_t rows = std::min(block, nq - first);
        const torch::Tensor qb = q.narrow(0, first, rows);
        // |q - g|^2 - |q|^2: the ranking's score; a NaN embedding ranks last.
        torch::Tensor score = torch::nan_to_num(galleryNorms.unsqueeze(0) - 2 * torch::mm(qb, g.t()), INFINITY);
        if (excludeSelf)
            score.narrow(1, first, rows).diagonal().fill_(INFINITY);
        auto [top, indices] = score.topk(k, 1, /*largest=*/false, /*sorted=*/true);
        torch::Tensor distances;
        if (exactDistances && k > 0) {
            distances = (qb.unsqueeze(1) - g.index_select(0, indices.flatten()).view({rows, k, -1})).norm(2, 2);
            const torch::Tensor order = std::get<1>(distances.sort(/*stable=*/c10::optional<bool>(true), /*dim=*/1, /*descending=*/false));
            distances = distances.gather(1, order);
            indices = indices.gather(1, order);
        } else {
            distances = (top + qb.pow(2).sum(1, true)).clamp_min(0).sqrt();
        }
        visit(first, {indices.cpu(), distances.to(torch::kCPU, torch::kFloat32)});
    }
}

} // namespace

void forEachNeighbourBlock(const torch::Tensor &queries, const torch::Tensor &gallery, int64_t k, bool excludeSelf,
                           const std::function<void(int64_t, const Neighbours &)> &visit, bool exactDistances)
{
    if (!fastKernels(queries))
        return neighbourBlocksGeneric(queries.to(torch::kFloat32).contiguous(),
                                      gallery.to(queries.device(), torch::kFloat32).contiguous(), k, excludeSelf, visit,
                                      exactDistances);
    const torch::Tensor q = queries.to(torch::kFloat32).contiguous();
    const torch::Tensor g = gallery.to(torch::kFloat32).contiguous();
    forEachNeighbourChunk(q.data_ptr<float>(), q.size(0), g.data_ptr<float>(), g.size(0), g.size(1), k, excludeSelf,
                          exactDistances, [&](const NeighbourList &chunk) {
                              visit(chunk.first, toNeighbours(chunk));
                          });
}

Neighbours exactKnn(const torch::Tensor &queries, const torch::Tensor &gallery, int64_t k, bool excludeSelf)
{
    if (!fastKernels(queries)) {
        std::vector<Neighbours> blocks;
        forEachNeighbourBlock(queries, gallery, k, excludeSelf, [&](int64_t, const Neighbours &b) { blocks.push_back(b); });
        if (blocks.empty())
            return {torch::empty({0, 0}, torch::kInt64), torch::empty({0, 0})};
        std::vector<torch::Tensor> indices, distances;
        for (const Neighbours &b : blocks) {
            indices.push_back(b.indices);
            distances.push_back(b.distances);
        }
        return {torch::cat(indices), torch::cat(distances)};
    }
    const torch::Tensor q = queries.to(torch::kFloat32).contiguous();
    const torch::Tensor g = gallery.to(torch::kFloat32).contiguous();
    return toNeighbours(nearestNeighbours(q.data_ptr<float>(), q.size(0), g.data_ptr<float>(), g.size(0), g.size(1), k,
                                          excludeSelf));
}

std::vector<int64_t> kmeans(const torch::Tensor &pointsIn, int64_t k, uint64_t seed, int iterations,
                            const std::atomic<bool> *cancel)
{
    const torch::Tensor points = pointsIn.to(torch::kFloat64).contiguous();
    const int64_t n = points.size(0);
    k = std::max<int64_t>(1, std::min(k, n));
    iterations = std::max(iterations, 1);
    std::mt19937_64 rng(seed);

    // k-means++: each next centre drawn with probability ~ squared distance.
    std::vector<int64_t> chosen = {std::uniform_int_distribution<int64_t>(0, n - 1)(rng)};
    torch::Tensor closest = (points - points[chosen[0]]).pow(2).sum(1);
    while (int64_t(chosen.size()) < k) {
        const double total = closest.sum().item<double>();
        int64_t next = std::uniform_int_distribution<int64_t>(0, n - 1)(rng);
        if (total > 0) {
            const torch::Tensor cumulative = closest.cumsum(0);
            const double target = std::uniform_real_distribution<double>(0, total)(rng);
            next = std::min(n - 1, (cumulative < target).sum().item<int64_t>());
        }
        chosen.push_back(next);
        closest = torch::minimum(closest, (points - points[next]).pow(2).sum(1));
    }
    torch::Tensor centres = points.index_select(0, torch::tensor(chosen, torch::kInt64).to(points.device()));

    // argmin |x - c|^2 = argmin |c|^2 - 2 x.c, a GEMM (with torch::cdist the
    // k-means of the 10,000 raw test images took 4.9 s instead of 1.8 s), in
    // blocks of points whose scores take at most 64 MB: at Stanford Online
    // Products' size (60,502 points, 11,316 centres) the whole would be 5 GB.
    const int64_t block = std::max<int64_t>(1, (int64_t(1) << 23) / k);
    auto nearestCentres = [&] {
        const torch::Tensor centreNorms = centres.pow(2).sum(1);
        torch::Tensor nearest = torch::empty({n}, points.options().dtype(torch::kInt64));
        for (int64_t first = 0; first < n; first += block) {
            const int64_t rows = std::min(block, n - first);
            nearest.narrow(0, first, rows)
                .copy_(torch::addmm(centreNorms, points.narrow(0, first, rows), centres.t(), 1, -2).argmin(1));
        }
        return nearest;
    };
    torch::Tensor assignment;
    for (int it = 0; it < iterations; ++it) {
        throwIfCancelled(cancel);
        const torch::Tensor next = nearestCentres();
        if (assignment.defined() && next.equal(assignment))
            break;
        assignment = next;
        const torch::Tensor sums = torch::zeros_like(centres).index_add_(0, assignment, points);
        const torch::Tensor counts = torch::bincount(assignment, {}, k).to(torch::kFloat64).unsqueeze(1);
        // An emptied cluster keeps its previous centre.
        centres = torch::where(counts > 0, sums / counts.clamp_min(1), centres);
    }
    assignment = assignment.cpu();
    return std::vector<int64_t>(assignment.data_ptr<int64_t>(), assignment.data_ptr<int64_t>() + n);
}

Metrics evaluateEmbeddings(const torch::Tensor &embeddings, const torch::Tensor &labelsIn, uint64_t seed,
                           const std::atomic<bool> *cancel)
{
    const torch::Tensor labels = labelsIn.to(torch::kCPU, torch::kInt64).contiguous();
    const int64_t n = labels.size(0);
    Metrics m;
    m.queries = n;
    if (n < 2)
        return m;

    // R per query: the number of other items of its class.
    const auto [classes, inverse, counts] = torch::_unique2(labels, true, true, true);
    const torch::Tensor r = counts.index_select(0, inverse) - 1;
    const int64_t maxR = r.max().item<int64_t>();
    const int64_t *labelData = labels.data_ptr<int64_t>();
    const int64_t *rData = r.data_ptr<int64_t>();

    m.largeRecall = wantsLargeRecall(classes.size(0));
    const int64_t ks[7] = {1, 2, 4, 8, 10, 100, 1000};
    const int kCount = m.largeRecall ? 7 : 4;
    double hits[7] = {0, 0, 0, 0, 0, 0, 0};
    double mapSum = 0, rPrecisionSum = 0;
    forEachNeighbourBlock(embeddings, embeddings, std::max(ks[kCount - 1], maxR), true,
                          [&](int64_t first, const Neighbours &b) {
        throwIfCancelled(cancel);
        const torch::Tensor same = labels.index_select(0, b.indices.flatten()).view_as(b.indices)
                                       .eq(labels.narrow(0, first, b.indices.size(0)).unsqueeze(1))
                                       .contiguous();
        const bool *rel = same.data_ptr<bool>();
        const int64_t width = same.size(1);
        for (int64_t row = 0; row < same.size(0); ++row) {
            const bool *line = rel + row * width;
            int64_t firstHit = std::numeric_limits<int64_t>::max(); // none: a miss at every K
            for (int64_t c = 0; c < width; ++c)
                if (line[c]) {
                    firstHit = c;
                    break;
                }
            for (int i = 0; i < kCount; ++i)
                hits[i] += firstHit < ks[i] ? 1 : 0;
            const int64_t rq = rData[first + row];
            if (rq == 0) {
                ++m.singletonQueries;
                continue;
            }
            mapSum += averagePrecisionAtR(std::vector<bool>(line, line + std::min(width, rq)), rq);
            rPrecisionSum += double(std::count(line, line + std::min(width, rq), true)) / double(rq);
        }
    }, /*exactDistances=*/false);
    m.recallAt1 = hits[0] / n;
    m.recallAt2 = hits[1] / n;
    m.recallAt4 = hits[2] / n;
    m.recallAt8 = hits[3] / n;
    if (m.largeRecall) {
        m.recallAt10 = hits[4] / n;
        m.recallAt100 = hits[5] / n;
        m.recallAt1000 = hits[6] / n;
    }
    const int64_t withR = n - m.singletonQueries;
    m.mapAtR = withR > 0 ? mapSum / double(withR) : 0;
    m.rPrecision = withR > 0 ? rPrecisionSum / double(withR) : 0;

    const std::vector<int64_t> labelVector(labelData, labelData + n);
    const std::vector<int64_t> clusters = kmeans(embeddings, classes.size(0), seed, 100, cancel);
    m.nmi = normalizedMutualInformation(labelVector, clusters);
    m.f1 = pairwiseF1(labelVector, clusters);
    return m;
}

torch::Tensor embedDataset(EmbeddingNetImpl &model, const Dataset &data, const Normalization &norm, int64_t batchSize,
                           const std::atomic<bool> *cancel)
{
    return embedRows(model, data, norm, 0, data.size(), batchSize, cancel);
}

torch::Tensor embedRows(EmbeddingNetImpl &model, const Dataset &data, const Normalization &norm, int64_t begin,
                        int64_t end, int64_t batchSize, const std::atomic<bool> *cancel)
{
    torch::NoGradGuard noGrad;
    const bool wasTraining = model.is_training();
    const torch::Device device = model.device();
    model.eval();
    std::vector<torch::Tensor> parts;
    std::vector<int64_t> indices;
    for (int64_t first = begin; first < end; first += batchSize) {
        if (cancel && cancel->load()) {
            model.train(wasTraining);
            throw Cancelled();
        }
        indices.resize(size_t(std::min(batchSize, end - first)));
        std::iota(indices.begin(), indices.end(), first);
        // The images are read and made on the threads the network then uses.
        const torch::Tensor batch = makeBatch(data, indices, norm, AugmentOptions{}, nullptr, 0, 1, at::get_num_threads());
        parts.push_back(model.forward(batch.to(device)));
    }
    model.train(wasTraining);
    return parts.empty() ? torch::empty({0, 0}) : torch::cat(parts);
}

} // namespace liftlab
