// Every loss against an independent brute-force reference (explicit loops in
// double precision), a finite-difference gradient check, and a learning smoke
// test; plus the edge cases of the lifted loss and the registry's checks.
#include "error.h"
#include "losses/loss.h"
#include "util/parallel.h"

#include <torch/torch.h>

#include <QTest>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

using namespace liftlab;

namespace {

using Matrix = std::vector<std::vector<double>>;

double distance(const Matrix &x, size_t i, size_t j)
{
    double s = 0;
    for (size_t k = 0; k < x[i].size(); ++k)
        s += (x[i][k] - x[j][k]) * (x[i][k] - x[j][k]);
    return std::sqrt(s);
}

// The paper's eq. 4, pair by pair.
double liftedReference(const Matrix &x, const std::vector<int64_t> &y, double a)
{
    double sum = 0;
    int pairs = 0;
    for (size_t i = 0; i < x.size(); ++i)
        for (size_t j = i + 1; j < x.size(); ++j) {
            if (y[i] != y[j])
                continue;
            double negatives = 0;
            for (size_t k = 0; k < x.size(); ++k) {
                if (y[k] != y[i])
                    negatives += std::exp(a - distance(x, i, k));
                if (y[k] != y[j])
                    negatives += std::exp(a - distance(x, j, k));
            }
            const double j_ij = std::log(negatives) + distance(x, i, j);
            sum += std::pow(std::max(0.0, j_ij), 2);
            ++pairs;
        }
    return pairs ? sum / (2.0 * pairs) : 0.0;
}

double contrastiveReference(const Matrix &x, const std::vector<int64_t> &y, double m)
{
    double sum = 0;
    int pairs = 0;
    for (size_t i = 0; i < x.size(); ++i)
        for (size_t j = i + 1; j < x.size(); ++j, ++pairs) {
            const double d = distance(x, i, j);
            sum += y[i] == y[j] ? 0.5 * d * d : 0.5 * std::pow(std::max(0.0, m - d), 2);
        }
    return sum / pairs;
}

double tripletReference(const Matrix &x, const std::vector<int64_t> &y, double m, const std::string &miner)
{
    const size_t n = x.size();
    double sum = 0;
    int count = 0;
    for (size_t a = 0; a < n; ++a) {
        if (miner == "batch-hard") {
            double hardestPositive = -1, hardestNegative = INFINITY;
            for (size_t k = 0; k < n; ++k) {
                if (k != a && y[k] == y[a])
                    hardestPositive = std::max(hardestPositive, distance(x, a, k));
                if (y[k] != y[a])
                    hardestNegative = std::min(hardestNegative, distance(x, a, k));
            }
            if (hardestPositive >= 0 && std::isfinite(hardestNegative)) {
                sum += std::max(0.0, hardestPositive - hardestNegative + m);
                ++count;
            }
            continue;
        }
        for (size_t p = 0; p < n; ++p) {
            if (p == a || y[p] != y[a])
                continue;
            const double dap = distance(x, a, p);
            if (miner == "all") {
                for (size_t k = 0; k < n; ++k)
                    if (y[k] != y[a]) {
                        sum += std::max(0.0, dap - distance(x, a, k) + m);
                        ++count;
                    }
                continue;
            }
            // semi-hard: the closest negative farther than the positive, else the farthest negative.
            double semiHard = INFINITY, farthest = -1;
            for (size_t k = 0; k < n; ++k)
                if (y[k] != y[a]) {
                    const double dan = distance(x, a, k);
                    farthest = std::max(farthest, dan);
                    if (dan > dap)
                        semiHard = std::min(semiHard, dan);
                }
            if (farthest < 0)
                continue;
            const double dan = std::isfinite(semiHard) ? semiHard : farthest;
            sum += std::max(0.0, dap - dan + m);
            ++count;
        }
    }
    return count ? sum / count : 0.0;
}

double generalizedLiftedReference(const Matrix &x, const std::vector<int64_t> &y, double m)
{
    double sum = 0;
    int anchors = 0;
    for (size_t a = 0; a < x.size(); ++a) {
        double positives = 0, negatives = 0;
        for (size_t k = 0; k < x.size(); ++k) {
            if (k != a && y[k] == y[a])
                positives += std::exp(distance(x, a, k));
            if (y[k] != y[a])
                negatives += std::exp(m - distance(x, a, k));
        }
        if (positives == 0 || negatives == 0)
            continue;
        sum += std::max(0.0, std::log(positives) + std::log(negatives));
        ++anchors;
    }
    return anchors ? sum / anchors : 0.0;
}

double cosine(const Matrix &x, size_t i, size_t j)
{
    double dot = 0, ni = 0, nj = 0;
    for (size_t k = 0; k < x[i].size(); ++k) {
        dot += x[i][k] * x[j][k];
        ni += x[i][k] * x[i][k];
        nj += x[j][k] * x[j][k];
    }
    return dot / std::sqrt(ni * nj);
}

// Wang et al. 2019, anchor by anchor, alpha 2, beta 50, lambda 0.5, epsilon 0.1.
double multiSimilarityReference(const Matrix &x, const std::vector<int64_t> &y)
{
    const double alpha = 2, beta = 50, lambda = 0.5, epsilon = 0.1;
    double sum = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        double hardestPositive = INFINITY, hardestNegative = -INFINITY;
        for (size_t k = 0; k < x.size(); ++k) {
            if (k != i && y[k] == y[i])
                hardestPositive = std::min(hardestPositive, cosine(x, i, k));
            if (y[k] != y[i])
                hardestNegative = std::max(hardestNegative, cosine(x, i, k));
        }
        double positives = 0, negatives = 0;
        int keptPositives = 0, keptNegatives = 0;
        for (size_t k = 0; k < x.size(); ++k) {
            const double s = cosine(x, i, k);
            if (k != i && y[k] == y[i] && s - epsilon < hardestNegative) {
                positives += std::exp(-alpha * (s - lambda));
                ++keptPositives;
            }
            if (y[k] != y[i] && s + epsilon > hardestPositive) {
                negatives += std::exp(beta * (s - lambda));
                ++keptNegatives;
            }
        }
        if (keptPositives && keptNegatives)
            sum += std::log(1 + positives) / alpha + std::log(1 + negatives) / beta;
    }
    return sum / double(x.size());
}

