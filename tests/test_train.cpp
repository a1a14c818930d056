// The trainer end to end on a small synthetic dataset: the run directory,
// exact resume, cancellation, NaN detection, and bad experiments that must
// leave nothing behind; the batches made ahead on a worker thread.
#include "data/dataset.h"
#include "error.h"
#include "data/sampler.h"
#include "eval/evaluate.h"
#include "train/checkpoint.h"
#include "train/comparison.h"
#include "train/comparisonrun.h"
#include "train/divergence.h"
#include "train/prefetcher.h"
#include "train/rundirectory.h"
#include "train/trainer.h"
#include "train/tuning.h"
#include "util/parallel.h"
#include "util/version.h"

#include "testdata.h"

#include <torch/torch.h>

#include <QCoreApplication>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

#include <chrono>
#include <random>
#include <set>
#include <csignal>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include <sys/resource.h>

using namespace liftlab;
using liftlab::testing::TempDir;

namespace fs = std::filesystem;

class TestTrain : public QObject
{
    Q_OBJECT

    TempDir m_dir;
    std::string m_data;

    ExperimentConfig tinyConfig(int64_t iterations) const
    {
        ExperimentConfig c;
        c.dataset = m_data;
        c.split = "seen";
        c.classesPerBatch = 4;
        c.perClass = 4;
        c.iterations = iterations;
        c.checkpointEvery = 10;
        c.evalEvery = 0;
        c.threads = 2;
        c.learningRate = 3e-3;
        return c;
    }

    static std::vector<torch::Tensor> weights(const std::string &run)
    {
        const EmbeddingNet model = loadRunModel(RunDirectory::open(run), 1);
        std::vector<torch::Tensor> out;
        for (const auto &p : model->named_parameters())
            out.push_back(p.value().clone());
        for (const auto &b : model->named_buffers())
            out.push_back(b.value().clone());
        return out;
    }

private Q_SLOTS:
    void initTestCase()
    {
        m_data = m_dir.file("data");
        liftlab::testing::writeSyntheticIdx(m_data, 10, 30, 10);
    }

    void trainsAndWritesRunDirectory()
    {
        ExperimentConfig c = tinyConfig(40);
        c.evalEvery = 20;
        const std::string run = m_dir.file("run-basic");
        auto trainer = Trainer::start(c, run);
        std::vector<TrainingStep> steps;
        std::vector<EvalReport> evals;
        Trainer::Callbacks cb;
        cb.onStep = [&](const TrainingStep &s) { steps.push_back(s); };
        cb.onEval = [&](const EvalReport &r) { evals.push_back(r); };
        std::atomic<bool> cancel{false};
        QCOMPARE(trainer->run(cb, cancel), Trainer::Outcome::Finished);

        QCOMPARE(int(steps.size()), 40);
        QCOMPARE(steps.back().step, int64_t(40));
        QVERIFY(steps.back().imagesPerSec > 0);
        QVERIFY(steps.front().activeFraction > 0 && steps.front().activeFraction <= 1);
        QCOMPARE(int(evals.size()), 2);
        QCOMPARE(evals[0].step, int64_t(20));
        // Learning shows: far above chance (0.1) on ten easy classes.
        QVERIFY2(evals.back().metrics.recallAt1 > 0.6, qPrintable(QString::number(evals.back().metrics.recallAt1)));

        for (const char *file : {"config.json", "metrics.jsonl", "eval.jsonl", "summary.json", "checkpoints/last.pt"})
            QVERIFY2(fs::exists(fs::path(run) / file), file);
        const RunDirectory dir = RunDirectory::open(run);
        QCOMPARE(dir.config().iterations, int64_t(40));
        { // which LiftLab made the run
            std::ifstream in(dir.files().config());
            const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            const QJsonObject json = QJsonDocument::fromJson(QByteArray::fromStdString(text)).object();
            QCOMPARE(json.value(QStringLiteral("liftlab_version")).toString(), QString::fromLatin1(version()));
        }
        QCOMPARE(dir.config().dataset, m_data);
        const auto stored = RunDirectory::readSteps(dir.files().metrics());
        QCOMPARE(int(stored.size()), 40);
        QCOMPARE(stored[5].step, int64_t(6));
        QCOMPARE(stored[5].loss, steps[5].loss);
        const auto storedEvals = RunDirectory::readEvals(dir.files().evals());
        QCOMPARE(int(storedEvals.size()), 2);
        QCOMPARE(storedEvals[1].metrics.recallAt1, evals[1].metrics.recallAt1);
    }

    void embeddingRetentionKeepsFirstLastAndEveryMth()
    {
        std::vector<int64_t> steps;
        for (int64_t s = 10; s <= 200; s += 10)
            steps.push_back(s); // 20 evaluations
        // The first, every 5th (the 5th, 10th, 15th, 20th) and the last 3.
        QCOMPARE(retainedEmbeddingSteps(steps, 3, 5), (std::vector<int64_t>{10, 50, 100, 150, 180, 190, 200}));
        QCOMPARE(retainedEmbeddingSteps(steps, 3, 0), (std::vector<int64_t>{10, 180, 190, 200}));
        QCOMPARE(retainedEmbeddingSteps(steps, 0, 5), steps); // 0: keep all
        QCOMPARE(retainedEmbeddingSteps({10, 20}, 1, 0), (std::vector<int64_t>{10, 20}));
        QCOMPARE(retainedEmbeddingSteps({}, 3, 5), std::vector<int64_t>{});

        // A run with 8 evaluations (steps 5..40), keeping the last 2 and every 3rd:
        // 5 (first), 15 and 30 (3rd, 6th), 35 and 40 (last 2). The others are
        // deleted as training goes and listed in embeddings/retention.json;
        // eval.jsonl keeps every evaluation's metrics.
        ExperimentConfig c = tinyConfig(40);
        c.evalEvery = 5;
        c.keepLastEmbeddings = 2;
        c.keepEveryEmbedding = 3;
        const std::string run = m_dir.file("run-retention");
        auto trainer = Trainer::start(c, run);
        std::atomic<bool> cancel{false};
        QCOMPARE(trainer->run({}, cancel), Trainer::Outcome::Finished);
        const RunFiles files(run);
        QCOMPARE(files.embeddingSteps(), (std::vector<int64_t>{5, 15, 30, 35, 40}));
        QCOMPARE(int(RunDirectory::readEvals(files.evals()).size()), 8);
        std::ifstream in(files.retention());
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const QJsonObject json = QJsonDocument::fromJson(QByteArray::fromStdString(text)).object();
        QCOMPARE(json.value(QStringLiteral("keep_last")).toInt(), 2);
        QCOMPARE(json.value(QStringLiteral("keep_every")).toInt(), 3);
        QCOMPARE(json.value(QStringLiteral("dropped")).toArray(), (QJsonArray{10, 20, 25}));
    }

