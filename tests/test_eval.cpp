// Unit tests of evaluation: the retrieval and clustering metrics on cases
// computed by hand, exact kNN against a brute-force reference, the full
// evaluateEmbeddings protocol and k-means.

#include "eval/evaluate.h"
#include "eval/knn.h"
#include "eval/metrics.h"
#include "util/parallel.h"

#include <QtTest/QtTest>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

using namespace liftlab;

namespace {

std::vector<int64_t> toStd(const QList<qint64> &list)
{
    return std::vector<int64_t>(list.begin(), list.end());
}

std::vector<bool> flags(const QString &bits)
{
    std::vector<bool> out;
    for (QChar c : bits)
        out.push_back(c == QLatin1Char('1'));
    return out;
}

// Random normal points [n, d], reproducible without touching torch's global generator.
torch::Tensor randomPoints(int64_t n, int64_t d, unsigned seed, double sigma = 1.0)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, float(sigma));
    torch::Tensor t = torch::empty({n, d}, torch::kFloat32);
    float *p = t.data_ptr<float>();
    for (int64_t i = 0; i < n * d; ++i)
        p[i] = normal(rng);
    return t;
}

double distance(const torch::Tensor &a, int64_t i, const torch::Tensor &b, int64_t j)
{
    const auto x = a.accessor<float, 2>();
    const auto y = b.accessor<float, 2>();
    double s = 0;
    for (int64_t c = 0; c < a.size(1); ++c) {
        const double diff = double(x[i][c]) - double(y[j][c]);
        s += diff * diff;
    }
    return std::sqrt(s);
}

// Brute force: every gallery item of query i, sorted by (distance, index).
std::vector<std::pair<double, int64_t>> ranking(const torch::Tensor &queries, int64_t i, const torch::Tensor &gallery,
                                                bool excludeSelf)
{
    std::vector<std::pair<double, int64_t>> r;
    for (int64_t j = 0; j < gallery.size(0); ++j)
        if (!(excludeSelf && i == j))
            r.emplace_back(distance(queries, i, gallery, j), j);
    std::sort(r.begin(), r.end());
    return r;
}

// Well separated Gaussian blobs: `classes` centres 100 apart, `perClass`
// points each with standard deviation `sigma`, in shuffled order.
void blobs(int64_t classes, int64_t perClass, int64_t d, double sigma, unsigned seed, torch::Tensor &points,
           std::vector<int64_t> &labels, int64_t labelOffset = 0)
{
    std::mt19937 rng(seed);
    std::normal_distribution<double> noise(0.0, sigma);
    std::uniform_real_distribution<double> centre(-1000.0, 1000.0);
    std::vector<std::vector<double>> centres(static_cast<size_t>(classes), std::vector<double>(static_cast<size_t>(d)));
    for (auto &c : centres)
        for (double &x : c)
            x = centre(rng);
    // Keep the centres at least 100 apart whatever the seed.
    for (int64_t a = 0; a < classes; ++a)
        centres[size_t(a)][0] = 200.0 * double(a);

    labels.clear();
    for (int64_t c = 0; c < classes; ++c)
        labels.insert(labels.end(), size_t(perClass), c + labelOffset);
    std::shuffle(labels.begin(), labels.end(), rng);
    points = torch::empty({int64_t(labels.size()), d}, torch::kFloat32);
    auto p = points.accessor<float, 2>();
    for (size_t i = 0; i < labels.size(); ++i)
        for (int64_t j = 0; j < d; ++j)
            p[int64_t(i)][j] = float(centres[size_t(labels[i] - labelOffset)][size_t(j)] + noise(rng));
}

// Whether two partitions agree up to renaming: a bijection between the ids.
bool samePartition(const std::vector<int64_t> &a, const std::vector<int64_t> &b)
{
    if (a.size() != b.size())
        return false;
    std::map<int64_t, int64_t> ab, ba;
    for (size_t i = 0; i < a.size(); ++i) {
        auto [x, newX] = ab.emplace(a[i], b[i]);
        auto [y, newY] = ba.emplace(b[i], a[i]);
        if (x->second != b[i] || y->second != a[i])
            return false;
    }
    return true;
}

struct Reference
{
    double recall[4] = {0, 0, 0, 0};
    double mapAtR = 0, rPrecision = 0;
};

// The retrieval metrics computed naively, in double, from the definitions:
// Recall@K = a same-class item among the K nearest others; R = other items of
// the query's class; AP@R = (1/R) sum_{k<=R, rel_k} precision@k;
// R-precision = relevant among the first R / R.
Reference referenceMetrics(const torch::Tensor &x, const std::vector<int64_t> &labels)
{
    Reference ref;
    const int64_t n = x.size(0);
    const int ks[4] = {1, 2, 4, 8};
    int64_t withR = 0;
    for (int64_t i = 0; i < n; ++i) {
        const auto order = ranking(x, i, x, true);
        const int64_t r = std::count(labels.begin(), labels.end(), labels[size_t(i)]) - 1;
        for (int q = 0; q < 4; ++q)
            for (int64_t k = 0; k < ks[q] && k < int64_t(order.size()); ++k)
                if (labels[size_t(order[size_t(k)].second)] == labels[size_t(i)]) {
                    ref.recall[q] += 1;
                    break;
                }
        double hits = 0, ap = 0;
        for (int64_t k = 0; k < r; ++k)
            if (labels[size_t(order[size_t(k)].second)] == labels[size_t(i)]) {
                hits += 1;
                ap += hits / double(k + 1);
            }
        if (r > 0) { // queries without another item of their class are left out
            ref.mapAtR += ap / double(r);
            ref.rPrecision += hits / double(r);
            ++withR;
        }
    }
    for (double &v : ref.recall)
        v /= double(n);
    ref.mapAtR /= double(std::max<int64_t>(withR, 1));
    ref.rPrecision /= double(std::max<int64_t>(withR, 1));
    return ref;
}

torch::Tensor labelTensor(const std::vector<int64_t> &labels)
{
    return torch::tensor(labels, torch::kInt64);
}

} // namespace

class TestEval : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void averagePrecisionAtR_data();
    void averagePrecisionAtR();
    void precisionAtK_data();
    void precisionAtK();
    void nmi_data();
    void nmi();
    void pairwiseF1_data();
    void pairwiseF1();

    void exactKnnMatchesBruteForce_data();
    void exactKnnMatchesBruteForce();
    void exactKnnClampsK();
    void exactKnnSurvivesNaN();
    void exactKnnNearDuplicates_data();
    void exactKnnNearDuplicates();
    void neighbourBlocks_data();
    void neighbourBlocks();
    void genericKnnMatchesFast_data();
    void genericKnnMatchesFast();
    void approximateKnnFindsTheNearest();
    void approximateKnnEdgeCases();

    void evaluateHandComputed();
    void evaluateLargeRecall();
    void evaluateSeparatedClusters_data();
    void evaluateSeparatedClusters();
    void evaluateMatchesReference_data();
    void evaluateMatchesReference();

    void kmeansRecoversBlobs_data();
    void kmeansRecoversBlobs();
    void kmeansEdgeCases();
};