// Yi et al. 2014 with alpha 2, beta 0.5, C 25, over the pairs i < j.
double binomialDevianceReference(const Matrix &x, const std::vector<int64_t> &y)
{
    const double alpha = 2, beta = 0.5, cost = 25;
    double positives = 0, negatives = 0;
    int positivePairs = 0, negativePairs = 0;
    for (size_t i = 0; i < x.size(); ++i)
        for (size_t j = i + 1; j < x.size(); ++j) {
            const double s = cosine(x, i, j);
            if (y[i] == y[j]) {
                positives += std::log(1 + std::exp(-alpha * (s - beta)));
                ++positivePairs;
            } else {
                negatives += std::log(1 + std::exp(alpha * cost * (s - beta)));
                ++negativePairs;
            }
        }
    return positives / std::max(positivePairs, 1) + negatives / std::max(negativePairs, 1);
}

// Sohn 2016, l2 0.002: per class, its first row is the anchor and its second the positive.
double nPairReference(const Matrix &x, const std::vector<int64_t> &y)
{
    std::vector<size_t> anchor, positive;
    for (size_t i = 0; i < x.size(); ++i) {
        bool seen = false;
        for (size_t a = 0; a < anchor.size(); ++a)
            if (y[anchor[a]] == y[i]) {
                positive.push_back(i);
                seen = true;
            }
        if (!seen)
            anchor.push_back(i);
    }
    auto dot = [&](size_t i, size_t j) {
        double s = 0;
        for (size_t k = 0; k < x[i].size(); ++k)
            s += x[i][k] * x[j][k];
        return s;
    };
    const size_t n = anchor.size();
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
        double negatives = 0;
        for (size_t j = 0; j < n; ++j)
            if (j != i)
                negatives += std::exp(dot(anchor[i], positive[j]) - dot(anchor[i], positive[i]));
        sum += std::log(1 + negatives) + 0.002 * (dot(anchor[i], anchor[i]) + dot(positive[i], positive[i]));
    }
    return sum / double(n);
}

Matrix normalized(const Matrix &x)
{
    Matrix out = x;
    for (auto &row : out) {
        double n = 0;
        for (double v : row)
            n += v * v;
        for (double &v : row)
            v /= std::max(std::sqrt(n), 1e-12);
    }
    return out;
}

double dot(const Matrix &a, size_t i, const Matrix &b, size_t j)
{
    double s = 0;
    for (size_t k = 0; k < a[i].size(); ++k)
        s += a[i][k] * b[j][k];
    return s;
}

// Kim et al. 2020, alpha 32, delta 0.1, proxy c for label c.
double proxyAnchorReference(const Matrix &x, const std::vector<int64_t> &y, const Matrix &proxies)
{
    const double alpha = 32, delta = 0.1;
    const Matrix u = normalized(x), p = normalized(proxies);
    double positives = 0, negatives = 0;
    int present = 0;
    for (size_t c = 0; c < p.size(); ++c) {
        double pos = 0, neg = 0;
        bool any = false;
        for (size_t i = 0; i < u.size(); ++i) {
            const double s = dot(u, i, p, c);
            if (size_t(y[i]) == c) {
                pos += std::exp(-alpha * (s - delta));
                any = true;
            } else {
                neg += std::exp(alpha * (s + delta));
            }
        }
        if (any) {
            positives += std::log(1 + pos);
            ++present;
        }
        negatives += std::log(1 + neg);
    }
    return positives / present + negatives / double(p.size());
}