    void resumeContinuesExactly_data()
    {
        QTest::addColumn<QString>("loss");
        QTest::newRow("lifted") << "lifted";
        // Learned proxies and their optimizer state come back from the checkpoint.
        QTest::newRow("proxy-anchor") << "proxy-anchor";
        // A learned beta, and negatives drawn by the step's generator.
        QTest::newRow("margin") << "margin";
        // The paper's pair batches come back with the step.
        QTest::newRow("lifted, pair sampler") << "lifted:pairs";
    }

    void resumeContinuesExactly()
    {
        QFETCH(QString, loss);
        ExperimentConfig config = tinyConfig(20);
        config.loss = loss.section(':', 0, 0).toStdString();
        if (loss.endsWith(":pairs")) {
            config.sampler = "pairs";
            config.pairs = 5;
            config.randomImages = 6;
        }
        const std::string straight = m_dir.file("run-straight-" + loss.toStdString());
        const std::string resumed = m_dir.file("run-resumed-" + loss.toStdString());
        std::atomic<bool> cancel{false};
        Trainer::start(config, straight)->run({}, cancel);

        {
            auto trainer = Trainer::start(config, resumed);
            Trainer::Callbacks cb;
            cb.onStep = [&](const TrainingStep &s) {
                if (s.step == 7)
                    cancel = true;
            };
            QCOMPARE(trainer->run(cb, cancel), Trainer::Outcome::Cancelled);
            QCOMPARE(trainer->step(), int64_t(7));
        }
        cancel = false;
        auto trainer = Trainer::resume(resumed);
        QCOMPARE(trainer->step(), int64_t(7));
        QCOMPARE(trainer->run({}, cancel), Trainer::Outcome::Finished);

        const auto a = weights(straight), b = weights(resumed);
        QCOMPARE(a.size(), b.size());
        for (size_t i = 0; i < a.size(); ++i)
            QVERIFY2(torch::equal(a[i], b[i]), qPrintable(QString("tensor %1 differs").arg(i)));
        const auto steps = RunDirectory::readSteps(RunDirectory::open(resumed).files().metrics());
        QCOMPARE(int(steps.size()), 20); // each step once
        const auto reference = RunDirectory::readSteps(RunDirectory::open(straight).files().metrics());
        for (size_t i = 0; i < steps.size(); ++i) {
            QCOMPARE(steps[i].step, int64_t(i + 1));
            QCOMPARE(steps[i].loss, reference[i].loss);
        }
    }

    void genericKernelsTrainAsTheFastOnes_data()
    {
        QTest::addColumn<QString>("loss");
        QTest::newRow("lifted") << "lifted";
        QTest::newRow("multi-similarity") << "multi-similarity";
        QTest::newRow("proxy-anchor") << "proxy-anchor";
        QTest::newRow("margin") << "margin";
    }

    // A run with --kernels generic (torch operations only, as on a GPU)
    // follows the fast kernels' run. Step 1 sees the same weights and batch,
    // so its loss agrees to float rounding; after that the rounding
    // differences feed back through the optimizer and grow (by step 6 to
    // ~5e-4 for lifted, and the margin loss's sampler flips a triplet at a
    // distance threshold), so only the first three steps are held to 1e-4.
    // The generic run's evaluation (its kNN on the generic path) must give
    // the metrics that the fast kernels give for the same network.
    void genericKernelsTrainAsTheFastOnes()
    {
        QFETCH(QString, loss);
        ExperimentConfig config = tinyConfig(10);
        config.loss = loss.toStdString();
        std::atomic<bool> cancel{false};
        const std::string fast = m_dir.file("run-fast-" + config.loss), generic = m_dir.file("run-generic-" + config.loss);
        Trainer::start(config, fast)->run({}, cancel);
        config.kernels = "generic";
        Trainer::start(config, generic)->run({}, cancel);
        setKernels(Kernels::Fast);

        QCOMPARE(RunDirectory::open(generic).config().kernels, std::string("generic"));
        const auto a = RunDirectory::readSteps(RunFiles(fast).metrics()), b = RunDirectory::readSteps(RunFiles(generic).metrics());
        QCOMPARE(a.size(), b.size());
        for (size_t i = 0; i < 3; ++i)
            QVERIFY2(std::abs(a[i].loss - b[i].loss) <= (i == 0 ? 1e-5 : 1e-4) * std::abs(a[i].loss),
                     qPrintable(QString("step %1: %2 fast, %3 generic").arg(i + 1).arg(a[i].loss, 0, 'g', 9).arg(b[i].loss, 0, 'g', 9)));
        const auto evals = RunDirectory::readEvals(RunFiles(generic).evals());
        QCOMPARE(evals.size(), size_t(1));
        const ExperimentData data = loadExperimentData(config, {});
        const EmbeddingNet model = loadRunModel(RunDirectory::open(generic), data.train.images.channels());
        const Metrics m = evaluateEmbeddings(embedDataset(*model, data.test, data.normalization), data.test.labels, config.seed);
        QCOMPARE(evals[0].metrics.recallAt1, m.recallAt1);
        QVERIFY(std::abs(evals[0].metrics.mapAtR - m.mapAtR) < 1e-6);
        QVERIFY(std::abs(evals[0].metrics.nmi - m.nmi) < 1e-6);
    }