// ----------------------------------------------------------- Metrics ----

void TestEval::averagePrecisionAtR_data()
{
    QTest::addColumn<QString>("relevant"); // ranked neighbours, 1 = same class
    QTest::addColumn<qint64>("r");
    QTest::addColumn<double>("expected");

    // AP@R = (1/R) * sum over relevant ranks k <= R of (hits up to k) / k.
    QTest::newRow("1010 R=2") << "1010" << qint64(2) << 0.5;          // (1/1) / 2
    QTest::newRow("1100 R=2") << "1100" << qint64(2) << 1.0;          // (1/1 + 2/2) / 2
    QTest::newRow("0101 R=2") << "0101" << qint64(2) << 0.25;         // (1/2) / 2, rank 4 is beyond R
    QTest::newRow("0110 R=3") << "0110" << qint64(3) << (0.5 + 2.0 / 3) / 3; // (1/2 + 2/3) / 3
    QTest::newRow("10101 R=3") << "10101" << qint64(3) << (1.0 + 2.0 / 3) / 3; // (1/1 + 2/3) / 3
    QTest::newRow("0011 R=2 too late") << "0011" << qint64(2) << 0.0; // nothing in the first R
    QTest::newRow("111 R=3") << "111" << qint64(3) << 1.0;
    QTest::newRow("1 R=1") << "1" << qint64(1) << 1.0;
    QTest::newRow("0 R=1") << "0" << qint64(1) << 0.0;
    QTest::newRow("01111 R=4") << "01111" << qint64(4) << (1.0 / 2 + 2.0 / 3 + 3.0 / 4) / 4;
    QTest::newRow("R=0") << "000" << qint64(0) << 0.0;
}

void TestEval::averagePrecisionAtR()
{
    QFETCH(QString, relevant);
    QFETCH(qint64, r);
    QFETCH(double, expected);
    const double ap = liftlab::averagePrecisionAtR(flags(relevant), r);
    QVERIFY2(std::abs(ap - expected) < 1e-12, qPrintable(QString("AP %1, expected %2").arg(ap).arg(expected)));
}

void TestEval::precisionAtK_data()
{
    QTest::addColumn<QString>("relevant"); // the K results shown, 1 = same class
    QTest::addColumn<qint64>("inGallery");
    QTest::addColumn<double>("precision");
    QTest::addColumn<double>("ap");

    // AP@K = sum over relevant ranks k of (hits up to k) / k, over min(K, in gallery).
    QTest::newRow("1010, 5 in gallery") << "1010" << qint64(5) << 0.5 << (1.0 + 2.0 / 3) / 4;
    QTest::newRow("0110, 2 in gallery") << "0110" << qint64(2) << 0.5 << (0.5 + 2.0 / 3) / 2;
    QTest::newRow("111, 3 in gallery") << "111" << qint64(3) << 1.0 << 1.0;
    QTest::newRow("000, 4 in gallery") << "000" << qint64(4) << 0.0 << 0.0;
    QTest::newRow("none in gallery") << "00" << qint64(0) << 0.0 << std::nan("");
    QTest::newRow("no results") << "" << qint64(3) << 0.0 << std::nan("");
}

void TestEval::precisionAtK()
{
    QFETCH(QString, relevant);
    QFETCH(qint64, inGallery);
    QFETCH(double, precision);
    QFETCH(double, ap);
    const liftlab::PrecisionAtK p = liftlab::precisionAtK(flags(relevant), inGallery);
    QCOMPARE(p.hits, int64_t(relevant.count('1')));
    QVERIFY2(std::abs(p.precision - precision) < 1e-12, qPrintable(QString::number(p.precision)));
    if (std::isnan(ap))
        QVERIFY(std::isnan(p.averagePrecision));
    else
        QVERIFY2(std::abs(p.averagePrecision - ap) < 1e-12, qPrintable(QString::number(p.averagePrecision)));
}

void TestEval::nmi_data()
{
    QTest::addColumn<QList<qint64>>("labels");
    QTest::addColumn<QList<qint64>>("clusters");
    QTest::addColumn<double>("expected");

    QTest::newRow("identical") << QList<qint64>{0, 0, 1, 1, 2, 2} << QList<qint64>{0, 0, 1, 1, 2, 2} << 1.0;
    QTest::newRow("identical up to renaming") << QList<qint64>{0, 0, 1, 1, 2, 2} << QList<qint64>{5, 5, 3, 3, 9, 9}
                                              << 1.0;
    // Every class spread evenly over every cluster: I(Y; C) = 0.
    QTest::newRow("independent") << QList<qint64>{0, 0, 1, 1} << QList<qint64>{0, 1, 0, 1} << 0.0;
    QTest::newRow("independent 3x2") << QList<qint64>{0, 0, 1, 1, 2, 2} << QList<qint64>{0, 1, 0, 1, 0, 1} << 0.0;
    // One cluster holds everything: I = 0, H(C) = 0, so 2*0 / (ln 2 + 0) = 0.
    QTest::newRow("one cluster") << QList<qint64>{0, 0, 1, 1} << QList<qint64>{0, 0, 0, 0} << 0.0;
    // labels 000111, clusters 001111. n = 6; joint counts (0,0)=2, (0,1)=1, (1,1)=3;
    // p(Y) = 1/2, 1/2; p(C) = 1/3, 2/3.
    // H(Y) = ln 2; H(C) = -(1/3 ln 1/3 + 2/3 ln 2/3) = ln 3 - 2/3 ln 2.
    // I = 2/6 ln((2/6)/(1/2*1/3)) + 1/6 ln((1/6)/(1/2*2/3)) + 3/6 ln((3/6)/(1/2*2/3))
    //   = 1/3 ln 2 - 1/6 ln 2 + 1/2 ln(3/2) = 0.3182571
    // NMI = 2 I / (H(Y) + H(C)) = 0.6365142 / 1.3296613 = 0.4787040.
    QTest::newRow("nontrivial 2x2")
        << QList<qint64>{0, 0, 0, 1, 1, 1} << QList<qint64>{0, 0, 1, 1, 1, 1}
        << 2 * (std::log(2.0) / 3 - std::log(2.0) / 6 + std::log(1.5) / 2)
               / (std::log(2.0) + std::log(3.0) - 2 * std::log(2.0) / 3);
    // labels 001122, clusters 001111: C is a function of Y, so I = H(C) =
    // ln 3 - 2/3 ln 2 = 0.6365142; H(Y) = ln 3. NMI = 2 H(C) / (ln 3 + H(C)) = 0.7336804.
    QTest::newRow("merged classes")
        << QList<qint64>{0, 0, 1, 1, 2, 2} << QList<qint64>{0, 0, 1, 1, 1, 1}
        << 2 * (std::log(3.0) - 2 * std::log(2.0) / 3) / (std::log(3.0) + std::log(3.0) - 2 * std::log(2.0) / 3);
    // Both partitions trivial: they agree, NMI = 1 by convention.
    QTest::newRow("both trivial") << QList<qint64>{4, 4, 4} << QList<qint64>{1, 1, 1} << 1.0;
}