// Softmax cross-entropy of `logit(i, c)` over the classes, averaged over rows.
template <typename Logit>
double crossEntropy(size_t rows, size_t classes, const std::vector<int64_t> &y, Logit logit)
{
    double sum = 0;
    for (size_t i = 0; i < rows; ++i) {
        double total = 0;
        for (size_t c = 0; c < classes; ++c)
            total += std::exp(logit(i, c));
        sum += std::log(total) - logit(i, size_t(y[i]));
    }
    return sum / double(rows);
}

// Movshovitz-Attias et al. 2017 with the own proxy in the denominator, scale 9.
double proxyNcaReference(const Matrix &x, const std::vector<int64_t> &y, const Matrix &proxies)
{
    const Matrix u = normalized(x), p = normalized(proxies);
    return crossEntropy(u.size(), p.size(), y, [&](size_t i, size_t c) {
        double d = 0;
        for (size_t k = 0; k < u[i].size(); ++k)
            d += (u[i][k] - p[c][k]) * (u[i][k] - p[c][k]);
        return -9.0 * d;
    });
}

// ArcFace with s 16: the true class's angle grows by m.
double normalizedSoftmaxReference(const Matrix &x, const std::vector<int64_t> &y, const Matrix &weights, double m)
{
    const double s = 16;
    const Matrix u = normalized(x), w = normalized(weights);
    return crossEntropy(u.size(), w.size(), y, [&](size_t i, size_t c) {
        const double cos = dot(u, i, w, c);
        if (c != size_t(y[i]))
            return s * cos;
        const double theta = std::acos(std::clamp(cos, -1.0, 1.0));
        return s * (theta + m <= M_PI ? std::cos(theta + m) : cos - m * std::sin(m));
    });
}

// Wu et al. 2017, alpha 0.2, on the given triplets (a, p, n).
double marginReference(const Matrix &x, const Matrix &triplets, double beta)
{
    const Matrix u = normalized(x);
    const double alpha = 0.2;
    double sum = 0;
    int active = 0;
    for (const auto &t : triplets) {
        const double pos = std::max(0.0, alpha + distance(u, size_t(t[0]), size_t(t[1])) - beta);
        const double neg = std::max(0.0, alpha - distance(u, size_t(t[0]), size_t(t[2])) + beta);
        sum += pos + neg;
        active += (pos > 0) + (neg > 0);
    }
    return active ? sum / active : 0.0;
}

Matrix toMatrix(const torch::Tensor &t);

// The context the class-based losses are built with in these tests:
// classes 0-9, the seed of the margin loss's sampler.
LossContext testContext(int64_t dim = 8)
{
    LossContext context;
    for (int64_t c = 0; c < 10; ++c)
        context.classes.push_back(c);
    context.embeddingDim = dim;
    context.seed = 11;
    return context;
}

Matrix parameterOf(Loss &l, const std::string &name)
{
    return toMatrix(l.named_parameters()[name].detach().view({l.named_parameters()[name].size(0), -1}));
}

using Reference = std::function<double(const Matrix &, const std::vector<int64_t> &)>;

Reference referenceFor(const QString &loss, double margin, Loss &l)
{
    if (loss == "proxy-anchor")
        return [&l](const Matrix &x, const std::vector<int64_t> &y) { return proxyAnchorReference(x, y, parameterOf(l, "proxies")); };
    if (loss == "proxy-nca")
        return [&l](const Matrix &x, const std::vector<int64_t> &y) { return proxyNcaReference(x, y, parameterOf(l, "proxies")); };
    if (loss == "normalized-softmax")
        return [&l, margin](const Matrix &x, const std::vector<int64_t> &y) {
            return normalizedSoftmaxReference(x, y, parameterOf(l, "weights"), margin);
        };
    if (loss == "margin")
        return [&l](const Matrix &x, const std::vector<int64_t> &y) {
            // The same draw as the loss's at step 0, on distances computed here.
            Matrix u = normalized(x);
            torch::Tensor d = torch::zeros({int64_t(u.size()), int64_t(u.size())}, torch::kFloat64);
            for (size_t i = 0; i < u.size(); ++i)
                for (size_t j = 0; j < u.size(); ++j)
                    d[int64_t(i)][int64_t(j)] = distance(u, i, j);
            const torch::Tensor t = distanceWeightedTriplets(d, torch::tensor(y), int64_t(x[0].size()), 0.5, 1.4,
                                                             testContext().seed, 0);
            return marginReference(x, toMatrix(t), parameterOf(l, "beta")[0][0]);
        };
    if (loss == "lifted")
        return [=](const Matrix &x, const std::vector<int64_t> &y) { return liftedReference(x, y, margin); };
    if (loss == "contrastive")
        return [=](const Matrix &x, const std::vector<int64_t> &y) { return contrastiveReference(x, y, margin); };
    if (loss == "generalized-lifted")
        return [=](const Matrix &x, const std::vector<int64_t> &y) { return generalizedLiftedReference(x, y, margin); };
    if (loss == "multi-similarity")
        return multiSimilarityReference;
    if (loss == "binomial-deviance")
        return binomialDevianceReference;
    if (loss == "n-pair")
        return nPairReference;
    const std::string miner = loss.section(':', 1).toStdString();
    return [=](const Matrix &x, const std::vector<int64_t> &y) { return tripletReference(x, y, margin, miner); };
}