    void confidenceIntervalAgainstAHandComputation()
    {
        // {0.5, 0.6, 0.7}: mean 0.6, s = 0.1, t(0.975, 2) = 4.3027 -> 4.3027 * 0.1 / sqrt(3).
        Interval i = confidenceInterval({0.5, 0.6, 0.7});
        QVERIFY(std::abs(i.mean - 0.6) < 1e-12);
        QVERIFY(std::abs(i.halfWidth - 0.248417) < 1e-5);
        // {1, 2, 3, 4, 5}: s = sqrt(2.5), t(0.975, 4) = 2.7764 -> 1.96327.
        i = confidenceInterval({1, 2, 3, 4, 5});
        QVERIFY(std::abs(i.mean - 3) < 1e-12);
        QVERIFY(std::abs(i.halfWidth - 1.96324) < 1e-4);
        QVERIFY(std::abs(i.low() - (3 - i.halfWidth)) < 1e-12);
        // Identical values: no spread; one value: no interval at all.
        QCOMPARE(confidenceInterval({0.25, 0.25, 0.25}).halfWidth, 0.0);
        QVERIFY(std::isnan(confidenceInterval({0.7}).halfWidth));
        // The quantile: tables for small df, the expansion beyond 30 (R's qt(0.975, df)).
        QCOMPARE(studentT975(1), 12.7062);
        QCOMPARE(studentT975(30), 2.0423);
        for (const auto &[df, expected] : std::vector<std::pair<int, double>>{{31, 2.039513}, {40, 2.021075}, {60, 2.000298}, {120, 1.979930}, {1000, 1.962339}})
            QVERIFY2(std::abs(studentT975(df) - expected) < 1e-4, qPrintable(QString("df %1: %2").arg(df).arg(studentT975(df))));
    }

    void seedsSummaryMarksTies()
    {
        // Three losses over three seeds, results given by hand: a (0.80, 0.82,
        // 0.84) is best; b's interval (0.78, 0.81, 0.84) reaches a's; c
        // (0.60, 0.61, 0.62) does not.
        const Comparison comparison = Comparison::create(m_dir.file("ties"), tinyConfig(5), parseLossList("lifted,contrastive,triplet"), 3);
        QCOMPARE(comparison.runCount(), size_t(9));
        const double recall[3][3] = {{0.80, 0.82, 0.84}, {0.78, 0.81, 0.84}, {0.60, 0.61, 0.62}};
        std::vector<ComparisonRow> rows;
        for (size_t r = 0; r < comparison.runCount(); ++r) {
            ComparisonRow row;
            row.loss = comparison.losses()[comparison.lossIndex(r)].label;
            row.step = 5;
            row.metrics.recallAt1 = recall[comparison.lossIndex(r)][comparison.seedIndex(r)];
            rows.push_back(row);
        }
        std::swap(rows[0], rows[2]); // rows of any order
        const std::vector<ComparisonSummary> s = summarizeSeeds(comparison, rows);
        QCOMPARE(s.size(), size_t(3));
        QCOMPARE(s[0].loss, std::string("lifted"));
        QVERIFY(s[0].best && !s[0].tied);
        QCOMPARE(s[1].loss, std::string("contrastive"));
        QVERIFY(!s[1].best && s[1].tied);
        QCOMPARE(s[2].loss, std::string("triplet"));
        QVERIFY(!s[2].best && !s[2].tied);
        QCOMPARE(s[0].runs, 3);
        QVERIFY(std::abs(s[2].recallAt1.mean - 0.61) < 1e-12);
        const std::string table = summaryTable(s);
        QVERIFY2(table.find("0.8200 +- 0.0497") != std::string::npos, table.c_str()); // 4.3027 * 0.02 / sqrt(3)
        QVERIFY(table.find("tied") != std::string::npos);
        // One seed: no intervals, so nothing is tied.
        rows.resize(3);
        for (ComparisonRow &row : rows)
            row.metrics.recallAt1 = 0.5;
        for (const ComparisonSummary &x : summarizeSeeds(comparison, rows))
            QVERIFY(!x.tied);
    }

    void validationClassesAreHeldOutOfTrainingAndTest()
    {
        // Zero-shot: classes 0-4 train, 5-9 test. Holding out 40% of the
        // training classes leaves 3 to train on and 2 to validate on.
        ExperimentConfig c = tinyConfig(4);
        c.split = "zero-shot";
        c.classesPerBatch = 2;
        c.validationFraction = 0.4;
        std::set<std::vector<int64_t>> heldOutSets;
        for (uint64_t seed = 0; seed < 6; ++seed) {
            c.validationSeed = seed;
            const ExperimentData data = loadExperimentData(c, {});
            const std::vector<int64_t> train = data.train.classesPresent(), validation = data.test.classesPresent();
            QCOMPARE(validation, validationClasses({0, 1, 2, 3, 4}, 0.4, seed));
            QCOMPARE(train.size(), size_t(3));
            QCOMPARE(validation.size(), size_t(2));
            for (const int64_t v : validation) {
                QVERIFY(v >= 0 && v <= 4); // a training class of the split, never a test class
                QVERIFY(std::find(train.begin(), train.end(), v) == train.end());
            }
            for (const int64_t t : train)
                QVERIFY(t >= 0 && t <= 4);
            // Every image of the validation classes, none of the test file.
            QCOMPARE(data.test.size(), int64_t(2 * 30));
            // The labels a sampler is checked against are the same training images.
            const torch::Tensor labels = data.train.labels.contiguous();
            QCOMPARE(trainingLabels(c), std::vector<int64_t>(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel()));
            heldOutSets.insert(validation);
        }
        QVERIFY(heldOutSets.size() > 1); // the seed chooses
        // Too few classes on either side is refused with the counts.
        c.validationFraction = 0.2;
        QVERIFY_THROWS_EXCEPTION(Error, loadExperimentData(c, {}));

        // A tuning: every trial trains on the training classes left after the
        // validation classes, all trials validate on the same classes, and the
        // comparison that follows trains on all training classes.
        ExperimentConfig base = tinyConfig(8);
        base.split = "zero-shot";
        base.classesPerBatch = 2;
        TuningPlan plan;
        plan.trials = 3;
        plan.validationFraction = 0.4;
        const Tuning tuning = Tuning::create(m_dir.file("tuning-split"), base, parseLossList("lifted,contrastive"), plan, 1);
        const std::vector<int64_t> held = validationClasses({0, 1, 2, 3, 4}, 0.4, base.seed);
        for (size_t l = 0; l < 2; ++l)
            for (int t = 0; t < plan.trials; ++t) {
                const ExperimentData data = loadExperimentData(tuning.trialConfig(l, t), {});
                QCOMPARE(data.test.classesPresent(), held);
                for (const int64_t k : data.train.classesPresent())
                    QVERIFY(k <= 4 && std::find(held.begin(), held.end(), k) == held.end());
            }
    }

