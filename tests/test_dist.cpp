// torch.distributed: the rank environment, the differentiable collectives
// behind the global-batch loss and synchronised batch norm (ranks as
// threads on loopback), and distributed training end to end (ranks as
// liftlab-cli processes).
#include "dist/processgroup.h"
#include "dist/rankenv.h"
#include "error.h"
#include "losses/loss.h"
#include "nn/batchnorm.h"
#include "testdata.h"
#include "train/rundirectory.h"
#include "util/parallel.h"

#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <QDir>
#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>
#include <functional>
#include <map>
#include <thread>

using namespace liftlab;

namespace {

// Runs `body(group)` on `ranks` threads, each a rank of one process group
// on loopback; fails the test with the first rank's error.
// With `agentStore`, the store is hosted here, as torchrun's agent hosts it.
void onRanks(int ranks, const std::function<void(ProcessGroup &)> &body, bool agentStore = false)
{
    const int port = freeLoopbackPort();
    c10::intrusive_ptr<c10d::TCPStore> agent;
    if (agentStore) {
        c10d::TCPStoreOptions options;
        options.port = uint16_t(port);
        options.isServer = true;
        options.waitWorkers = false;
        agent = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", options);
    }
    std::vector<std::string> errors(static_cast<size_t>(ranks));
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r)
        threads.emplace_back([&, r] {
            try {
                RankEnvironment env;
                env.rank = r;
                env.worldSize = ranks;
                env.masterAddr = "127.0.0.1";
                env.masterPort = port;
                env.agentStore = agentStore;
                env.restartCount = 3;
                ProcessGroup group(env, std::chrono::seconds(30));
                body(group);
            } catch (const std::exception &e) {
                errors[size_t(r)] = e.what();
            }
        });
    for (std::thread &t : threads)
        t.join();
    for (int r = 0; r < ranks; ++r)
        QVERIFY2(errors[size_t(r)].empty(), qPrintable(QString("rank %1: %2").arg(r).arg(QString::fromStdString(errors[size_t(r)]))));
}

double relativeError(const torch::Tensor &a, const torch::Tensor &b)
{
    return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-12);
}

LossContext contextFor(const torch::Tensor &labels, int64_t dim)
{
    std::vector<int64_t> l(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
    return lossContextFor(l, dim, 5);
}

std::unique_ptr<Loss> makeLoss(const QString &spec, const LossContext &context)
{
    ParamValues params;
    if (spec.contains(':'))
        params["miner"] = spec.section(':', 1).toStdString();
    return createLoss(spec.section(':', 0, 0).toStdString(), params, context);
}

struct Cli
{
    int code = -1;
    QString out, err;
};

QProcessEnvironment rankEnvironmentFor(int rank, int ranks, int port)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("RANK", QString::number(rank));
    env.insert("WORLD_SIZE", QString::number(ranks));
    env.insert("MASTER_ADDR", "127.0.0.1");
    env.insert("MASTER_PORT", QString::number(port));
    return env;
}

void startCli(QProcess &p, const QStringList &args, const QProcessEnvironment &env = QProcessEnvironment::systemEnvironment())
{
    p.setProcessEnvironment(env);
    p.start(qEnvironmentVariable("LIFTLAB_CLI", "liftlab-cli"), args);
}

Cli finish(QProcess &p, int timeoutMs = 300000)
{
    p.waitForFinished(timeoutMs);
    Cli r;
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

Cli runCli(const QStringList &args)
{
    QProcess p;
    startCli(p, args);
    return finish(p);
}

std::vector<double> stepLosses(const QString &run)
{
    std::vector<double> losses;
    for (const TrainingStep &s : RunDirectory::readSteps(RunFiles(run.toStdString()).metrics()))
        losses.push_back(s.loss);
    return losses;
}

double finalRecall(const QString &run)
{
    const std::vector<EvalReport> evals = RunDirectory::readEvals(RunFiles(run.toStdString()).evals());
    return evals.empty() ? -1 : evals.back().metrics.recallAt1;
}

} // namespace