void TestEval::nmi()
{
    QFETCH(QList<qint64>, labels);
    QFETCH(QList<qint64>, clusters);
    QFETCH(double, expected);
    const double value = normalizedMutualInformation(toStd(labels), toStd(clusters));
    QVERIFY2(std::abs(value - expected) < 1e-9, qPrintable(QString("NMI %1, expected %2").arg(value).arg(expected)));
    // Symmetric in its arguments.
    const double swapped = normalizedMutualInformation(toStd(clusters), toStd(labels));
    QVERIFY(std::abs(swapped - value) < 1e-12);
}

void TestEval::pairwiseF1_data()
{
    QTest::addColumn<QList<qint64>>("labels");
    QTest::addColumn<QList<qint64>>("clusters");
    QTest::addColumn<double>("expected");

    QTest::newRow("identical") << QList<qint64>{0, 0, 1, 1, 2, 2} << QList<qint64>{2, 2, 0, 0, 1, 1} << 1.0;
    // labels 000111, clusters 001111: same-class pairs 3 + 3 = 6, same-cluster
    // pairs C(2,2) + C(4,2) = 1 + 6 = 7, both: joint (0,0)=2 -> 1, (0,1)=1 -> 0,
    // (1,1)=3 -> 3, so TP = 4. P = 4/7, R = 4/6, F1 = 2 TP / (7 + 6) = 8/13.
    QTest::newRow("nontrivial") << QList<qint64>{0, 0, 0, 1, 1, 1} << QList<qint64>{0, 0, 1, 1, 1, 1} << 8.0 / 13;
    // One cluster for 0011: same-class pairs 2, same-cluster 6, TP 2:
    // P = 1/3, R = 1, F1 = 2 (1/3) / (4/3) = 1/2.
    QTest::newRow("one cluster") << QList<qint64>{0, 0, 1, 1} << QList<qint64>{0, 0, 0, 0} << 0.5;
    // labels 001122, clusters 001111: actual 3, predicted 1 + 6 = 7, TP 3:
    // P = 3/7, R = 1, F1 = (6/7) / (10/7) = 0.6.
    QTest::newRow("merged classes") << QList<qint64>{0, 0, 1, 1, 2, 2} << QList<qint64>{0, 0, 1, 1, 1, 1} << 0.6;
    // Every item its own cluster: no predicted pairs, F1 = 0.
    QTest::newRow("singletons") << QList<qint64>{0, 0, 1, 1} << QList<qint64>{0, 1, 2, 3} << 0.0;
    // 0011 vs 0101: no pair shares both, TP = 0.
    QTest::newRow("independent") << QList<qint64>{0, 0, 1, 1} << QList<qint64>{0, 1, 0, 1} << 0.0;
}

void TestEval::pairwiseF1()
{
    QFETCH(QList<qint64>, labels);
    QFETCH(QList<qint64>, clusters);
    QFETCH(double, expected);
    const double value = liftlab::pairwiseF1(toStd(labels), toStd(clusters));
    QVERIFY2(std::abs(value - expected) < 1e-12, qPrintable(QString("F1 %1, expected %2").arg(value).arg(expected)));
}

// --------------------------------------------------------------- kNN ----

void TestEval::exactKnnMatchesBruteForce_data()
{
    QTest::addColumn<qint64>("queries");
    QTest::addColumn<qint64>("gallery"); // 0: the queries themselves
    QTest::addColumn<qint64>("dims");
    QTest::addColumn<qint64>("k");
    QTest::addColumn<bool>("excludeSelf");

    QTest::newRow("300 x 7 vs 400, k 5") << qint64(300) << qint64(400) << qint64(7) << qint64(5) << false;
    QTest::newRow("300 x 7 self excluded, k 5") << qint64(300) << qint64(0) << qint64(7) << qint64(5) << true;
    QTest::newRow("300 x 7 self included, k 5") << qint64(300) << qint64(0) << qint64(7) << qint64(5) << false;
    QTest::newRow("200 x 32 vs 250, k 1") << qint64(200) << qint64(250) << qint64(32) << qint64(1) << false;
    QTest::newRow("100 x 3 self excluded, k 20") << qint64(100) << qint64(0) << qint64(3) << qint64(20) << true;
    // Large k, over several 1,024-column tiles: the k best are cut back by
    // selection many times per row.
    QTest::newRow("300 x 16 vs 2500, k 150") << qint64(300) << qint64(2500) << qint64(16) << qint64(150) << false;
    QTest::newRow("1500 x 8 self excluded, k 400") << qint64(1500) << qint64(0) << qint64(8) << qint64(400) << true;
    QTest::newRow("120 x 4 self excluded, every other") << qint64(120) << qint64(0) << qint64(4) << qint64(119) << true;
}

void TestEval::exactKnnMatchesBruteForce()
{
    QFETCH(qint64, queries);
    QFETCH(qint64, gallery);
    QFETCH(qint64, dims);
    QFETCH(qint64, k);
    QFETCH(bool, excludeSelf);

    const torch::Tensor q = randomPoints(queries, dims, 3);
    const torch::Tensor g = gallery > 0 ? randomPoints(gallery, dims, 4) : q;
    const Neighbours nn = exactKnn(q, g, k, excludeSelf);
    QCOMPARE(nn.indices.sizes().vec(), (std::vector<int64_t>{queries, k}));
    QCOMPARE(nn.distances.sizes().vec(), (std::vector<int64_t>{queries, k}));
    QVERIFY(nn.indices.scalar_type() == torch::kInt64);

    const torch::Tensor indices = nn.indices.contiguous();
    const torch::Tensor distances = nn.distances.to(torch::kFloat32).contiguous();
    const auto idx = indices.accessor<int64_t, 2>();
    const auto dist = distances.accessor<float, 2>();
    double worst = 0;
    for (int64_t i = 0; i < queries; ++i) {
        const auto ref = ranking(q, i, g, excludeSelf);
        std::set<int64_t> expected, got;
        for (int64_t j = 0; j < k; ++j) {
            expected.insert(ref[size_t(j)].second);
            got.insert(idx[i][j]);
            // Nearest first, and the distance at each rank is the true one.
            worst = std::max(worst, std::abs(double(dist[i][j]) - ref[size_t(j)].first));
            if (j > 0)
                QVERIFY(dist[i][j] >= dist[i][j - 1]);
        }
        QVERIFY2(got == expected, qPrintable(QString("query %1: neighbour sets differ").arg(i)));
        if (excludeSelf)
            QVERIFY(!got.count(i));
    }
    QVERIFY2(worst < 1e-4, qPrintable(QString("distance error %1").arg(worst)));
}