    void successiveHalvingKeepsTheBestTrials()
    {
        QCOMPARE(halvingBudgets(16, 800, 2), (std::vector<int64_t>{100, 200, 400, 800}));
        QCOMPARE(halvingBudgets(16, 800, 4), (std::vector<int64_t>{200, 800}));
        QCOMPARE(halvingBudgets(27, 810, 3), (std::vector<int64_t>{90, 270, 810}));
        QCOMPARE(halvingBudgets(2, 50, 2), (std::vector<int64_t>{50}));
        QVERIFY_THROWS_EXCEPTION(Error, halvingBudgets(16, 5, 2));
        QVERIFY_THROWS_EXCEPTION(Error, halvingBudgets(1, 100, 2));

        // A synthetic objective: each trial has a true quality; what a rung
        // sees is that quality plus noise that shrinks with the budget, as
        // short runs are noisy estimates of long ones. Trial 5 is the best,
        // 11 second; one trial diverges (NaN).
        const int trials = 20;
        std::mt19937_64 engine(7);
        std::vector<double> quality(trials);
        for (int t = 0; t < trials; ++t)
            quality[size_t(t)] = 0.3 + 0.02 * double((t * 7) % trials) / 2; // distinct, 0.01 apart
        quality[5] = 0.9;
        quality[11] = 0.85;
        const std::vector<int64_t> budgets = halvingBudgets(trials, 160, 2);
        QCOMPARE(budgets, (std::vector<int64_t>{10, 20, 40, 80, 160}));
        std::map<int, std::vector<int64_t>> trained;
        auto score = [&](int t, int64_t budget) -> std::optional<double> {
            trained[t].push_back(budget);
            if (t == 3)
                return std::numeric_limits<double>::quiet_NaN();
            const double noise = double(int64_t(engine() % 1001) - 500) / 500 * 0.04 / std::sqrt(double(budget) / 10);
            return quality[size_t(t)] + noise;
        };
        const HalvingOutcome outcome = successiveHalving(trials, budgets, 2, score);
        QCOMPARE(outcome.best, 5);
        QCOMPARE(outcome.rungs.size(), size_t(5));
        const size_t sizes[] = {20, 10, 5, 3, 2};
        for (size_t r = 0; r < outcome.rungs.size(); ++r) {
            const HalvingRung &rung = outcome.rungs[r];
            QCOMPARE(rung.budget, budgets[r]);
            QCOMPARE(rung.trials.size(), sizes[r]);
            for (size_t i = 1; i < rung.scores.size(); ++i) // best first, NaN last
                QVERIFY(std::isnan(rung.scores[i]) || rung.scores[i - 1] >= rung.scores[i]);
            if (r > 0) { // exactly the best half of the previous rung went on
                const HalvingRung &before = outcome.rungs[r - 1];
                std::vector<int> kept(before.trials.begin(), before.trials.begin() + long(rung.trials.size()));
                std::vector<int> now = rung.trials;
                std::sort(kept.begin(), kept.end());
                std::sort(now.begin(), now.end());
                QCOMPARE(now, kept);
            }
        }
        QVERIFY(std::isnan(outcome.rungs[0].scores.back()) && outcome.rungs[0].trials.back() == 3);
        // Both good trials reach the last rung; most trials got the smallest budget only.
        QCOMPARE(outcome.rungs.back().trials, (std::vector<int>{5, 11}));
        QCOMPARE(trained[5], budgets);
        QCOMPARE(trained[3], std::vector<int64_t>{10});
        int64_t total = 0;
        for (const auto &[t, b] : trained)
            total += int64_t(b.size());
        QCOMPARE(total, int64_t(20 + 10 + 5 + 3 + 2));
        // Cancelled: no choice.
        QCOMPARE(successiveHalving(trials, budgets, 2, [](int, int64_t) { return std::optional<double>(); }).best, -1);
    }

    void aTuningCutShortAndResumedChoosesTheSame()
    {
        ExperimentConfig base = tinyConfig(8);
        TuningPlan plan;
        plan.trials = 4;
        plan.validationFraction = 0.3; // 3 of the 10 classes
        const std::vector<LossChoice> losses = parseLossList("lifted,triplet:miner=semi-hard");
        const Tuning whole = Tuning::create(m_dir.file("tune-whole"), base, losses, plan, 2);
        QCOMPARE(whole.budgets(), (std::vector<int64_t>{4, 8}));
        std::vector<TrialResult> scoredWhole;
        TuningRun::Callbacks callbacks;
        callbacks.trialScored = [&](const TrialResult &r) { scoredWhole.push_back(r); };
        std::atomic<bool> cancel{false};
        const std::optional<Comparison> test = TuningRun::run(whole, callbacks, cancel);
        QVERIFY(test.has_value());
        QCOMPARE(int(scoredWhole.size()), 2 * (4 + 2));
        const std::map<size_t, int> chosen = tunedTrials(whole);
        QCOMPARE(chosen.size(), size_t(2));
        // The tuned comparison: each loss with its chosen setting, on the test
        // set (no validation split), with both seeds.
        QCOMPARE(test->runCount(), size_t(4));
        for (size_t r = 0; r < test->runCount(); ++r) {
            const size_t l = test->lossIndex(r);
            const ExperimentConfig config = test->config(r);
            const TrialSetting &setting = whole.trials(l)[size_t(chosen.at(l))];
            QCOMPARE(config.learningRate, setting.at("lr"));
            QCOMPARE(std::stod(config.lossParams.at("margin")), setting.at("margin"));
            QCOMPARE(config.validationFraction, 0.0);
            QCOMPARE(config.iterations, base.iterations);
        }
        QCOMPARE(test->losses()[1].params.at("miner"), std::string("semi-hard")); // the loss's own parameter kept

        // The same tuning, stopped in the middle of trials three times (each
        // time a few steps into the next trial), then resumed to its end.
        const Tuning cut = Tuning::create(m_dir.file("tune-cut"), base, losses, plan, 2);
        for (int stops = 0;; ++stops) {
            const Tuning reopened = Tuning::open(m_dir.file("tune-cut"));
            std::atomic<bool> stop{false};
            int steps = 0;
            TuningRun::Callbacks cb;
            if (stops < 3)
                cb.trainer.onStep = [&](const TrainingStep &) { stop.store(++steps == 6); };
            const std::optional<Comparison> c = TuningRun::run(reopened, cb, stop);
            if (c) {
                QCOMPARE(stops, 3);
                break;
            }
        }
        QCOMPARE(tunedTrials(Tuning::open(m_dir.file("tune-cut"))), chosen);
        // Every trial's validation result is what the uninterrupted tuning had.
        const std::vector<TrialResult> resumed = tuningResults(Tuning::open(m_dir.file("tune-cut")));
        const std::vector<TrialResult> uninterrupted = tuningResults(whole);
        QCOMPARE(resumed.size(), uninterrupted.size());
        for (size_t i = 0; i < resumed.size(); ++i) {
            QCOMPARE(resumed[i].step, uninterrupted[i].step);
            QCOMPARE(resumed[i].metrics.recallAt1, uninterrupted[i].metrics.recallAt1);
            QCOMPARE(resumed[i].metrics.mapAtR, uninterrupted[i].metrics.mapAtR);
        }
    }