class TestDist : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_data; // a small IDX dataset: 10 classes, 28 x 28

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        prepareCompute(1);
        m_data = m_dir.filePath("data");
        QDir().mkpath(m_data);
        testing::writeSyntheticIdx(m_data.toStdString(), 10, 60, 20);
    }

    void rankEnvironmentFromLaunchers_data()
    {
        QTest::addColumn<QStringList>("variables"); // NAME=value
        QTest::addColumn<int>("rank");
        QTest::addColumn<int>("worldSize");
        QTest::addColumn<int>("localRank");
        QTest::addColumn<QString>("error"); // a part of the message, empty: none

        const QString master = "MASTER_ADDR=10.0.0.1 MASTER_PORT=29500";
        QTest::newRow("none") << QStringList{} << 0 << 1 << 0 << "";
        QTest::newRow("torchrun") << (QStringList{"RANK=3", "WORLD_SIZE=8", "LOCAL_RANK=1", "LOCAL_WORLD_SIZE=4"} + master.split(' '))
                                  << 3 << 8 << 1 << "";
        QTest::newRow("srun") << (QStringList{"SLURM_PROCID=5", "SLURM_NTASKS=6", "SLURM_STEP_NUM_TASKS=6", "SLURM_LOCALID=2"}
                                  + master.split(' '))
                              << 5 << 6 << 2 << "";
        QTest::newRow("a Slurm batch script alone") << (QStringList{"SLURM_PROCID=0", "SLURM_NTASKS=8"} + master.split(' '))
                                                    << 0 << 1 << 0 << "";
        QTest::newRow("torchrun wins over slurm")
            << (QStringList{"RANK=1", "WORLD_SIZE=2", "SLURM_PROCID=5", "SLURM_NTASKS=6"} + master.split(' ')) << 1 << 2 << 0 << "";
        QTest::newRow("one process needs no master") << QStringList{"RANK=0", "WORLD_SIZE=1"} << 0 << 1 << 0 << "";
        QTest::newRow("rank out of range") << (QStringList{"RANK=2", "WORLD_SIZE=2"} + master.split(' ')) << 0 << 0 << 0
                                           << "RANK=2 is not a whole number from 0 to 1";
        QTest::newRow("no rank") << (QStringList{"WORLD_SIZE=2"} + master.split(' ')) << 0 << 0 << 0 << "RANK is not";
        QTest::newRow("no master") << QStringList{"RANK=0", "WORLD_SIZE=2"} << 0 << 0 << 0 << "MASTER_ADDR and MASTER_PORT";
        QTest::newRow("bad port") << QStringList{"RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=h", "MASTER_PORT=http"} << 0 << 0 << 0
                                  << "MASTER_PORT=http";
    }

    void rankEnvironmentFromLaunchers()
    {
        QFETCH(QStringList, variables);
        QFETCH(int, rank);
        QFETCH(int, worldSize);
        QFETCH(int, localRank);
        QFETCH(QString, error);
        std::map<std::string, std::string> values;
        for (const QString &v : variables)
            values[v.section('=', 0, 0).toStdString()] = v.section('=', 1).toStdString();
        auto getenv = [&](const char *name) -> const char * {
            const auto it = values.find(name);
            return it == values.end() ? nullptr : it->second.c_str();
        };
        try {
            const RankEnvironment env = rankEnvironment(getenv);
            QVERIFY2(error.isEmpty(), "no error thrown");
            QCOMPARE(env.rank, rank);
            QCOMPARE(env.worldSize, worldSize);
            QCOMPARE(env.localRank, localRank);
            if (env.distributed()) {
                QCOMPARE(env.masterAddr, std::string("10.0.0.1"));
                QCOMPARE(env.masterPort, 29500);
            }
        } catch (const Error &e) {
            QVERIFY2(!error.isEmpty() && QString(e.what()).contains(error), e.what());
        }
    }

    // The global batch split over 2 and 4 ranks: each rank embeds its rows,
    // gathers all, and backpropagates its share of the loss. Loss and every
    // row's gradient equal the single-process ones on the whole batch.
    void globalBatchLossEqualsOneProcess_data()
    {
        QTest::addColumn<QString>("loss");
        QTest::addColumn<int>("ranks");
        for (const char *loss : {"lifted", "contrastive", "triplet:semi-hard", "multi-similarity", "proxy-anchor"})
            for (int ranks : {2, 4})
                QTest::newRow(qPrintable(QString("%1 on %2 ranks").arg(loss).arg(ranks))) << QString(loss) << ranks;
    }

    void globalBatchLossEqualsOneProcess()
    {
        QFETCH(QString, loss);
        QFETCH(int, ranks);
        const int64_t classes = 8, perClass = 4, batch = classes * perClass, dim = 16;
        torch::manual_seed(3);
        const torch::Tensor x = torch::randn({batch, dim});
        const torch::Tensor labels = torch::arange(classes).repeat_interleave(perClass);
        const LossContext context = contextFor(labels, dim);

        const torch::Tensor whole = x.clone().requires_grad_(true);
        const std::unique_ptr<Loss> single = makeLoss(loss, context);
        const torch::Tensor expected = single->compute(whole, labels).loss;
        expected.backward();
        std::vector<torch::Tensor> expectedParamGrads;
        for (const torch::Tensor &p : single->parameters())
            expectedParamGrads.push_back(p.grad().clone());

        const int64_t rows = batch / ranks;
        std::vector<double> values(static_cast<size_t>(ranks));
        std::vector<torch::Tensor> rowGrads(static_cast<size_t>(ranks));
        std::vector<std::vector<torch::Tensor>> paramGrads(static_cast<size_t>(ranks));
        onRanks(ranks, [&](ProcessGroup &group) {
            const int r = group.rank();
            const torch::Tensor mine = x.narrow(0, r * rows, rows).clone().requires_grad_(true);
            const std::unique_ptr<Loss> l = makeLoss(loss, context);
            const torch::Tensor value = l->compute(group.allGather(mine), labels).loss;
            (value / double(group.size())).backward();
            std::vector<torch::Tensor> grads;
            for (const torch::Tensor &p : l->parameters())
                grads.push_back(p.grad());
            group.allReduceSum(grads);
            values[size_t(r)] = value.item<double>();
            rowGrads[size_t(r)] = mine.grad();
            paramGrads[size_t(r)] = grads;
        });
        for (int r = 0; r < ranks; ++r) {
            QVERIFY2(std::abs(values[size_t(r)] - expected.item<double>()) <= 1e-5 * std::abs(expected.item<double>()),
                     qPrintable(QString("rank %1: loss %2, one process %3").arg(r).arg(values[size_t(r)]).arg(expected.item<double>())));
            const double e = relativeError(rowGrads[size_t(r)], whole.grad().narrow(0, r * rows, rows));
            QVERIFY2(e <= 1e-5, qPrintable(QString("rank %1: row gradients differ by %2 (relative)").arg(r).arg(e)));
            for (size_t i = 0; i < expectedParamGrads.size(); ++i)
                QVERIFY(relativeError(paramGrads[size_t(r)][i], expectedParamGrads[i]) <= 1e-5);
        }
        QVERIFY(whole.grad().abs().sum().item<double>() > 0); // a gradient to compare
    }

    // Synchronised batch norm over 2 ranks' halves normalises as libtorch's
    // batch norm over the whole batch: outputs, input gradients, running statistics.
    void synchronisedBatchNormEqualsOneProcess()
    {
        torch::manual_seed(4);
        const torch::Tensor x = torch::randn({8, 3, 5, 5}) * 2 + 1;
        const torch::Tensor upstream = torch::randn({8, 3, 5, 5});
        torch::nn::BatchNorm2d reference(3);
        const torch::Tensor whole = x.clone().requires_grad_(true);
        const torch::Tensor expected = reference->forward(whole);
        (expected * upstream).sum().backward();

        std::vector<torch::Tensor> outputs(2), grads(2), means(2), vars(2);
        onRanks(2, [&](ProcessGroup &group) {
            const int r = group.rank();
            BatchNorm2d bn(3);
            synchronizeBatchNorm(*bn, [&group](const torch::Tensor &t) { return group.allReduce(t); });
            const torch::Tensor mine = x.narrow(0, 4 * r, 4).clone().requires_grad_(true);
            const torch::Tensor y = bn->forward(mine);
            (y * upstream.narrow(0, 4 * r, 4)).sum().backward();
            outputs[size_t(r)] = y.detach();
            grads[size_t(r)] = mine.grad();
            means[size_t(r)] = bn->running_mean.clone();
            vars[size_t(r)] = bn->running_var.clone();
        });
        for (int r = 0; r < 2; ++r) {
            QVERIFY(relativeError(outputs[size_t(r)], expected.detach().narrow(0, 4 * r, 4)) < 1e-5);
            QVERIFY(relativeError(grads[size_t(r)], whole.grad().narrow(0, 4 * r, 4)) < 1e-5);
            QVERIFY(relativeError(means[size_t(r)], reference->running_mean) < 1e-5);
            QVERIFY(relativeError(vars[size_t(r)], reference->running_var) < 1e-5);
        }
        // Unsynchronised it is libtorch's batch norm (same names, same kernel).
        BatchNorm2d local(3);
        QCOMPARE(local->named_parameters().keys(), reference->named_parameters().keys());
        QCOMPARE(local->named_buffers().keys(), reference->named_buffers().keys());
        QVERIFY(torch::equal(local->forward(x), torch::nn::BatchNorm2d(3)->forward(x)));
    }

    // Buckets (more than one of them) come back summed into the right tensors.
    void allReduceSumsEveryTensor()
    {
        std::vector<bool> right(3);
        onRanks(3, [&](ProcessGroup &group) {
            const double r = group.rank();
            std::vector<torch::Tensor> tensors{torch::full({3, 2}, r), torch::full({5 << 20}, r + 1),
                                               torch::full({1}, 10 * r, torch::kFloat64), torch::full({4}, -r)};
            group.allReduceSum(tensors);
            right[size_t(group.rank())] = tensors[0].eq(3).all().item<bool>() && tensors[1].eq(6).all().item<bool>()
                                          && tensors[2].eq(30).all().item<bool>() && tensors[3].eq(-3).all().item<bool>()
                                          && group.any(group.rank() == 1) && !group.any(false);
        });
        QCOMPARE(right, std::vector<bool>(3, true));
    }

    // Under torchrun the agent hosts the store on MASTER_PORT: the ranks
    // connect to it (rank 0 does not try to host its own) and meet there.
    void ranksMeetInTorchrunsAgentStore()
    {
        std::vector<double> sums(2);
        onRanks(2, [&](ProcessGroup &group) {
            torch::Tensor t = torch::full({4}, double(group.rank() + 1));
            group.allReduceSum({t});
            QVERIFY(!group.waitForAll(false, std::chrono::seconds(30), "a meeting"));
            sums[size_t(group.rank())] = t[0].item<double>();
        }, true);
        QCOMPARE(sums, std::vector<double>(2, 3.0));
    }

    // 2 ranks x (P = 4, K = 16) against 1 process x (P = 8, K = 16): the
    // same images each step, the same losses. Synchronised batch norm makes
    // the forward pass the same; Adam at 1e-4 keeps the rounding
    // differences of summing in another order (about 1e-7) from growing (at
    // 1e-3 they reach some 5e-4 by step 40, as between 1 and 2 threads of one
    // process).
    void twoRanksTrainAsOneProcess()
    {
        const QStringList common{"--dataset", m_data, "-K", "16", "--iterations", "50", "--lr", "1e-4",
                                 "--threads", "1", "--no-augment", "--checkpoint-every", "25"};
        const QString single = m_dir.filePath("single"), ranks = m_dir.filePath("ranks");
        Cli one = runCli(QStringList{"train", "--out", single, "-P", "8", "--sync-batch-norm"} + common);
        QVERIFY2(one.code == 0, qPrintable(one.err));

        const int port = freeLoopbackPort();
        QProcess rank0, rank1;
        const QStringList args = QStringList{"train", "--out", ranks, "-P", "4", "--sync-batch-norm"} + common;
        startCli(rank0, args, rankEnvironmentFor(0, 2, port));
        startCli(rank1, args, rankEnvironmentFor(1, 2, port));
        const Cli r0 = finish(rank0), r1 = finish(rank1);
        QVERIFY2(r0.code == 0 && r1.code == 0, qPrintable(r0.err + r1.err));
        QVERIFY2(r0.out.contains("distributed: 2 ranks, global batch 128 images (64 per rank)"), qPrintable(r0.out));
        QVERIFY2(r1.out.isEmpty(), qPrintable(r1.out)); // rank 0 speaks for the run

        const std::vector<double> expected = stepLosses(single), got = stepLosses(ranks);
        QCOMPARE(got.size(), size_t(50));
        QCOMPARE(expected.size(), size_t(50));
        for (size_t i = 0; i < got.size(); ++i)
            QVERIFY2(std::abs(got[i] - expected[i]) <= 1e-4 * std::abs(expected[i]),
                     qPrintable(QString("step %1: %2 on 2 ranks, %3 in one process").arg(i + 1).arg(got[i]).arg(expected[i])));
        QVERIFY(expected.back() < 0.95 * expected.front()); // it learned
        QVERIFY2(std::abs(finalRecall(ranks) - finalRecall(single)) <= 0.005,
                 qPrintable(QString("Recall@1 %1 vs %2").arg(finalRecall(ranks)).arg(finalRecall(single))));
        const RunDirectory run = RunDirectory::open(ranks.toStdString());
        QCOMPARE(run.config().worldSize, 2);
        QCOMPARE(run.config().batchSize(), 128);

        // Per-rank batch-norm statistics (each rank sees every class of the
        // batch, half its images): another forward pass, close results.
        const QString perRank = m_dir.filePath("per-rank");
        const Cli n = runCli(QStringList{"train", "--nproc", "2", "--out", perRank, "-P", "4"} + common);
        QVERIFY2(n.code == 0, qPrintable(n.err));
        QVERIFY2(std::abs(finalRecall(perRank) - finalRecall(single)) <= 0.02,
                 qPrintable(QString("Recall@1 %1 vs %2").arg(finalRecall(perRank)).arg(finalRecall(single))));
        // A normal run directory: eval reads it.
        const Cli eval = runCli({"eval", perRank});
        QVERIFY2(eval.code == 0 && eval.out.contains("R@1"), qPrintable(eval.out + eval.err));
    }

    // A rank killed mid-run ends the other with a message naming it; the
    // run resumes from its last checkpoint with the same world size, and
    // refuses another with a message saying why.
    void aDeadRankEndsTheRunAndItResumes()
    {
        const QString run = m_dir.filePath("killed");
        const QStringList args{"train", "--out", run, "--dataset", m_data, "-P", "4", "-K", "8", "--iterations", "4000",
                               "--threads", "1", "--checkpoint-every", "20", "--dist-timeout", "30"};
        const int port = freeLoopbackPort();
        QProcess rank0, rank1;
        startCli(rank0, args, rankEnvironmentFor(0, 2, port));
        startCli(rank1, args, rankEnvironmentFor(1, 2, port));
        // Killed once a checkpoint exists.
        QElapsedTimer clock;
        clock.start();
        while (!QFile::exists(run + "/checkpoints/last.pt") && clock.elapsed() < 120000 && rank0.state() != QProcess::NotRunning)
            QTest::qWait(100);
        QVERIFY2(QFile::exists(run + "/checkpoints/last.pt"), qPrintable(rank0.readAllStandardError()));
        ::kill(pid_t(rank1.processId()), SIGKILL);
        clock.restart();
        const Cli survivor = finish(rank0, 90000);
        finish(rank1);
        QVERIFY2(clock.elapsed() < 60000, qPrintable(QString("rank 0 took %1 ms to end").arg(clock.elapsed())));
        QCOMPARE(survivor.code, 2);
        QVERIFY2(survivor.err.contains("rank 1 no longer answers"), qPrintable(survivor.err));
        QCOMPARE(RunDirectory::readStatus(run.toStdString()).state, RunState::Failed);
        const int64_t recorded = int64_t(RunDirectory::readSteps(RunFiles(run.toStdString()).metrics()).size());
        QVERIFY(recorded >= 20);

        // Another world size: refused, saying how to resume.
        const Cli alone = runCli({"train", "--resume", run});
        QCOMPARE(alone.code, 2);
        QVERIFY2(alone.err.contains("this run trains with 2 processes") && alone.err.contains("--nproc 2"), qPrintable(alone.err));
        // The same world size: it continues from the checkpoint (after the
        // iterations are lowered to keep the test short; the config is the run's).
        QFile config(run + "/config.json");
        QVERIFY(config.open(QIODevice::ReadOnly));
        QJsonObject json = QJsonDocument::fromJson(config.readAll()).object();
        config.close();
        json["iterations"] = 100;
        QVERIFY(config.open(QIODevice::WriteOnly | QIODevice::Truncate));
        config.write(QJsonDocument(json).toJson());
        config.close();
        const Cli resumed = runCli({"train", "--resume", run, "--nproc", "2"});
        QVERIFY2(resumed.code == 0, qPrintable(resumed.err));
        QVERIFY2(resumed.out.contains("resuming"), qPrintable(resumed.out));
        const std::vector<TrainingStep> steps = RunDirectory::readSteps(RunFiles(run.toStdString()).metrics());
        QCOMPARE(int64_t(steps.size()), int64_t(100));
        for (size_t i = 0; i < steps.size(); ++i)
            QCOMPARE(steps[i].step, int64_t(i + 1));
        QCOMPARE(RunDirectory::readStatus(run.toStdString()).state, RunState::Finished);
    }
};

QTEST_GUILESS_MAIN(TestDist)
#include "test_dist.moc"