// A diverged network embeds to NaN: the search must still return k
// neighbours per query, with the NaN rows ranked last.
void TestEval::exactKnnSurvivesNaN()
{
    torch::Tensor x = randomPoints(50, 3, 5);
    x[7] = NAN;
    const Neighbours nn = exactKnn(x, x, 49, true);
    QCOMPARE(nn.indices.sizes().vec(), (std::vector<int64_t>{50, 49}));
    // Query 0's last neighbour is the NaN row; its first 48 are all the finite others.
    QCOMPARE(nn.indices[0][48].item<int64_t>(), int64_t(7));
    QCOMPARE(std::get<0>(torch::_unique(nn.indices[0].narrow(0, 0, 48))).numel(), int64_t(48));
    const Neighbours all = exactKnn(torch::full({5, 2}, NAN), torch::full({5, 2}, NAN), 2, true);
    QCOMPARE(all.indices.size(1), int64_t(2));
}

// Nearest-neighbour descent against the exact search on 9,000 points in
// 20 overlapping clusters (17-D): most neighbours found, each list sorted,
// without the point itself or repeats, its distances right; the same result
// for a seed on three threads or one; nothing once cancelled.
void TestEval::approximateKnnFindsTheNearest()
{
    const int64_t n = 9000, dim = 17, k = 14; // two blocks of the descent; rows of every alignment
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> data(size_t(n * dim)), centres(size_t(20 * dim));
    for (float &c : centres)
        c = 2 * normal(rng);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t d = 0; d < dim; ++d)
            data[size_t(i * dim + d)] = centres[size_t((i % 20) * dim + d)] + normal(rng);
    const int threads = at::get_num_threads();
    prepareCompute(3); // uneven shares of the points
    const NeighbourList exact = nearestNeighbours(data.data(), n, data.data(), n, dim, k, true);
    const NeighbourList found = approximateNeighbours(data.data(), n, dim, k, 1);
    prepareCompute(1);
    const NeighbourList oneThread = approximateNeighbours(data.data(), n, dim, k, 1);
    prepareCompute(threads); // before any check can return
    QCOMPARE(oneThread.indices, found.indices);
    QCOMPARE(oneThread.distances, found.distances);
    QCOMPARE(found.rows, n);
    QCOMPARE(found.k, k);
    int64_t shared = 0;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t *row = found.indices.data() + i * k;
        const float *dist = found.distances.data() + i * k;
        const std::set<int64_t> unique(row, row + k);
        QCOMPARE(int64_t(unique.size()), k);
        QVERIFY(!unique.count(i));
        for (int64_t p = 0; p < k; ++p) {
            double direct = 0;
            for (int64_t d = 0; d < dim; ++d) {
                const double diff = double(data[size_t(i * dim + d)]) - data[size_t(row[p] * dim + d)];
                direct += diff * diff;
            }
            QVERIFY(std::abs(dist[p] - std::sqrt(direct)) < 1e-4 * (1 + std::sqrt(direct)));
            QVERIFY(p == 0 || dist[p - 1] <= dist[p]);
            shared += std::count(exact.indices.begin() + i * k, exact.indices.begin() + (i + 1) * k, row[p]);
        }
    }
    const double recall = double(shared) / double(n * k);
    QVERIFY2(recall > 0.95, qPrintable(QString("recall %1").arg(recall)));


    std::atomic<bool> cancel{true};
    QCOMPARE(approximateNeighbours(data.data(), n, dim, k, 1, &cancel).rows, int64_t(0));
}

// Fewer points than k + 1: every other point, as the exact search gives. A
// NaN row, and points that all coincide: a full list for every point.
void TestEval::approximateKnnEdgeCases()
{
    const std::vector<float> line = {0, 1, 3, 7, 15};
    const NeighbourList few = approximateNeighbours(line.data(), 5, 1, 10, 0);
    QCOMPARE(few.k, int64_t(4));
    QCOMPARE(std::vector<int64_t>(few.indices.begin() + 8, few.indices.begin() + 12),
             (std::vector<int64_t>{1, 0, 3, 4})); // the neighbours of 3: 1, 0, 7, 15
    QCOMPARE(std::vector<float>(few.distances.begin() + 8, few.distances.begin() + 12),
             (std::vector<float>{2, 3, 4, 12}));

    std::vector<float> data(size_t(300 * 4));
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (float &v : data)
        v = normal(rng);
    for (int d = 0; d < 4; ++d)
        data[size_t(7 * 4 + d)] = NAN;
    const NeighbourList withNaN = approximateNeighbours(data.data(), 300, 4, 5, 0);
    QCOMPARE(withNaN.rows, int64_t(300));
    for (int64_t i = 0; i < 300; ++i)
        for (int64_t p = 0; p < 5; ++p) {
            const int64_t j = withNaN.indices[size_t(i * 5 + p)];
            QVERIFY(j >= 0 && j < 300 && j != i);
            QCOMPARE(std::isinf(withNaN.distances[size_t(i * 5 + p)]), i == 7 || j == 7);
        }

    const std::vector<float> same(size_t(100 * 3), 1.5f);
    const NeighbourList coincide = approximateNeighbours(same.data(), 100, 3, 6, 0);
    QCOMPARE(coincide.rows, int64_t(100));
    for (const float d : coincide.distances)
        QCOMPARE(d, 0.0f);
    for (int64_t i = 0; i < 100; ++i) {
        const std::set<int64_t> row(coincide.indices.begin() + i * 6, coincide.indices.begin() + (i + 1) * 6);
        QCOMPARE(int64_t(row.size()), int64_t(6));
        QVERIFY(!row.count(i) && *row.begin() >= 0 && *row.rbegin() < 100);
    }
}

void TestEval::genericKnnMatchesFast_data()
{
    exactKnnMatchesBruteForce_data();
}