    void sweepsAndOverrides()
    {
        const Sweep sweep = parseSweep("embedding-dim=16,32");
        QCOMPARE(sweep.field, std::string("embedding_dim"));
        const std::vector<LossChoice> choices = sweepChoices(parseLossList("lifted,contrastive"), sweep);
        QCOMPARE(choices.size(), size_t(4));
        QCOMPARE(choices[1].label, std::string("lifted @ embedding-dim 32"));
        const Comparison c = Comparison::create(m_dir.file("sweep"), tinyConfig(4), choices, 1, sweep.field);
        const Comparison reopened = Comparison::open(c.folder());
        QCOMPARE(reopened.sweep(), std::string("embedding_dim"));
        QCOMPARE(reopened.config(3).embeddingDim, int64_t(32));
        QCOMPARE(reopened.config(2).embeddingDim, int64_t(16));
        QCOMPARE(reopened.sweepValue(1), 32.0);
        QCOMPARE(reopened.sweepSeries(3), std::string("contrastive"));
        for (const char *bad : {"embedding-dim", "seed=1,2", "lr=0.1", "P=4,x", "K=4,4"})
            QVERIFY_THROWS_EXCEPTION(Error, parseSweep(bad));
        // An override the experiment rejects, or one that would change the data.
        QVERIFY_THROWS_EXCEPTION(Error, withOverrides(tinyConfig(4), {{"embedding_dim", 1}}));
        QVERIFY_THROWS_EXCEPTION(Error, withOverrides(tinyConfig(4), {{"image_size", 64}}));
    }