// "name" or "triplet:miner"; the margin goes to the losses that have one,
// the others run with their defaults.
std::unique_ptr<Loss> makeLoss(const QString &spec, double margin, int64_t dim)
{
    const std::string name = spec.section(':', 0, 0).toStdString();
    ParamValues params;
    for (const ParamSpec &p : findLoss(name).params)
        if (p.name == "margin")
            params["margin"] = std::to_string(margin);
    if (spec.startsWith("triplet"))
        params["miner"] = spec.section(':', 1).toStdString();
    return createLoss(name, params, testContext(dim));
}

Matrix toMatrix(const torch::Tensor &t)
{
    const torch::Tensor c = t.to(torch::kFloat64).contiguous();
    Matrix m(size_t(c.size(0)), std::vector<double>(size_t(c.size(1))));
    for (int64_t i = 0; i < c.size(0); ++i)
        for (int64_t k = 0; k < c.size(1); ++k)
            m[size_t(i)][size_t(k)] = c[i][k].item<double>();
    return m;
}

std::vector<int64_t> toLabels(const torch::Tensor &t)
{
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

torch::Tensor balancedLabels(int classes, int perClass)
{
    return torch::arange(classes, torch::kInt64).repeat_interleave(perClass);
}

// The labels a loss is tested with: N-pair takes exactly two images per
// class, so it gets the same batch size as pairs.
torch::Tensor batchLabels(const QString &loss, int classes, int perClass)
{
    return loss == "n-pair" ? balancedLabels(classes * perClass / 2, 2) : balancedLabels(classes, perClass);
}

void addLossRows()
{
    QTest::addColumn<QString>("loss");
    QTest::addColumn<double>("margin");
    QTest::newRow("lifted") << "lifted" << 1.0;
    QTest::newRow("lifted margin 2") << "lifted" << 2.0;
    QTest::newRow("contrastive") << "contrastive" << 1.0;
    QTest::newRow("triplet all") << "triplet:all" << 0.5;
    QTest::newRow("triplet batch-hard") << "triplet:batch-hard" << 0.5;
    QTest::newRow("triplet semi-hard") << "triplet:semi-hard" << 0.5;
    QTest::newRow("generalized lifted") << "generalized-lifted" << 1.0;
    QTest::newRow("generalized lifted margin 0.2") << "generalized-lifted" << 0.2;
    QTest::newRow("multi-similarity") << "multi-similarity" << 0.0;
    QTest::newRow("binomial deviance") << "binomial-deviance" << 0.0;
    QTest::newRow("n-pair") << "n-pair" << 0.0;
    QTest::newRow("margin") << "margin" << 0.0;
    QTest::newRow("proxy-nca") << "proxy-nca" << 0.0;
    QTest::newRow("proxy-anchor") << "proxy-anchor" << 0.0;
    QTest::newRow("normalized softmax, ArcFace margin") << "normalized-softmax" << 0.2;
    QTest::newRow("normalized softmax, no margin") << "normalized-softmax" << 0.0;
    QTest::newRow("normalized softmax, margin past pi") << "normalized-softmax" << 1.0;
}

// Sets the kernels for a scope, and back to the fast ones after it.
struct KernelsGuard
{
    explicit KernelsGuard(Kernels k) { setKernels(k); }
    ~KernelsGuard() { setKernels(Kernels::Fast); }
};

// What a loss gives for one batch: its value, active fraction, pair terms
// and the gradients of the embeddings and of its own parameters.
struct LossRun
{
    double value = 0, active = 0;
    torch::Tensor pairTerms;
    std::vector<std::pair<std::string, torch::Tensor>> gradients;
};

LossRun runLoss(Loss &l, const torch::Tensor &x, const torch::Tensor &y, Kernels kernels)
{
    const KernelsGuard guard(kernels);
    const torch::Tensor input = x.clone().requires_grad_(true);
    l.zero_grad();
    l.beginStep(3);
    const LossOutput out = l.compute(input, y);
    out.loss.backward();
    LossRun r{out.loss.item<double>(), out.activeFraction, out.pairTerms, {{"x", input.grad().clone()}}};
    for (const auto &p : l.named_parameters())
        r.gradients.push_back({p.key(), p.value().grad().defined() ? p.value().grad().clone() : torch::zeros_like(p.value())});
    return r;
}

// |a - b| <= tolerance * max(1e-3, max |b|), over a tensor.
bool closeTo(const torch::Tensor &a, const torch::Tensor &b, double tolerance)
{
    const double scale = std::max(1e-3, b.abs().max().item<double>());
    const double error = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
    if (error > tolerance * scale)
        qWarning("largest difference %g, largest value %g", error, scale);
    return error <= tolerance * scale;
}

} // namespace