// The generic kernels' kNN (torch operations, any device) against the fast
// one: the same neighbours in the same order, distances to 1e-5, and so the
// same metrics; NaN rows rank last there too.
void TestEval::genericKnnMatchesFast()
{
    QFETCH(qint64, queries);
    QFETCH(qint64, gallery);
    QFETCH(qint64, dims);
    QFETCH(qint64, k);
    QFETCH(bool, excludeSelf);
    const torch::Tensor q = randomPoints(queries, dims, 3);
    const torch::Tensor g = gallery > 0 ? randomPoints(gallery, dims, 4) : q;
    const Neighbours fast = exactKnn(q, g, k, excludeSelf);
    const Metrics fastMetrics = evaluateEmbeddings(q, torch::arange(int64_t(queries), torch::kInt64).remainder(7), 0);
    setKernels(Kernels::Generic);
    const Neighbours generic = exactKnn(q, g, k, excludeSelf);
    const Metrics genericMetrics = evaluateEmbeddings(q, torch::arange(int64_t(queries), torch::kInt64).remainder(7), 0);
    torch::Tensor broken = randomPoints(50, 3, 5);
    broken[7] = NAN;
    const Neighbours withNaN = exactKnn(broken, broken, 49, true);
    setKernels(Kernels::Fast);

    // The same distance at every rank. Where two neighbours lie within
    // rounding of each other (float GEMMs sum in different orders) they may
    // trade places, so each index the generic path returns must be a true
    // neighbour at its rank's distance, and no row may repeat one.
    const double tolerance = 1e-5 * std::max(1.0, fast.distances.abs().max().item<double>());
    QVERIFY2((generic.distances - fast.distances).abs().max().item<double>() <= tolerance, "distances differ");
    const torch::Tensor trueDistances
        = (q.to(torch::kFloat64).unsqueeze(1) - g.to(torch::kFloat64).index({generic.indices})).norm(2, -1);
    QVERIFY2((trueDistances - fast.distances.to(torch::kFloat64)).abs().max().item<double>() <= tolerance,
             "a neighbour is not at its rank's distance");
    const torch::Tensor sorted = std::get<0>(generic.indices.sort(1));
    QVERIFY2(!sorted.narrow(1, 1, k - 1).eq(sorted.narrow(1, 0, k - 1)).any().item<bool>(), "a neighbour repeats");
    if (excludeSelf)
        QVERIFY(!generic.indices.eq(torch::arange(int64_t(queries)).unsqueeze(1)).any().item<bool>());
    const double swapped = generic.indices.ne(fast.indices).to(torch::kFloat64).mean().item<double>();
    QVERIFY2(swapped < 0.01, qPrintable(QString("%1 of the ranks differ").arg(swapped)));
    QCOMPARE(genericMetrics.recallAt1, fastMetrics.recallAt1);
    QCOMPARE(genericMetrics.mapAtR, fastMetrics.mapAtR);
    QCOMPARE(genericMetrics.nmi, fastMetrics.nmi);
    QCOMPARE(withNaN.indices[0][48].item<int64_t>(), int64_t(7));
}

void TestEval::exactKnnClampsK()
{
    // Asking for more neighbours than exist returns all of them.
    const torch::Tensor x = randomPoints(4, 3, 9);
    const Neighbours self = exactKnn(x, x, 8, true);
    QCOMPARE(self.indices.sizes().vec(), (std::vector<int64_t>{4, 3}));
    for (int64_t i = 0; i < 4; ++i) {
        std::set<int64_t> row;
        for (int64_t j = 0; j < 3; ++j)
            row.insert(self.indices[i][j].item<int64_t>());
        std::set<int64_t> others{0, 1, 2, 3};
        others.erase(i);
        QVERIFY(row == others);
    }
    const Neighbours all = exactKnn(x, x, 8, false);
    QCOMPARE(all.indices.sizes().vec(), (std::vector<int64_t>{4, 4}));

    // Hand-made 1-D points: 0, 1, 3, 7. Neighbours of 3 are 1 (2), 0 (3), 7 (4).
    const torch::Tensor line = torch::tensor({0.f, 1.f, 3.f, 7.f}).unsqueeze(1);
    const Neighbours n = exactKnn(line, line, 3, true);
    QCOMPARE(n.indices[2][0].item<int64_t>(), int64_t(1));
    QCOMPARE(n.indices[2][1].item<int64_t>(), int64_t(0));
    QCOMPARE(n.indices[2][2].item<int64_t>(), int64_t(3));
    QVERIFY(std::abs(n.distances[2][0].item<float>() - 2.f) < 1e-5f);
    QVERIFY(std::abs(n.distances[2][1].item<float>() - 3.f) < 1e-5f);
    QVERIFY(std::abs(n.distances[2][2].item<float>() - 4.f) < 1e-5f);
}

void TestEval::exactKnnNearDuplicates_data()
{
    QTest::addColumn<double>("scale");  // of the coordinates
    QTest::addColumn<double>("offset"); // of each point's near-duplicate

    QTest::newRow("exact duplicates, unit scale") << 1.0 << 0.0;
    QTest::newRow("exact duplicates, scale 10") << 10.0 << 0.0;
    QTest::newRow("0.01 apart, unit scale") << 1.0 << 0.01;
    QTest::newRow("0.01 apart, scale 10") << 10.0 << 0.01;
}

// Each point has a (near-)duplicate in the gallery: its distance must be
// reported as the true small distance, not as the rounding noise of
// |q|^2 + |g|^2 - 2 q.g (which grows with the norms, not with the distance).
void TestEval::exactKnnNearDuplicates()
{
    QFETCH(double, scale);
    QFETCH(double, offset);

    const int64_t n = 50;
    const torch::Tensor points = randomPoints(n, 7, 8, scale);
    torch::Tensor moved = points.clone();
    moved.select(1, 0).add_(offset);
    const torch::Tensor gallery = torch::cat({points, moved});
    const Neighbours nn = exactKnn(points, gallery, 2, false);
    const torch::Tensor distances = nn.distances.contiguous();
    const auto dist = distances.accessor<float, 2>();
    const auto idx = nn.indices.accessor<int64_t, 2>();
    double worst = 0;
    for (int64_t i = 0; i < n; ++i) {
        QVERIFY(std::set<int64_t>({idx[i][0], idx[i][1]}) == std::set<int64_t>({i, i + n}));
        worst = std::max({worst, std::abs(double(dist[i][0])), std::abs(double(dist[i][1]) - offset)});
    }
    QVERIFY2(worst < 1e-4, qPrintable(QString("distance error %1 (true distances 0 and %2)").arg(worst).arg(offset)));
}