    void aComparisonTrainsEveryLossWithEverySeed()
    {
        const Comparison comparison = Comparison::create(m_dir.file("seeds"), tinyConfig(4), parseLossList("lifted,contrastive"), 2);
        std::atomic<bool> cancel{false};
        const auto runs = ComparisonRun::start(comparison);
        QCOMPARE(runs->size(), size_t(4));
        QCOMPARE(runs->run(std::vector<Trainer::Callbacks>(4), {}, cancel, 0), ComparisonRun::Outcome::Finished);
        const Comparison reopened = Comparison::open(m_dir.file("seeds"));
        QCOMPARE(reopened.seeds(), 2);
        std::vector<double> firstLoss;
        for (size_t r = 0; r < 4; ++r) {
            const RunDirectory run = RunDirectory::open(reopened.runPath(r));
            QCOMPARE(run.config().loss, r % 2 ? std::string("contrastive") : std::string("lifted"));
            QCOMPARE(run.config().seed, tinyConfig(4).seed + r / 2);
            QCOMPARE(RunDirectory::readEvals(run.files().evals()).size(), size_t(1));
            firstLoss.push_back(RunDirectory::readSteps(run.files().metrics()).front().loss);
        }
        QVERIFY(firstLoss[0] != firstLoss[2]); // another seed: other weights and batches
        QVERIFY(fs::path(reopened.runPath(3)).filename() == "02-contrastive-seed1");
        QFile markdown(QString::fromStdString(reopened.resultsPath(Comparison::Results::Markdown)));
        QVERIFY(markdown.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(markdown.readAll());
        QVERIFY2(text.contains(QStringLiteral("±")) && text.contains(QStringLiteral("| lifted | 2 |")), qPrintable(text));
    }

    void interleavedRunsMatchRunsAlone()
    {
        // A comparison advances its runs a few steps at a time, each in turn:
        // every run must end exactly as if it had trained alone.
        std::atomic<bool> cancel{false};
        ExperimentConfig lifted = tinyConfig(12), contrastive = tinyConfig(12);
        contrastive.loss = "contrastive";
        Trainer::start(lifted, m_dir.file("alone-lifted"))->run({}, cancel);
        Trainer::start(contrastive, m_dir.file("alone-contrastive"))->run({}, cancel);

        std::vector<std::unique_ptr<Trainer>> trainers;
        trainers.push_back(Trainer::start(lifted, m_dir.file("turns-lifted")));
        trainers.push_back(Trainer::start(contrastive, m_dir.file("turns-contrastive")));
        // Snapshots by step count come at the same steps, of the same batches.
        std::vector<std::vector<std::pair<int64_t, std::vector<int64_t>>>> snapshots(trainers.size());
        for (int64_t until = 5;; until += 5) {
            bool done = true;
            for (size_t i = 0; i < trainers.size(); ++i) {
                auto &t = trainers[i];
                Trainer::Callbacks cb;
                cb.snapshotEvery = 4;
                cb.onSnapshot = [&, i](const DistanceSnapshot &s) { snapshots[i].push_back({s.step, s.indices}); };
                const Trainer::Outcome outcome = t->run(cb, cancel, until);
                QCOMPARE(outcome, until < 12 ? Trainer::Outcome::Reached : Trainer::Outcome::Finished);
                QCOMPARE(t->step(), std::min<int64_t>(until, 12));
                done = done && outcome == Trainer::Outcome::Finished;
            }
            if (done)
                break;
        }
        QCOMPARE(int(snapshots[0].size()), 4); // steps 4, 8, 10 (checkpoint), 12
        QCOMPARE(snapshots[0], snapshots[1]);
        for (const char *name : {"lifted", "contrastive"}) {
            const std::string alone = m_dir.file(std::string("alone-") + name), turns = m_dir.file(std::string("turns-") + name);
            const auto a = weights(alone), b = weights(turns);
            for (size_t i = 0; i < a.size(); ++i)
                QVERIFY2(torch::equal(a[i], b[i]), qPrintable(QString("%1: tensor %2 differs").arg(name).arg(i)));
            const auto x = RunDirectory::readSteps(RunDirectory::open(alone).files().metrics());
            const auto y = RunDirectory::readSteps(RunDirectory::open(turns).files().metrics());
            QCOMPARE(x.size(), y.size());
            for (size_t i = 0; i < x.size(); ++i)
                QCOMPARE(x[i].loss, y[i].loss);
            QVERIFY(fs::exists(fs::path(turns) / "summary.json"));
        }
    }

    // Start and stop a run twenty times: each stops at its second step with
    // a checkpoint. Under `./liftlab.sh test --sanitize` LeakSanitizer checks
    // that nothing of them is left when the process ends.
    void startAndStopTwentyTimes()
    {
        for (int i = 0; i < 20; ++i) {
            std::atomic<bool> cancel{false};
            Trainer::Callbacks cb;
            cb.onStep = [&](const TrainingStep &s) { cancel = s.step >= 2; };
            const std::string run = m_dir.file("start-stop-" + std::to_string(i));
            std::unique_ptr<Trainer> t = Trainer::start(tinyConfig(1000), run);
            QCOMPARE(t->run(cb, cancel), Trainer::Outcome::Cancelled);
            t.reset();
            QCOMPARE(Trainer::resume(run)->step(), int64_t(2));
        }
    }

    // A second trainer started with the first's data shares its images, and
    // trains as it would on data of its own.
    void trainersShareLoadedData()
    {
        ExperimentConfig c = tinyConfig(5);
        const std::atomic<bool> cancel{false};
        std::unique_ptr<Trainer> first = Trainer::start(c, m_dir.file("share-1"));
        std::unique_ptr<Trainer> second = Trainer::start(c, m_dir.file("share-2"), {}, first->data());
        QCOMPARE(second->data()->train.images.pixels(0, nullptr), first->data()->train.images.pixels(0, nullptr));
        std::unique_ptr<Trainer> alone = Trainer::start(c, m_dir.file("share-3"));
        QVERIFY(alone->data()->train.images.pixels(0, nullptr) != first->data()->train.images.pixels(0, nullptr));
        first.reset(); // the images stay while a trainer uses them
        QCOMPARE(second->run({}, cancel), Trainer::Outcome::Finished);
        QCOMPARE(alone->run({}, cancel), Trainer::Outcome::Finished);
        const auto lastLoss = [&](const char *run) {
            return RunDirectory::readSteps(RunDirectory::open(m_dir.file(run)).files().metrics()).back().loss;
        };
        QCOMPARE(lastLoss("share-2"), lastLoss("share-3"));
    }

    // Each step gets its own batch, in order or after a jump, made ahead
    // while the caller works; an error making one reaches the caller.
    void prefetcherGivesEachStepItsBatch()
    {
        std::atomic<int> made{0};
        auto make = [&](int64_t step) {
            if (step == 7)
                throw Error("no batch 7");
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            ++made;
            Batch b;
            b.indices = {step, 2 * step};
            return b;
        };
        Prefetcher p(make, 2, 10);
        QCOMPARE(p.take(2).indices, (std::vector<int64_t>{2, 4}));
        // While the caller "trains", steps 3 and 4 are made, and no more (two ahead).
        QTRY_COMPARE_WITH_TIMEOUT(made.load(), 3, 10000);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        QCOMPARE(made.load(), 3);
        QCOMPARE(p.take(3).indices, (std::vector<int64_t>{3, 6}));
        QCOMPARE(p.take(4).indices, (std::vector<int64_t>{4, 8}));
        QCOMPARE(p.take(1).indices, (std::vector<int64_t>{1, 2})); // a jump back starts over there
        QCOMPARE(p.take(2).indices, (std::vector<int64_t>{2, 4}));
        QCOMPARE(p.take(6).indices, (std::vector<int64_t>{6, 12})); // and forward
        QVERIFY_THROWS_EXCEPTION(Error, p.take(7));
        QCOMPARE(p.take(8).indices, (std::vector<int64_t>{8, 16}));
        QVERIFY(p.makingSeconds() > 0);
    } // the worker is stopped while it may be making batch 9

    void resumeAfterCheckpointDropsLaterRecords()
    {
        // Killed after step 14 with the last checkpoint at step 10: steps
        // 11-14 are replayed, not duplicated.
        const std::string run = m_dir.file("run-killed");
        std::atomic<bool> cancel{false};
        Trainer::start(tinyConfig(10), run)->run({}, cancel);
        const RunDirectory dir = RunDirectory::open(run);
        {
            std::ofstream metrics(dir.files().metrics(), std::ios::app);
            for (int s = 11; s <= 14; ++s)
                metrics << "{\"step\":" << s << ",\"loss\":1}\n";
            metrics << "{\"step\":15,\"lo"; // torn by the kill
        }
        QCOMPARE(int(RunDirectory::readSteps(dir.files().metrics()).size()), 14);
        auto trainer = Trainer::resume(run);
        QCOMPARE(trainer->step(), int64_t(10));
        QCOMPARE(int(RunDirectory::readSteps(dir.files().metrics()).size()), 10);
    }

    void cancelBeforeFirstStepKeepsCheckpoint()
    {
        const std::string run = m_dir.file("run-cancel");
        std::atomic<bool> cancel{true};
        auto trainer = Trainer::start(tinyConfig(10), run);
        QCOMPARE(trainer->run({}, cancel), Trainer::Outcome::Cancelled);
        QVERIFY(fs::exists(RunDirectory::open(run).files().checkpoint()));
        trainer.reset(); // one writer at a time
        QCOMPARE(Trainer::resume(run)->step(), int64_t(0));
    }

    // A process killed after the records of its first checkpoint's step were
    // written, before the checkpoint itself, goes on from step 0. A run that
    // recorded past its first checkpoint has lost it: refused, records kept.
    void divergenceIsToldApartFromNoise()
    {
        // A loss that falls with noise, even spikes of 10x, is not diverging.
        DivergenceWatch noisy;
        for (int step = 1; step <= 2000; ++step) {
            const double loss = 8.0 / (1 + step * 0.01) * (step % 97 == 0 ? 10 : 1 + 0.3 * std::sin(step));
            QVERIFY2(noisy.add(step, loss).empty(), qPrintable(QString::number(step)));
        }
        // A loss near 0 at the start may grow a little.
        DivergenceWatch small;
        for (int step = 1; step <= 100; ++step)
            QVERIFY(small.add(step, step == 1 ? 1e-4 : 0.5).empty());
        // The lifted loss at a learning rate of 10: 8, then 1e8. Said once,
        // at the step it shows, naming both levels.
        DivergenceWatch diverging;
        QVERIFY(diverging.add(1, 8.2).empty());
        const std::string warning = diverging.add(2, 1.1e8);
        QVERIFY2(warning.find("grew from 8.2 to ") != std::string::npos && warning.find("step 2") != std::string::npos,
                 warning.c_str());
        QVERIFY(diverging.add(3, 2e8).empty());
        // Not finite: the trainer stops and says so itself.
        DivergenceWatch nan;
        QVERIFY(nan.add(1, 8).empty());
        QVERIFY(nan.add(2, std::nan("")).empty());
    }

    void batchesAreCheckedFromTheLabelsAlone()
    {
        // The labels the form checks a batch recipe against, read without
        // decoding an image, are those the trainer samples from.
        ExperimentConfig c;
        c.dataset = m_data;
        for (const char *split : {"seen", "zero-shot"}) {
            c.split = split;
            const ExperimentData data = loadExperimentData(c, {});
            const torch::Tensor expected = data.train.labels.contiguous();
            QCOMPARE(trainingLabels(c),
                     std::vector<int64_t>(expected.data_ptr<int64_t>(), expected.data_ptr<int64_t>() + expected.numel()));
        }
        c.split = "seen";
        const std::vector<int64_t> labels = trainingLabels(c);
        c.perClass = 1000; // more than any class holds
        QVERIFY_THROWS_EXCEPTION(Error, makeSampler(c, labels));
        c.perClass = 4;
        QVERIFY(makeSampler(c, labels));
        c.dataset = m_dir.file("no-such-folder");
        try {
            trainingLabels(c);
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(std::string(e.what()).find("does not exist") != std::string::npos, e.what());
        }
    }

    void resumeWithoutItsFirstCheckpoint()
    {
        ExperimentConfig c = tinyConfig(20);
        c.checkpointEvery = 5;
        std::atomic<bool> cancel{false};
        const std::string killed = m_dir.file("run-killed-at-first-checkpoint");
        QCOMPARE(Trainer::start(c, killed)->run({}, cancel, 5), Trainer::Outcome::Reached);
        QVERIFY(fs::remove(RunFiles(killed).checkpoint()));
        QCOMPARE(Trainer::resume(killed)->step(), int64_t(0));
        QVERIFY(RunDirectory::readSteps(RunFiles(killed).metrics()).empty());

        const std::string lost = m_dir.file("run-lost-checkpoint");
        QCOMPARE(Trainer::start(c, lost)->run({}, cancel, 6), Trainer::Outcome::Reached);
        QVERIFY(fs::remove(RunFiles(lost).checkpoint()));
        QVERIFY_THROWS_EXCEPTION(Error, Trainer::resume(lost));
        QCOMPARE(int(RunDirectory::readSteps(RunFiles(lost).metrics()).size()), 6);
    }

    // One writer at a time: while a trainer holds a run, another (here a
    // resume in the same process; test_cli does it with two processes) is
    // refused with a message naming the holder. The states follow the run.
    void oneWriterAtATimeAndItsStates()
    {
        const std::string run = m_dir.file("run-locked");
        auto trainer = Trainer::start(tinyConfig(20), run);
        QCOMPARE(RunDirectory::readStatus(run).state, RunState::Created);
        const std::string me = "process " + std::to_string(QCoreApplication::applicationPid());
        try {
            Trainer::resume(run);
            QFAIL("a second writer was let in");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains(QString::fromStdString(me)), e.what());
        }
        std::atomic<bool> cancel{false};
        Trainer::Callbacks cb;
        RunStatus whileTraining;
        cb.onStep = [&](const TrainingStep &s) {
            if (s.step == 5) {
                whileTraining = RunDirectory::readStatus(run);
                cancel = true;
            }
        };
        QCOMPARE(trainer->run(cb, cancel), Trainer::Outcome::Cancelled);
        QCOMPARE(whileTraining.state, RunState::Training);
        QVERIFY2(QString::fromStdString(whileTraining.message).contains(QString::fromStdString(me)),
                 whileTraining.message.c_str());
        QCOMPARE(RunDirectory::readStatus(run).state, RunState::Stopped);
        QCOMPARE(RunDirectory::readStatus(run).step, int64_t(5));
        trainer.reset(); // lets go of the run
        auto resumed = Trainer::resume(run);
        cancel = false;
        QCOMPARE(resumed->run({}, cancel), Trainer::Outcome::Finished);
        QCOMPARE(RunDirectory::readStatus(run).state, RunState::Finished);
        QCOMPARE(RunDirectory::readStatus(run).step, int64_t(20));
    }