class TestLosses : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { prepareCompute(2); }

    void matchesReference_data()
    {
        addLossRows();
    }

    void matchesReference()
    {
        QFETCH(QString, loss);
        QFETCH(double, margin);
        for (const auto &[classes, perClass, dim, scale] :
             std::vector<std::tuple<int, int, int, double>>{{3, 4, 5, 0.3}, {4, 3, 16, 1.0}, {8, 4, 32, 0.1}}) {
            const auto l = makeLoss(loss, margin, dim);
            const Reference reference = referenceFor(loss, margin, *l);
            torch::manual_seed(classes * 100 + dim);
            const torch::Tensor x = torch::randn({classes * perClass, dim}, torch::kFloat64) * scale;
            const torch::Tensor y = batchLabels(loss, classes, perClass);
            const double expected = reference(toMatrix(x), toLabels(y));
            const double actual64 = l->compute(x, y).loss.item<double>();
            const double actual32 = l->compute(x.to(torch::kFloat32), y).loss.item<double>();
            QVERIFY2(std::abs(actual64 - expected) <= 1e-10 * std::max(1.0, std::abs(expected)),
                     qPrintable(QString("double: %1 vs reference %2").arg(actual64, 0, 'g', 17).arg(expected, 0, 'g', 17)));
            QVERIFY2(std::abs(actual32 - expected) <= 1e-4 * std::max(1.0, std::abs(expected)),
                     qPrintable(QString("float: %1 vs reference %2").arg(actual32).arg(expected)));
        }
    }

    void gradientMatchesFiniteDifferences_data()
    {
        addLossRows();
    }

    void gradientMatchesFiniteDifferences()
    {
        // With respect to the embeddings and to the loss's own parameters
        // (proxies, class weights, beta), all in double precision.
        QFETCH(QString, loss);
        QFETCH(double, margin);
        const auto l = makeLoss(loss, margin, 4);
        l->to(torch::kFloat64);
        torch::manual_seed(7);
        const torch::Tensor y = batchLabels(loss, 3, 4);
        const torch::Tensor x = (torch::randn({12, 4}, torch::kFloat64) * 0.4).requires_grad_(true);
        l->compute(x, y).loss.backward();
        QVERIFY(x.grad().abs().sum().item<double>() > 0);

        std::vector<std::pair<std::string, torch::Tensor>> checked = {{"x", x}};
        for (const auto &p : l->named_parameters())
            checked.push_back({p.key(), p.value()});
        const double eps = 1e-6;
        for (const auto &[name, t] : checked) {
            QVERIFY2(t.grad().defined(), name.c_str());
            const torch::Tensor analytic = t.grad().clone().flatten();
            torch::NoGradGuard noGrad;
            const torch::Tensor values = t.view({-1});
            for (int64_t i = 0; i < values.numel(); ++i) {
                const double v = values[i].item<double>();
                values[i] = v + eps;
                const double plus = l->compute(x, y).loss.item<double>();
                values[i] = v - eps;
                const double minus = l->compute(x, y).loss.item<double>();
                values[i] = v;
                const double numeric = (plus - minus) / (2 * eps);
                const double a = analytic[i].item<double>();
                QVERIFY2(std::abs(a - numeric) <= 1e-6 + 1e-5 * std::abs(numeric),
                         qPrintable(QString("d/d%1[%2]: analytic %3, numeric %4")
                                        .arg(name.c_str()).arg(i).arg(a).arg(numeric)));
            }
        }
    }

    void genericKernelsMatchTheFastOnes_data()
    {
        addLossRows();
    }

    void genericKernelsMatchTheFastOnes()
    {
        // The torch-operation path (any device) against LiftLab's CPU
        // kernels, in double and single precision: the loss, its gradients
        // with respect to the embeddings and to the loss's parameters, the
        // active fraction and the pair terms, to 1e-5 relative.
        QFETCH(QString, loss);
        QFETCH(double, margin);
        for (const auto &[classes, perClass, dim, scale] : std::vector<std::tuple<int, int, int, double>>{
                 {3, 4, 5, 0.3}, {4, 3, 16, 1.0}, {8, 4, 32, 0.1}, {8, 16, 64, 0.2}})
            for (const torch::ScalarType type : {torch::kFloat64, torch::kFloat32}) {
                const QString where = QString("%1 x %2, d = %3, %4").arg(classes).arg(perClass).arg(dim)
                                          .arg(type == torch::kFloat64 ? "double" : "float");
                const auto l = makeLoss(loss, margin, dim);
                l->to(type);
                torch::manual_seed(classes * 100 + dim);
                const torch::Tensor x = torch::randn({classes * perClass, dim}, type) * scale;
                const torch::Tensor y = batchLabels(loss, classes, perClass);
                const LossRun fast = runLoss(*l, x, y, Kernels::Fast);
                const LossRun generic = runLoss(*l, x, y, Kernels::Generic);
                QVERIFY2(std::abs(generic.value - fast.value) <= 1e-5 * std::max(1e-3, std::abs(fast.value)),
                         qPrintable(QString("%1: loss %2 generic, %3 fast").arg(where)
                                        .arg(generic.value, 0, 'g', 10).arg(fast.value, 0, 'g', 10)));
                QVERIFY2(std::abs(generic.active - fast.active) <= 1e-9,
                         qPrintable(QString("%1: active %2 vs %3").arg(where).arg(generic.active).arg(fast.active)));
                QCOMPARE(generic.pairTerms.defined(), fast.pairTerms.defined());
                if (fast.pairTerms.defined())
                    QVERIFY2(closeTo(generic.pairTerms, fast.pairTerms, 1e-5), qPrintable(where + ": pair terms"));
                for (size_t i = 0; i < fast.gradients.size(); ++i)
                    QVERIFY2(closeTo(generic.gradients[i].second, fast.gradients[i].second, 1e-5),
                             qPrintable(where + ": gradient of " + fast.gradients[i].first.c_str()));
            }
    }

    void learningLowersTheLoss_data()
    {
        addLossRows();
    }

    void learningLowersTheLoss()
    {
        QFETCH(QString, loss);
        QFETCH(double, margin);
        const auto l = makeLoss(loss, margin, 8);
        torch::manual_seed(3);
        const torch::Tensor y = batchLabels(loss, 4, 4);
        const torch::Tensor x = (torch::randn({16, 8}) * 0.5).requires_grad_(true);
        torch::optim::Adam optimizer({x}, torch::optim::AdamOptions(0.05));
        const double first = l->compute(x, y).loss.item<double>();
        QVERIFY(first > 0);
        for (int step = 0; step < 30; ++step) {
            optimizer.zero_grad();
            l->compute(x, y).loss.backward();
            optimizer.step();
        }
        const double last = l->compute(x, y).loss.item<double>();
        QVERIFY2(last < 0.5 * first, qPrintable(QString("loss %1 -> %2").arg(first).arg(last)));
    }

    void collapsedEmbeddingGivesFiniteGradients_data()
    {
        addLossRows();
    }

    void collapsedEmbeddingGivesFiniteGradients()
    {
        // D = 0 everywhere: every safe square root must hold.
        QFETCH(QString, loss);
        QFETCH(double, margin);
        for (const Kernels kernels : {Kernels::Fast, Kernels::Generic}) {
            const KernelsGuard guard(kernels);
            const auto l = makeLoss(loss, margin, 6);
            const torch::Tensor x = torch::ones({12, 6}).requires_grad_(true);
            const LossOutput out = l->compute(x, batchLabels(loss, 3, 4));
            out.loss.backward();
            QVERIFY(std::isfinite(out.loss.item<double>()));
            QVERIFY(out.loss.item<double>() > 0);
            QVERIFY(torch::isfinite(x.grad()).all().item<bool>());
        }
    }

    void distanceWeightedSamplingFollowsInverseDensity()
    {
        // Anchor 0 (class 0, one positive) and negatives at known distances:
        // 0.3 is sampled as if at the cut-off 0.5, 1.5 is past the non-zero
        // cut-off 1.4 and never drawn; the others in proportion to 1/q(d).
        const int64_t dim = 16;
        const std::vector<double> at = {0.3, 0.8, 1.0, 1.2, 1.5};
        const int64_t b = 2 + int64_t(at.size());
        torch::Tensor d = torch::ones({b, b}, torch::kFloat64);
        for (size_t k = 0; k < at.size(); ++k)
            d[0][int64_t(k) + 2] = at[k];
        const torch::Tensor y = torch::tensor({0, 0, 1, 2, 3, 4, 5}, torch::kInt64);
        auto inverseDensity = [&](double v) {
            v = std::max(v, 0.5);
            return std::exp((2.0 - dim) * std::log(v) - (dim - 3.0) / 2.0 * std::log(1 - v * v / 4));
        };
        std::vector<double> expected;
        for (double v : at)
            expected.push_back(v < 1.4 ? inverseDensity(v) : 0.0);
        const double total = std::accumulate(expected.begin(), expected.end(), 0.0);

        std::vector<int> counts(at.size(), 0);
        const int draws = 20000;
        for (int i = 0; i < draws; ++i) {
            const torch::Tensor t = distanceWeightedTriplets(d, y, dim, 0.5, 1.4, 1, i);
            QCOMPARE(t.size(0), int64_t(2)); // (0, 1, n) and (1, 0, n)
            QCOMPARE(t[0][0].item<int64_t>(), int64_t(0));
            const int64_t n = t[0][2].item<int64_t>();
            QVERIFY(n >= 2);
            ++counts[size_t(n - 2)];
        }
        for (size_t k = 0; k < at.size(); ++k) {
            const double p = expected[k] / total;
            const double sigma = std::sqrt(draws * p * (1 - p));
            QVERIFY2(std::abs(counts[k] - draws * p) <= 4 * sigma + 1,
                     qPrintable(QString("distance %1: %2 draws, expected %3").arg(at[k]).arg(counts[k]).arg(draws * p)));
        }
        QCOMPARE(counts.back(), 0);

        // All negatives past the cut-off: drawn uniformly instead.
        torch::Tensor far = torch::full({4, 4}, 1.9, torch::kFloat64);
        std::vector<int> farCounts(4, 0);
        for (int i = 0; i < 4000; ++i)
            ++farCounts[size_t(distanceWeightedTriplets(far, torch::tensor({0, 0, 1, 2}), dim, 0.5, 1.4, 2, i)[0][2].item<int64_t>())];
        QCOMPARE(farCounts[0] + farCounts[1], 0);
        QVERIFY(farCounts[2] > 1800 && farCounts[3] > 1800);
    }

    void proxyLossesRejectUnknownLabels()
    {
        const auto l = createLoss("proxy-anchor", {}, testContext(4));
        try {
            l->compute(torch::randn({4, 4}), torch::tensor({0, 0, 12, 12}));
            QFAIL("no error for a label without a proxy");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("label 12"), e.what());
        }
        try {
            createLoss("proxy-nca", {});
            QFAIL("no error without the training classes");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("needs the training classes"), e.what());
        }
    }

    void nPairNeedsTwoImagesPerClass()
    {
        const auto l = createLoss("n-pair", {});
        try {
            l->compute(torch::randn({12, 4}), balancedLabels(3, 4));
            QFAIL("no error for 4 images per class");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("exactly 2 images"), e.what());
        }
    }

    void liftedEdgeCases()
    {
        // Both kernels (util/parallel.h).
        for (const Kernels kernels : {Kernels::Fast, Kernels::Generic}) {
            const KernelsGuard guard(kernels);
            const auto l = createLoss("lifted", {});
            // No positive pair: zero by definition, with a (zero) gradient.
            torch::Tensor x = torch::randn({6, 3}).requires_grad_(true);
            LossOutput out = l->compute(x, torch::arange(6, torch::kInt64));
            QCOMPARE(out.loss.item<double>(), 0.0);
            out.loss.backward();
            QCOMPARE(x.grad().abs().sum().item<double>(), 0.0);
            // One class only (no negatives): every hinge is zero.
            out = l->compute(torch::randn({6, 3}), torch::zeros({6}, torch::kInt64));
            QCOMPARE(out.loss.item<double>(), 0.0);
            // Far-apart classes: all hinges inactive, loss exactly zero.
            const torch::Tensor far = torch::cat({torch::zeros({3, 2}), torch::full({3, 2}, 100.0)});
            out = l->compute(far, balancedLabels(2, 3));
            QCOMPARE(out.loss.item<double>(), 0.0);
            QCOMPARE(out.activeFraction, 0.0);
            // A non-finite embedding gives a NaN loss (the trainer stops on it), never a finite one.
            torch::Tensor broken = torch::randn({8, 4});
            broken[3][1] = INFINITY;
            QVERIFY(std::isnan(l->compute(broken, balancedLabels(2, 4)).loss.item<double>()));
            broken[3][1] = NAN;
            QVERIFY(std::isnan(l->compute(broken.to(torch::kFloat64), balancedLabels(2, 4)).loss.item<double>()));
            // Huge distances do not overflow the log-sum-exp.
            out = l->compute(torch::randn({8, 4}) * 1e6, balancedLabels(2, 4));
            QVERIFY(std::isfinite(out.loss.item<double>()));
        }
    }

    // Batches of 64 and more take the syrk Gram path and the parallel row loops.
    void liftedLargeBatchMatchesReference()
    {
        const auto l = makeLoss("lifted", 1.0, 24);
        const Reference reference = referenceFor("lifted", 1.0, *l);
        for (const int threads : {1, 2}) {
            prepareCompute(threads);
            torch::manual_seed(threads);
            const torch::Tensor x = torch::randn({130, 24}, torch::kFloat64) * 0.2; // 26 classes x 5, odd halves
            const torch::Tensor y = balancedLabels(26, 5);
            const double expected = reference(toMatrix(x), toLabels(y));
            const double actual = l->compute(x, y).loss.item<double>();
            QVERIFY2(std::abs(actual - expected) <= 1e-10 * std::max(1.0, std::abs(expected)),
                     qPrintable(QString("threads %1: %2 vs reference %3").arg(threads).arg(actual, 0, 'g', 17).arg(expected, 0, 'g', 17)));
        }
        prepareCompute(2);
    }

    void liftedGradientFollowsTheUpstreamScale()
    {
        const auto l = createLoss("lifted", {});
        torch::manual_seed(5);
        const torch::Tensor base = torch::randn({12, 4}, torch::kFloat64) * 0.3;
        const torch::Tensor y = balancedLabels(3, 4);
        torch::Tensor x1 = base.clone().requires_grad_(true);
        l->compute(x1, y).loss.backward();
        torch::Tensor x3 = base.clone().requires_grad_(true);
        (3 * l->compute(x3, y).loss).backward();
        QVERIFY(x1.grad().abs().sum().item<double>() > 0);
        QVERIFY(torch::allclose(x3.grad(), 3 * x1.grad(), 1e-12, 1e-14));
    }

    void gramMatchesTheProduct()
    {
        for (const int threads : {1, 2})
            for (const auto type : {torch::kFloat32, torch::kFloat64})
                for (const auto &[n, k] : std::vector<std::pair<int, int>>{{1, 3}, {63, 7}, {64, 1}, {65, 130}, {257, 33}}) {
                    prepareCompute(threads);
                    torch::manual_seed(n * 1000 + k);
                    const torch::Tensor x = torch::randn({n, k}, type);
                    const torch::Tensor g = gram(x);
                    const torch::Tensor expected = torch::mm(x.to(torch::kFloat64), x.to(torch::kFloat64).t());
                    QCOMPARE(g.sizes(), expected.sizes());
                    QVERIFY(torch::equal(g, g.t()));
                    const double tolerance = type == torch::kFloat32 ? 1e-4 : 1e-12;
                    QVERIFY2(torch::allclose(g.to(torch::kFloat64), expected, tolerance, tolerance * k),
                             qPrintable(QString("n %1 k %2 threads %3").arg(n).arg(k).arg(threads)));
                }
        prepareCompute(2);
    }

    void liftedPairTermsAreTheJs()
    {
        const auto l = createLoss("lifted", {});
        torch::manual_seed(11);
        const torch::Tensor x = torch::randn({6, 3}, torch::kFloat64) * 0.3;
        const torch::Tensor y = balancedLabels(2, 3);
        const LossOutput out = l->compute(x, y);
        const Matrix m = toMatrix(x);
        // J_01 by hand.
        double negatives = 0;
        for (size_t k = 3; k < 6; ++k)
            negatives += std::exp(1.0 - distance(m, 0, k)) + std::exp(1.0 - distance(m, 1, k));
        const double j01 = std::log(negatives) + distance(m, 0, 1);
        QVERIFY(std::abs(out.pairTerms[0][1].item<double>() - j01) < 1e-10);
        QCOMPARE(out.pairTerms[1][0].item<double>(), out.pairTerms[0][1].item<double>());
        QCOMPARE(out.pairTerms[0][3].item<double>(), 0.0); // a negative pair has no J
    }

    void registryRejectsBadInput_data()
    {
        QTest::addColumn<QString>("loss");
        QTest::addColumn<QString>("param");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("message");
        QTest::newRow("unknown loss") << "nope" << "" << "" << "unknown loss 'nope'";
        QTest::newRow("unknown parameter") << "lifted" << "alpha" << "1" << "has no parameter 'alpha'";
        QTest::newRow("not a number") << "lifted" << "margin" << "abc" << "is not a number";
        QTest::newRow("out of range") << "contrastive" << "margin" << "-1" << "outside";
        QTest::newRow("bad choice") << "triplet" << "miner" << "hardest" << "is not one of";
    }

    void registryRejectsBadInput()
    {
        QFETCH(QString, loss);
        QFETCH(QString, param);
        QFETCH(QString, value);
        QFETCH(QString, message);
        ParamValues params;
        if (!param.isEmpty())
            params[param.toStdString()] = value.toStdString();
        try {
            createLoss(loss.toStdString(), params);
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains(message), e.what());
        }
    }

    void registryDescribesEveryParameter()
    {
        QVERIFY(lossRegistry().size() >= 3);
        for (const LossInfo &info : lossRegistry()) {
            QVERIFY(!info.title.empty() && !info.description.empty());
            // The defaults must pass the registry's own checks.
            QVERIFY(info.create(resolveParams(info, {}), testContext()) != nullptr);
            int tunable = 0;
            for (const ParamSpec &p : info.params) {
                QVERIFY(!p.help.empty());
                // A tuning draws inside the range the loss accepts.
                if (p.tunable()) {
                    ++tunable;
                    QVERIFY2(p.minimum <= p.tuneLow && p.tuneHigh <= p.maximum, (info.name + " " + p.name).c_str());
                }
            }
            // Every loss has a margin or a scale to tune, as the learning rate.
            QVERIFY2(tunable > 0, info.name.c_str());
        }
    }
};

QTEST_GUILESS_MAIN(TestLosses)
#include "test_losses.moc"