void TestEval::neighbourBlocks_data()
{
    QTest::addColumn<qint64>("queries");
    QTest::addColumn<qint64>("gallery"); // 0: the queries themselves
    QTest::addColumn<qint64>("dims");
    QTest::addColumn<bool>("excludeSelf");
    QTest::addColumn<int>("minBlocks");

    // At most 8,192 queries a block.
    QTest::newRow("one block") << qint64(300) << qint64(400) << qint64(7) << false << 1;
    QTest::newRow("2 blocks vs 20000") << qint64(9000) << qint64(20000) << qint64(2) << false << 2;
    QTest::newRow("3 blocks, self excluded") << qint64(17000) << qint64(0) << qint64(3) << true << 3;
    QTest::newRow("single query") << qint64(1) << qint64(50) << qint64(4) << false << 1;
}

void TestEval::neighbourBlocks()
{
    QFETCH(qint64, queries);
    QFETCH(qint64, gallery);
    QFETCH(qint64, dims);
    QFETCH(bool, excludeSelf);
    QFETCH(int, minBlocks);

    const int64_t k = 4;
    const torch::Tensor q = randomPoints(queries, dims, 21);
    const torch::Tensor g = gallery > 0 ? randomPoints(gallery, dims, 22) : q;
    std::vector<int> visits(static_cast<size_t>(queries), 0);
    std::vector<std::pair<int64_t, Neighbours>> blocks;
    forEachNeighbourBlock(q, g, k, excludeSelf, [&](int64_t first, const Neighbours &b) {
        blocks.emplace_back(first, b);
        for (int64_t i = 0; i < b.indices.size(0); ++i)
            if (first + i >= 0 && first + i < queries)
                ++visits[size_t(first + i)];
            else
                visits.push_back(-1000); // out of range: fails below
    });
    QVERIFY2(int(blocks.size()) >= minBlocks, qPrintable(QString::number(blocks.size())));
    QCOMPARE(int64_t(visits.size()), int64_t(queries));
    for (size_t i = 0; i < visits.size(); ++i)
        QVERIFY2(visits[i] == 1, qPrintable(QString("query %1 visited %2 times").arg(i).arg(visits[i])));

    // The blocks put together are exactKnn's answer.
    const Neighbours whole = exactKnn(q, g, k, excludeSelf);
    for (const auto &[first, b] : blocks) {
        QCOMPARE(b.indices.size(1), k);
        QCOMPARE(b.distances.sizes().vec(), b.indices.sizes().vec());
        QVERIFY(torch::equal(b.indices, whole.indices.narrow(0, first, b.indices.size(0))));
        QVERIFY(torch::allclose(b.distances, whole.distances.narrow(0, first, b.indices.size(0))));
    }

    // Spot-check every block against brute force: the reported distances are
    // the true distances to the reported items, the k-th one is no farther
    // than the true k-th nearest (tolerant of float near-ties), self excluded.
    const auto idx = whole.indices.accessor<int64_t, 2>();
    const torch::Tensor wholeDistances = whole.distances.contiguous();
    const auto dist = wholeDistances.accessor<float, 2>();
    for (int64_t i = 0; i < queries; i += std::max<int64_t>(1, queries / 60)) {
        const auto ref = ranking(q, i, g, excludeSelf);
        for (int64_t j = 0; j < k; ++j) {
            QVERIFY(!(excludeSelf && idx[i][j] == i));
            QVERIFY2(std::abs(dist[i][j] - distance(q, i, g, idx[i][j])) < 1e-3,
                     qPrintable(QString("query %1 rank %2").arg(i).arg(j)));
        }
        QVERIFY(dist[i][k - 1] <= ref[size_t(k - 1)].first + 1e-3);
    }
}

// -------------------------------------------------------- Evaluation ----

void TestEval::evaluateHandComputed()
{
    // Six 1-D points, two classes (labels 7 and 3, not 0/1 on purpose):
    //   item   0    1    2    3    4    5
    //   x     0.5  3.5  4.0  5.0  8.0  8.5
    //   label  7    7    3    3    7    3        R = 2 for every query.
    // Others by distance (item:distance), relevance, first hit, AP@R, R-precision:
    //   q0: 1:3.0 2:3.5 3:4.5 4:7.5 5:8.0 -> 1 0 0 1 0  rank 1  (1/1)/2 = 0.5   1/2
    //   q1: 2:0.5 3:1.5 0:3.0 4:4.5 5:5.0 -> 0 0 1 1 0  rank 3  0               0
    //   q2: 1:0.5 3:1.0 0:3.5 4:4.0 5:4.5 -> 0 1 0 0 1  rank 2  (1/2)/2 = 0.25  1/2
    //   q3: 2:1.0 1:1.5 4:3.0 5:3.5 0:4.5 -> 1 0 0 1 0  rank 1  0.5             1/2
    //   q4: 5:0.5 3:3.0 2:4.0 1:4.5 0:7.5 -> 0 0 0 1 1  rank 4  0               0
    //   q5: 4:0.5 3:3.5 2:4.5 1:5.0 0:8.0 -> 0 1 1 0 0  rank 2  (1/2)/2 = 0.25  1/2
    // Recall@1 = 2/6 (q0, q3), @2 = 4/6 (+ q2, q5), @4 = @8 = 6/6 (+ q1, q4).
    // MAP@R = (0.5 + 0 + 0.25 + 0.5 + 0 + 0.25) / 6 = 0.25; R-precision = 2/6.
    const torch::Tensor x = torch::tensor({0.5f, 3.5f, 4.0f, 5.0f, 8.0f, 8.5f}).unsqueeze(1);
    const std::vector<int64_t> labels{7, 7, 3, 3, 7, 3};
    const uint64_t seed = 3;
    const Metrics m = evaluateEmbeddings(x, labelTensor(labels), seed);
    QCOMPARE(m.queries, int64_t(6));
    auto near = [](double a, double b) { return std::abs(a - b) < 1e-9; };
    QVERIFY2(near(m.recallAt1, 2.0 / 6), qPrintable(QString::number(m.recallAt1)));
    QVERIFY2(near(m.recallAt2, 4.0 / 6), qPrintable(QString::number(m.recallAt2)));
    QVERIFY2(near(m.recallAt4, 1.0), qPrintable(QString::number(m.recallAt4)));
    QVERIFY2(near(m.recallAt8, 1.0), qPrintable(QString::number(m.recallAt8)));
    QVERIFY2(near(m.mapAtR, 0.25), qPrintable(QString::number(m.mapAtR)));
    QVERIFY2(near(m.rPrecision, 2.0 / 6), qPrintable(QString::number(m.rPrecision)));

    // The clustering scores are those of k-means with K = 2 classes and the same seed.
    const std::vector<int64_t> clusters = kmeans(x, 2, seed);
    QCOMPARE(m.nmi, normalizedMutualInformation(labels, clusters));
    QCOMPARE(m.f1, liftlab::pairwiseF1(labels, clusters));
    QVERIFY(m.nmi >= 0 && m.nmi < 1); // the classes interleave: no 2-clustering separates them
    QVERIFY(m.f1 > 0 && m.f1 < 1);
    QCOMPARE(m.singletonQueries, int64_t(0));

    // A seventh item, alone in its class and far from the rest (x = 20): last
    // in every other ranking, so their hits and AP@R stay as above. Its own
    // R is 0: it is left out of MAP@R and R-precision, as the published
    // protocol does (counted as AP 0 they would be 1.5 / 7 = 0.214), and it
    // is a miss at every K.
    //   Recall@1 = 2/7, @2 = 4/7, @4 = @8 = 6/7; MAP@R = 1.5 / 6 = 0.25; R-precision = 2/6.
    const torch::Tensor x7 = torch::tensor({0.5f, 3.5f, 4.0f, 5.0f, 8.0f, 8.5f, 20.0f}).unsqueeze(1);
    const Metrics s = evaluateEmbeddings(x7, labelTensor({7, 7, 3, 3, 7, 3, 9}), seed);
    QCOMPARE(s.queries, int64_t(7));
    QCOMPARE(s.singletonQueries, int64_t(1));
    QVERIFY2(near(s.recallAt1, 2.0 / 7), qPrintable(QString::number(s.recallAt1)));
    QVERIFY2(near(s.recallAt2, 4.0 / 7), qPrintable(QString::number(s.recallAt2)));
    QVERIFY2(near(s.recallAt4, 6.0 / 7), qPrintable(QString::number(s.recallAt4)));
    QVERIFY2(near(s.recallAt8, 6.0 / 7), qPrintable(QString::number(s.recallAt8)));
    QVERIFY2(near(s.mapAtR, 0.25), qPrintable(QString::number(s.mapAtR)));
    QVERIFY2(near(s.rPrecision, 2.0 / 6), qPrintable(QString::number(s.rPrecision)));
}