    void divergenceStopsWithClearMessage()
    {
        ExperimentConfig c = tinyConfig(50);
        c.optimizer = "sgd";
        c.learningRate = 1e30;
        c.checkpointEvery = 1;
        const std::string run = m_dir.file("run-nan");
        auto trainer = Trainer::start(c, run);
        std::atomic<bool> cancel{false};
        int64_t lastStep = 0;
        Trainer::Callbacks cb;
        cb.onStep = [&](const TrainingStep &s) {
            QVERIFY(std::isfinite(s.loss)); // no non-finite loss is ever recorded
            lastStep = s.step;
        };
        try {
            trainer->run(cb, cancel);
            QFAIL("a diverging run finished");
        } catch (const Error &e) {
            // Caught at the first step whose loss is not finite.
            const QString message = e.what();
            QVERIFY2(message.contains("NaN") || message.contains("infinite"), e.what());
            QVERIFY2(message.startsWith(QString("step %1:").arg(lastStep + 1)), e.what());
            QVERIFY2(message.contains("checkpoint"), e.what());
        }
        QVERIFY(lastStep < 50);
        QCOMPARE(int64_t(RunDirectory::readSteps(RunDirectory::open(run).files().metrics()).size()), lastStep);
        // The run says why it ended, for the Runs list and `eval`.
        const RunStatus status = RunDirectory::readStatus(run);
        QCOMPARE(status.state, RunState::Failed);
        QVERIFY2(QString::fromStdString(status.message).contains(QString("step %1:").arg(lastStep + 1)),
                 status.message.c_str());
        // The last good checkpoint is intact and holds finite weights.
        trainer.reset(); // one writer at a time
        auto resumed = Trainer::resume(run);
        QCOMPARE(resumed->step(), lastStep);
        for (const torch::Tensor &t : weights(run))
            QVERIFY(torch::isfinite(t).all().item<bool>());
    }

    void badExperimentsLeaveNothingBehind_data()
    {
        QTest::addColumn<QString>("field");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("message");
        QTest::newRow("missing dataset") << "dataset" << "/nonexistent/folder" << "does not exist";
        QTest::newRow("too many classes") << "P" << "11" << "more than the training set allows";
        QTest::newRow("too many per class") << "K" << "40" << "more than the training set allows";
        QTest::newRow("unknown loss") << "loss" << "nope" << "unknown loss";
        QTest::newRow("unknown model") << "model" << "nope" << "unknown model";
        QTest::newRow("bad split") << "split" << "half" << "split";
    }