// More than 1,000 classes (Stanford Online Products' kind of test set):
// Recall@10/100/1000 too, each the share of queries with an item of their
// class among their K nearest, counted here by brute force.
void TestEval::evaluateLargeRecall()
{
    const int64_t classes = 1100, d = 4;
    std::mt19937 rng(5);
    std::vector<int64_t> labels;
    for (int64_t c = 0; c < classes; ++c)
        for (int64_t k = 0; k < 2 + c % 3; ++k) // 2 to 4 images a class
            labels.push_back(c);
    const int64_t n = int64_t(labels.size());
    std::normal_distribution<double> normal;
    torch::Tensor x = torch::empty({n, d}, torch::kFloat64);
    for (int64_t i = 0; i < x.numel(); ++i)
        x.data_ptr<double>()[i] = normal(rng);
    const Metrics m = evaluateEmbeddings(x.to(torch::kFloat32), labelTensor(labels), 1);
    QVERIFY(m.largeRecall);

    const torch::Tensor distances = torch::cdist(x, x);
    const int64_t ks[] = {1, 8, 10, 100, 1000};
    double hits[5] = {};
    for (int64_t q = 0; q < n; ++q) {
        torch::Tensor row = distances[q].clone();
        row[q] = INFINITY;
        const torch::Tensor order = row.argsort().contiguous();
        const int64_t *ranked = order.data_ptr<int64_t>();
        int64_t firstHit = n;
        for (int64_t r = 0; r < n - 1; ++r)
            if (labels[size_t(ranked[r])] == labels[size_t(q)]) {
                firstHit = r;
                break;
            }
        for (int i = 0; i < 5; ++i)
            hits[i] += firstHit < ks[i];
    }
    const double got[5] = {m.recallAt1, m.recallAt8, m.recallAt10, m.recallAt100, m.recallAt1000};
    for (int i = 0; i < 5; ++i)
        QVERIFY2(std::abs(got[i] - hits[i] / double(n)) < 1e-12,
                 qPrintable(QString("R@%1: %2, brute force %3").arg(ks[i]).arg(got[i]).arg(hits[i] / double(n))));
    QVERIFY(m.recallAt10 < m.recallAt100 && m.recallAt100 < m.recallAt1000 && m.recallAt1000 < 1);

    // 1,000 classes or fewer: only 1/2/4/8.
    labels.resize(size_t(std::find(labels.begin(), labels.end(), 1000) - labels.begin()));
    const Metrics few = evaluateEmbeddings(x.narrow(0, 0, int64_t(labels.size())).to(torch::kFloat32),
                                           labelTensor(labels), 1);
    QVERIFY(!few.largeRecall);
}

void TestEval::evaluateSeparatedClusters_data()
{
    QTest::addColumn<qint64>("classes");
    QTest::addColumn<qint64>("perClass");
    QTest::addColumn<qint64>("dims");
    QTest::addColumn<qint64>("labelOffset");

    QTest::newRow("2 classes of 3, 1-D") << qint64(2) << qint64(3) << qint64(1) << qint64(0);
    QTest::newRow("3 classes of 4, 2-D") << qint64(3) << qint64(4) << qint64(2) << qint64(0);
    QTest::newRow("5 classes of 20, 8-D, labels 5-9") << qint64(5) << qint64(20) << qint64(8) << qint64(5);
    QTest::newRow("10 classes of 3 (R < 8)") << qint64(10) << qint64(3) << qint64(4) << qint64(0);
}

void TestEval::evaluateSeparatedClusters()
{
    QFETCH(qint64, classes);
    QFETCH(qint64, perClass);
    QFETCH(qint64, dims);
    QFETCH(qint64, labelOffset);

    torch::Tensor x;
    std::vector<int64_t> labels;
    blobs(classes, perClass, dims, 1.0, 17, x, labels, labelOffset);
    const Metrics m = evaluateEmbeddings(x, labelTensor(labels), 1);
    QCOMPARE(m.queries, int64_t(classes * perClass));
    QCOMPARE(m.recallAt1, 1.0);
    QCOMPARE(m.recallAt2, 1.0);
    QCOMPARE(m.recallAt4, 1.0);
    QCOMPARE(m.recallAt8, 1.0);
    QCOMPARE(m.mapAtR, 1.0);
    QCOMPARE(m.rPrecision, 1.0);
    QVERIFY2(std::abs(m.nmi - 1.0) < 1e-9, qPrintable(QString::number(m.nmi)));
    QVERIFY2(std::abs(m.f1 - 1.0) < 1e-9, qPrintable(QString::number(m.f1)));
}

void TestEval::evaluateMatchesReference_data()
{
    QTest::addColumn<qint64>("n");
    QTest::addColumn<qint64>("dims");
    QTest::addColumn<int>("classes");
    QTest::addColumn<double>("separation"); // class centres scale; 0: pure noise

    QTest::newRow("noise, 150 x 5, 6 classes") << qint64(150) << qint64(5) << 6 << 0.0;
    QTest::newRow("overlapping, 240 x 4, 8 classes") << qint64(240) << qint64(4) << 8 << 1.0;
    QTest::newRow("mostly separated, 120 x 16, 3 classes") << qint64(120) << qint64(16) << 3 << 2.0;
}

// On random embeddings (no hand computation possible), evaluateEmbeddings
// agrees with the definitions computed naively in double.
void TestEval::evaluateMatchesReference()
{
    QFETCH(qint64, n);
    QFETCH(qint64, dims);
    QFETCH(int, classes);
    QFETCH(double, separation);

    std::mt19937 rng(99);
    std::vector<int64_t> labels(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
        labels[size_t(i)] = i % classes; // equal-sized classes, no singletons
    std::shuffle(labels.begin(), labels.end(), rng);
    torch::Tensor x = randomPoints(n, dims, 5);
    const torch::Tensor centres = randomPoints(classes, dims, 6) * separation;
    x = x + centres.index_select(0, labelTensor(labels));

    const Metrics m = evaluateEmbeddings(x, labelTensor(labels), 0);
    const Reference ref = referenceMetrics(x, labels);
    const double got[4] = {m.recallAt1, m.recallAt2, m.recallAt4, m.recallAt8};
    for (int q = 0; q < 4; ++q)
        QVERIFY2(std::abs(got[q] - ref.recall[q]) < 1e-9,
                 qPrintable(QString("Recall@%1: %2, reference %3").arg(1 << q).arg(got[q]).arg(ref.recall[q])));
    QVERIFY2(std::abs(m.mapAtR - ref.mapAtR) < 1e-9,
             qPrintable(QString("MAP@R %1, reference %2").arg(m.mapAtR).arg(ref.mapAtR)));
    QVERIFY2(std::abs(m.rPrecision - ref.rPrecision) < 1e-9,
             qPrintable(QString("R-precision %1, reference %2").arg(m.rPrecision).arg(ref.rPrecision)));
    // Orderings that hold by definition.
    QVERIFY(m.recallAt1 <= m.recallAt2 && m.recallAt2 <= m.recallAt4 && m.recallAt4 <= m.recallAt8);
    QVERIFY(m.mapAtR <= m.rPrecision + 1e-12);
    QVERIFY(m.nmi >= 0 && m.nmi <= 1);
    QVERIFY(m.f1 >= 0 && m.f1 <= 1);
    // Not degenerate: with separation the embedding retrieves above chance.
    if (separation >= 2.0)
        QVERIFY(m.recallAt1 > 0.9);
}

// ----------------------------------------------------------- k-means ----

void TestEval::kmeansRecoversBlobs_data()
{
    QTest::addColumn<qint64>("classes");
    QTest::addColumn<qint64>("perClass");
    QTest::addColumn<qint64>("dims");
    QTest::addColumn<qint64>("seed");

    QTest::newRow("4 blobs 2-D seed 0") << qint64(4) << qint64(25) << qint64(2) << qint64(0);
    QTest::newRow("4 blobs 2-D seed 1") << qint64(4) << qint64(25) << qint64(2) << qint64(1);
    QTest::newRow("4 blobs 2-D seed 42") << qint64(4) << qint64(25) << qint64(2) << qint64(42);
    QTest::newRow("8 blobs 5-D seed 7") << qint64(8) << qint64(30) << qint64(5) << qint64(7);
    QTest::newRow("10 blobs 64-D seed 3") << qint64(10) << qint64(12) << qint64(64) << qint64(3);
    QTest::newRow("2 blobs 1-D seed 5") << qint64(2) << qint64(50) << qint64(1) << qint64(5);
}

void TestEval::kmeansRecoversBlobs()
{
    QFETCH(qint64, classes);
    QFETCH(qint64, perClass);
    QFETCH(qint64, dims);
    QFETCH(qint64, seed);

    torch::Tensor x;
    std::vector<int64_t> labels;
    blobs(classes, perClass, dims, 3.0, unsigned(seed) + 100, x, labels);
    const std::vector<int64_t> clusters = kmeans(x, classes, uint64_t(seed));
    QCOMPARE(int64_t(clusters.size()), classes * perClass);
    for (int64_t c : clusters)
        QVERIFY(c >= 0 && c < classes);
    QCOMPARE(int64_t(std::set<int64_t>(clusters.begin(), clusters.end()).size()), int64_t(classes));
    QVERIFY(samePartition(clusters, labels));

    // Deterministic for a seed, and independent of the input precision.
    QCOMPARE(kmeans(x, classes, uint64_t(seed)), clusters);
    QVERIFY(samePartition(kmeans(x.to(torch::kFloat64), classes, uint64_t(seed)), labels));
    // Another seed finds the same partition (possibly renamed).
    QVERIFY(samePartition(kmeans(x, classes, uint64_t(seed) + 1000), labels));
    // A wrong K cannot reproduce the classes.
    QVERIFY(!samePartition(kmeans(x, classes - 1, uint64_t(seed)), labels));
}

void TestEval::kmeansEdgeCases()
{
    // K larger than the number of points: every point its own cluster.
    const torch::Tensor three = torch::tensor({0.f, 0.f, 5.f, 5.f, -9.f, 2.f}).view({3, 2});
    const std::vector<int64_t> own = kmeans(three, 5, 1);
    QCOMPARE(int(own.size()), 3);
    QCOMPARE(int(std::set<int64_t>(own.begin(), own.end()).size()), 3);

    // K = 1: everything together.
    const std::vector<int64_t> one = kmeans(randomPoints(20, 3, 1), 1, 1);
    QCOMPARE(int(one.size()), 20);
    QVERIFY(std::all_of(one.begin(), one.end(), [](int64_t c) { return c == 0; }));

    // Duplicated points (zero distances in k-means++ seeding) still give K clusters.
    const torch::Tensor dup = torch::tensor({1.f, 1.f, 1.f, 4.f, 4.f, 4.f}).unsqueeze(1);
    const std::vector<int64_t> two = kmeans(dup, 2, 3);
    QVERIFY(samePartition(two, {0, 0, 0, 1, 1, 1}));
}

QTEST_GUILESS_MAIN(TestEval)
#include "test_eval.moc"