    void badExperimentsLeaveNothingBehind()
    {
        QFETCH(QString, field);
        QFETCH(QString, value);
        QFETCH(QString, message);
        ExperimentConfig c = tinyConfig(10);
        if (field == "dataset") c.dataset = value.toStdString();
        if (field == "P") c.classesPerBatch = value.toInt();
        if (field == "K") c.perClass = value.toInt();
        if (field == "loss") c.loss = value.toStdString();
        if (field == "model") c.model = value.toStdString();
        if (field == "split") c.split = value.toStdString();
        const std::string run = m_dir.file("run-bad");
        try {
            Trainer::start(c, run);
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains(message), e.what());
        }
        QVERIFY(!fs::exists(run));
    }

    void cancelDuringEvaluationEvaluatesOnResume()
    {
        ExperimentConfig c = tinyConfig(20);
        c.evalEvery = 10;
        const std::string run = m_dir.file("run-cancel-eval");
        std::atomic<bool> cancel{false};
        Trainer::Callbacks cb;
        cb.onStep = [&](const TrainingStep &s) { cancel = s.step == 10; }; // the evaluation of step 10 is next
        QCOMPARE(Trainer::start(c, run)->run(cb, cancel), Trainer::Outcome::Cancelled);
        const RunDirectory dir = RunDirectory::open(run);
        QVERIFY(RunDirectory::readEvals(dir.files().evals()).empty());
        QCOMPARE(int(RunDirectory::readSteps(dir.files().metrics()).size()), 10);

        auto resumed = Trainer::resume(run);
        QCOMPARE(resumed->step(), int64_t(10)); // saved at the step being evaluated
        std::vector<int64_t> evaluated;
        cb.onStep = {};
        cb.onEval = [&](const EvalReport &r) { evaluated.push_back(r.step); };
        cancel = false;
        QCOMPARE(resumed->run(cb, cancel), Trainer::Outcome::Finished);
        QCOMPARE(evaluated, (std::vector<int64_t>{10, 20}));
        QCOMPARE(int(RunDirectory::readEvals(dir.files().evals()).size()), 2);
    }

    void diskFullWhileCheckpointingKeepsThePrevious()
    {
        ExperimentConfig c = tinyConfig(20);
        const std::string run = m_dir.file("run-disk-full");
        auto trainer = Trainer::start(c, run);
        std::atomic<bool> cancel{false};
        QCOMPARE(trainer->run({}, cancel, 10), Trainer::Outcome::Reached); // checkpoint of step 10 written
        const std::string checkpoint = RunDirectory::open(run).files().checkpoint();
        const auto size = fs::file_size(checkpoint);

        // A limit on file sizes stands in for a full disk: writes past it fail.
        rlimit saved{};
        QCOMPARE(getrlimit(RLIMIT_FSIZE, &saved), 0);
        const auto previousHandler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit limited = saved;
        limited.rlim_cur = rlim_t(size / 2);
        QCOMPARE(setrlimit(RLIMIT_FSIZE, &limited), 0);
        QString message;
        try {
            trainer->run({}, cancel);
        } catch (const Error &e) {
            message = e.what();
        }
        setrlimit(RLIMIT_FSIZE, &saved);
        std::signal(SIGXFSZ, previousHandler);

        QVERIFY2(message.contains(QString::fromStdString(checkpoint)) && message.contains("cannot write checkpoint"),
                 qPrintable(message));
        QCOMPARE(fs::file_size(checkpoint), size);
        trainer.reset(); // one writer at a time
        QCOMPARE(Trainer::resume(run)->step(), int64_t(10));
        for (const fs::directory_entry &e : fs::directory_iterator(fs::path(checkpoint).parent_path()))
            QCOMPARE(QString::fromStdString(e.path().filename().string()), QStringLiteral("last.pt"));
    }

    void corruptCheckpointIsReported()
    {
        const std::string run = m_dir.file("run-corrupt");
        std::atomic<bool> cancel{false};
        Trainer::start(tinyConfig(10), run)->run({}, cancel);
        const std::string checkpoint = RunDirectory::open(run).files().checkpoint();
        const auto size = fs::file_size(checkpoint);
        fs::resize_file(checkpoint, size / 2);
        try {
            Trainer::resume(run);
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains(QString::fromStdString(checkpoint)), e.what());
        }
        std::ofstream(checkpoint) << "not a checkpoint";
        QVERIFY_THROWS_EXCEPTION(Error, Trainer::resume(run));
    }

    // torch reads a checkpoint without its checksums: a changed byte in a
    // tensor would load as a changed weight. LiftLab checks them first.
    void damagedByteIsFoundByItsChecksum()
    {
        const std::string run = m_dir.file("run-damaged");
        std::atomic<bool> cancel{false};
        Trainer::start(tinyConfig(10), run)->run({}, cancel);
        const std::string checkpoint = RunDirectory::open(run).files().checkpoint();
        std::string bytes;
        {
            std::ifstream in(checkpoint, std::ios::binary);
            bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        // The first entry's data follows its 30-byte local header, name and extra field.
        QCOMPARE(bytes.substr(0, 4), std::string("PK\x03\x04"));
        const size_t data = 30 + uint8_t(bytes[26]) + 256 * uint8_t(bytes[27]) + uint8_t(bytes[28]) + 256 * uint8_t(bytes[29]);
        QVERIFY(data + 1 < bytes.size());
        bytes[data + 1] = char(bytes[data + 1] ^ 0x10);
        std::ofstream(checkpoint, std::ios::binary | std::ios::trunc) << bytes;
        try {
            Trainer::resume(run);
            QFAIL("a damaged checkpoint was loaded");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("fails its checksum"), e.what());
            QVERIFY2(QString(e.what()).contains(QString::fromStdString(checkpoint)), e.what());
        }
    }

    void refusesToOverwriteARun()
    {
        const std::string run = m_dir.file("run-exists");
        fs::create_directories(run);
        std::ofstream(run + "/notes.txt") << "mine";
        QVERIFY_THROWS_EXCEPTION(Error, Trainer::start(tinyConfig(5), run));
        QVERIFY(fs::exists(run + "/notes.txt"));
    }
};

QTEST_GUILESS_MAIN(TestTrain)
#include "test_train.moc"
