// liftlab-cli as a user runs it: every bad input ends in a one-line message
// naming the file and the problem, exit code 2, and no partial output.
#include "data/idx.h"
#include "data/npy.h"
#include "losses/loss.h"
#include "train/rundirectory.h"
#include "train/trainer.h"

#include "testdata.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTest>

#include <cmath>

#include <algorithm>
#include <filesystem>
#include <random>
#include <fstream>

using namespace liftlab;
using liftlab::testing::TempDir;

namespace fs = std::filesystem;

namespace {

struct Result
{
    int code = -1;
    QString out, err;
};

Result runCli(const QStringList &args, int timeoutMs = 300000)
{
    QProcess p;
    p.start(qEnvironmentVariable("LIFTLAB_CLI", "liftlab-cli"), args);
    Result r;
    if (!p.waitForFinished(timeoutMs))
        return r;
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

QString readText(const fs::path &path)
{
    std::ifstream in(path);
    return QString::fromStdString(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
}

QJsonObject readJson(const fs::path &path)
{
    return QJsonDocument::fromJson(readText(path).toUtf8()).object();
}

// One field of every line of a .jsonl file.
QList<double> column(const fs::path &path, const char *field)
{
    QList<double> values;
    for (const QString &line : readText(path).split('\n', Qt::SkipEmptyParts))
        values.append(QJsonDocument::fromJson(line.toUtf8()).object().value(field).toDouble());
    return values;
}

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

void writeFloats(const std::string &path, std::vector<int64_t> shape, const std::vector<float> &values)
{
    writeNpy(path, npyFromFloats(std::move(shape), values.data()));
}

void writeLabels(const std::string &path, const std::vector<int64_t> &labels)
{
    writeNpy(path, npyFromInt64({int64_t(labels.size())}, labels.data()));
}

} // namespace

class TestCli : public QObject
{
    Q_OBJECT

    TempDir m_dir;
    std::string m_data, m_run;

private Q_SLOTS:
    void initTestCase()
    {
        m_data = m_dir.file("data");
        liftlab::testing::writeSyntheticIdx(m_data, 10, 20, 8, 1, /*gzip=*/true);

        // Broken copies of the dataset.
        for (const char *name : {"truncated", "wrongmagic"}) {
            const std::string folder = m_dir.file(name);
            liftlab::testing::writeSyntheticIdx(folder, 10, 20, 8);
            const std::string images = folder + "/train-images-idx3-ubyte";
            if (std::string(name) == "truncated") {
                fs::resize_file(images, fs::file_size(images) - 100);
            } else {
                std::fstream f(images, std::ios::in | std::ios::out | std::ios::binary);
                f.write("\x12\x34\x56\x78", 4);
            }
        }

        // A small finished run for eval/embed.
        m_run = m_dir.file("run");
        const Result r = runCli({"train", "--dataset", q(m_data), "--iterations", "15", "-P", "4", "-K", "4",
                                 "--out", q(m_run), "--threads", "2"});
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        QVERIFY(r.out.contains("R@1"));

        // Arrays for metrics/loss.
        writeFloats(m_dir.file("e.npy"), {6, 2}, {0, 0, 0.1f, 0, 0, 0.1f, 5, 5, 5.1f, 5, 5, 5.1f});
        writeLabels(m_dir.file("y.npy"), {0, 0, 0, 1, 1, 1});
        writeLabels(m_dir.file("y5.npy"), {0, 0, 0, 1, 1});
        writeFloats(m_dir.file("flat.npy"), {12}, std::vector<float>(12, 1.f));
        writeFloats(m_dir.file("nan.npy"), {6, 2}, {0, 0, 0.1f, 0, 0, std::nanf(""), 5, 5, 5.1f, 5, 5, 5.1f});
        std::ofstream(m_dir.file("u8.npy"), std::ios::binary)
            << std::string("\x93NUMPY\x01\x00", 8) << char(70) << char(0)
            << "{'descr': '|u1', 'fortran_order': False, 'shape': (6, 2), }" + std::string(70 - 61 - 1, ' ') + "\n"
            << std::string(12, '\x01');
        std::ofstream(m_dir.file("garbage.npy")) << "hello";

        // A run whose checkpoint does not fit its config, and one with a corrupt checkpoint.
        for (const char *name : {"run-mismatch", "run-corrupt"}) {
            const std::string copy = m_dir.file(name);
            fs::copy(m_run, copy, fs::copy_options::recursive);
        }
        {
            const std::string config = m_dir.file("run-mismatch/config.json");
            std::ifstream in(config);
            std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            const auto at = text.find("\"embedding_dim\": 64");
            QVERIFY(at != std::string::npos);
            text.replace(at, 19, "\"embedding_dim\": 32");
            std::ofstream(config) << text;
        }
        std::ofstream(m_dir.file("run-corrupt/checkpoints/last.pt")) << "garbage";
    }

    // SIGKILL at twenty random moments of one run, each followed by
    // --resume. After every kill the run directory opens, every complete line
    // of metrics.jsonl parses (the reader skips only a torn last line), the
    // steps run 1..n without a gap or a repeat, and the checkpoint loads at a
    // step <= n. At the end the losses of steps 1..n are those of a run
    // never killed: each resume went on from the last complete checkpoint.
    void killedTwentyTimesResumesEachTime()
    {
        const QStringList options = {"--dataset", q(m_data), "-P", "4", "-K", "8", "--checkpoint-every", "5",
                                     "--eval-every", "0", "--threads", "2", "--seed", "5"};
        const std::string run = m_dir.file("run-killed-20");
        std::mt19937 random(20);
        // Kill moments from start-up to some 1.5 s into training, whatever
        // this build's start-up takes (several seconds under the sanitizers).
        int startupMs = 0;
        {
            const std::string probe = m_dir.file("run-startup-time");
            QProcess p;
            QElapsedTimer clock;
            clock.start();
            p.start(qEnvironmentVariable("LIFTLAB_CLI", "liftlab-cli"),
                    QStringList{"train", "--out", q(probe), "--iterations", "1000000"} + options);
            QVERIFY(p.waitForStarted());
            QTRY_VERIFY_WITH_TIMEOUT(fs::exists(probe + "/metrics.jsonl") && fs::file_size(probe + "/metrics.jsonl") > 0, 120000);
            startupMs = int(clock.elapsed());
            p.kill();
            QVERIFY(p.waitForFinished());
        }
        std::uniform_int_distribution<int> delayMs(std::max(100, startupMs - 1000), startupMs + 1500);
        int64_t steps = 0, resumedFrom = 0, movedOn = 0, halfWritten = 0;
        for (int kill = 0; kill < 20; ++kill) {
            QProcess p;
            p.setProcessChannelMode(QProcess::ForwardedErrorChannel);
            p.start(qEnvironmentVariable("LIFTLAB_CLI", "liftlab-cli"),
                    fs::exists(run) ? QStringList{"train", "--resume", q(run)}
                                    : QStringList{"train", "--out", q(run), "--iterations", "1000000"} + options);
            QVERIFY(p.waitForStarted());
            QVERIFY2(!p.waitForFinished(delayMs(random)), qPrintable(p.readAllStandardOutput()));
            p.kill();
            QVERIFY(p.waitForFinished());
            if (!fs::exists(run))
                continue; // killed before it made the run directory: nothing to resume
            const RunDirectory dir = RunDirectory::open(run);
            const QStringList lines = readText(dir.files().metrics()).split('\n');
            const std::vector<TrainingStep> read = RunDirectory::readSteps(dir.files().metrics());
            QCOMPARE(int(read.size()), int(lines.size()) - 1); // the last is empty or torn
            for (int i = 0; i + 1 < lines.size(); ++i) {
                QVERIFY2(QJsonDocument::fromJson(lines[i].toUtf8()).isObject(), qPrintable(lines[i]));
                QCOMPARE(read[size_t(i)].step, int64_t(i + 1));
            }
            for (const fs::directory_entry &e : fs::recursive_directory_iterator(run))
                halfWritten += e.path().filename().string().find(".tmp-") != std::string::npos;
            const int64_t now = int64_t(read.size());
            movedOn += now > steps;
            steps = now;
            if (fs::exists(dir.files().checkpoint())) {
                torch::serialize::InputArchive archive;
                archive.load_from(dir.files().checkpoint());
                c10::IValue step;
                archive.read("step", step);
                QVERIFY(step.toInt() <= steps);
                QVERIFY(step.toInt() >= resumedFrom);
                resumedFrom = step.toInt();
            }
        }
        QVERIFY2(movedOn >= 5, qPrintable(QString::number(movedOn)));
        QVERIFY2(steps >= 20, qPrintable(QString::number(steps)));
        // A resume leaves nothing half-written behind, and drops the steps
        // after its checkpoint.
        const int64_t checkpointStep = Trainer::resume(run)->step();
        QCOMPARE(checkpointStep, resumedFrom);
        for (const fs::directory_entry &e : fs::recursive_directory_iterator(run))
            QVERIFY2(e.path().filename().string().find(".tmp-") == std::string::npos, qPrintable(q(e.path().string())));
        steps = checkpointStep;
        qInfo("killed 20 times; %lld of the kills left a half-written file; %lld steps kept", (long long)halfWritten,
              (long long)steps);

        const std::string reference = m_dir.file("run-never-killed");
        const Result r = runCli(QStringList{"train", "--out", q(reference), "--iterations", QString::number(steps)} + options);
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        const std::vector<TrainingStep> killed = RunDirectory::readSteps(m_dir.file("run-killed-20/metrics.jsonl"));
        const std::vector<TrainingStep> straight = RunDirectory::readSteps(m_dir.file("run-never-killed/metrics.jsonl"));
        QCOMPARE(int(straight.size()), int(steps));
        for (int64_t i = 0; i < steps; ++i)
            QCOMPARE(killed[size_t(i)].loss, straight[size_t(i)].loss);
    }

    // One writer at a time, between processes: while `train --resume RUN`
    // trains, a second one exits 2 naming the first's process. The lock of a
    // process killed with SIGKILL is taken over by the next resume.
    void oneWriterAtATime()
    {
        const std::string run = m_dir.file("run-one-writer");
        const QString cli = qEnvironmentVariable("LIFTLAB_CLI", "liftlab-cli");
        // Starts a process and waits until it has recorded a few more steps;
        // false (with its stderr) when it ended instead.
        auto training = [&](QProcess &p, const QStringList &args) {
            auto steps = [&] { return int64_t(RunDirectory::readSteps(RunFiles(run).metrics()).size()); };
            const int64_t before = steps();
            p.start(cli, args);
            QElapsedTimer clock;
            clock.start();
            while (p.state() != QProcess::NotRunning && steps() <= before + 2 && clock.elapsed() < 120000)
                QTest::qWait(50);
            if (p.state() == QProcess::NotRunning)
                qWarning("%s", p.readAllStandardError().constData());
            return p.state() != QProcess::NotRunning && steps() > before + 2;
        };
        QProcess first;
        QVERIFY(training(first, {"train", "--dataset", q(m_data), "--iterations", "1000000", "-P", "4", "-K", "4",
                                 "--eval-every", "0", "--checkpoint-every", "5", "--threads", "1", "--out", q(run)}));
        first.kill(); // SIGKILL: its lock file stays behind, unheld
        QVERIFY(first.waitForFinished());
        QCOMPARE(RunDirectory::readStatus(run).state, RunState::Stopped);

        QProcess resumed;
        QVERIFY(training(resumed, {"train", "--resume", q(run)}));
        const RunStatus status = RunDirectory::readStatus(run);
        QCOMPARE(status.state, RunState::Training);
        const QString holder = QString("process %1 ").arg(resumed.processId());
        QVERIFY2(QString::fromStdString(status.message).contains(holder), status.message.c_str());

        const Result second = runCli({"train", "--resume", q(run)});
        QCOMPARE(second.code, 2);
        QVERIFY2(second.err.contains(holder) && second.err.contains("only one process"), qPrintable(second.err));

        resumed.kill();
        QVERIFY(resumed.waitForFinished());
        QProcess taken;
        QVERIFY(training(taken, {"train", "--resume", q(run)}));
        taken.terminate(); // as Ctrl-C: a checkpoint, exit 130
        QVERIFY(taken.waitForFinished(60000));
        QCOMPARE(taken.exitCode(), 130);
        QCOMPARE(RunDirectory::readStatus(run).state, RunState::Stopped);
    }

    void badInputFailsCleanly_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("message");
        const QString d = q(m_data);
        const QString out = q(m_dir.file("must-not-exist"));
        auto train = [&](QStringList extra) {
            return QStringList{"train", "--iterations", "5", "-P", "4", "-K", "4", "--out", out} + extra;
        };
        QTest::newRow("missing dataset folder") << train({"--dataset", "/no/such/folder"}) << "/no/such/folder: dataset folder does not exist";
        QTest::newRow("truncated IDX") << train({"--dataset", q(m_dir.file("truncated"))}) << "truncated IDX data";
        QTest::newRow("wrong magic IDX") << train({"--dataset", q(m_dir.file("wrongmagic"))}) << "wrong magic";
        QTest::newRow("unknown loss") << train({"--dataset", d, "--loss", "nope"}) << "unknown loss 'nope'";
        QTest::newRow("unknown parameter") << train({"--dataset", d, "--param", "alpha=2"}) << "has no parameter 'alpha'";
        QTest::newRow("bad parameter value") << train({"--dataset", d, "--margin", "-3"}) << "outside";
        QTest::newRow("malformed --param") << train({"--dataset", d, "--param", "margin"}) << "name=value";
        QTest::newRow("P x K too large") << (QStringList{"train", "--dataset", d, "-P", "11", "-K", "4", "--out", out})
                                         << "more than the training set allows";
        QTest::newRow("n-pair with K != 2") << train({"--dataset", d, "--loss", "n-pair"}) << "exactly 2 images per class";
        QTest::newRow("unknown option") << train({"--dataset", d, "--frobnicate"}) << "frobnicate";
        QTest::newRow("unknown device") << train({"--dataset", d, "--device", "gpu0"}) << "is not one of cpu, cuda, cuda:N or auto";
        QTest::newRow("bad device index") << train({"--dataset", d, "--device", "cuda:x"}) << "is not one of cpu, cuda, cuda:N or auto";
        if (!torch::cuda::is_available())
            QTest::newRow("no GPU") << train({"--dataset", d, "--device", "cuda"}) << "device 'cuda': ";
        QTest::newRow("unknown kernels") << train({"--dataset", d, "--kernels", "turbo"}) << "--kernels";
        const QString e = q(m_dir.file("e.npy")), y = q(m_dir.file("y.npy"));
        QTest::newRow("npy wrong dtype") << QStringList{"metrics", "--embeddings", q(m_dir.file("u8.npy")), "--labels", y}
                                         << "unsupported .npy dtype '|u1'";
        QTest::newRow("npy wrong shape") << QStringList{"metrics", "--embeddings", q(m_dir.file("flat.npy")), "--labels", y}
                                         << "2-D array";
        QTest::newRow("npy length mismatch") << QStringList{"metrics", "--embeddings", e, "--labels", q(m_dir.file("y5.npy"))}
                                             << "5 labels for 6 embeddings";
        QTest::newRow("npy not npy") << QStringList{"loss", "--embeddings", q(m_dir.file("garbage.npy")), "--labels", y, "--loss", "lifted"}
                                     << "not a .npy file";
        QTest::newRow("npy missing") << QStringList{"metrics", "--embeddings", q(m_dir.file("none.npy")), "--labels", y}
                                     << "cannot open file";
        QTest::newRow("labels as embeddings") << QStringList{"metrics", "--embeddings", y, "--labels", y}
                                              << "embeddings must be float32 or float64";
        QTest::newRow("loss unknown") << QStringList{"loss", "--embeddings", e, "--labels", y, "--loss", "nope"}
                                      << "unknown loss";
        QTest::newRow("not a run") << QStringList{"eval", q(m_dir.path())} << "config.json: missing";
        QTest::newRow("incompatible checkpoint") << QStringList{"eval", q(m_dir.file("run-mismatch"))}
                                                 << "incompatible checkpoint: head.";
        QTest::newRow("corrupt checkpoint") << QStringList{"eval", q(m_dir.file("run-corrupt"))}
                                            << "not a checkpoint, or truncated";
        QTest::newRow("resume corrupt") << QStringList{"train", "--resume", q(m_dir.file("run-corrupt"))}
                                        << "last.pt";
        QTest::newRow("knn k zero") << QStringList{"knn", "--embeddings", e, "--k", "0", "--out", out} << "--k must be at least 1";
        QTest::newRow("knn missing file") << QStringList{"knn", "--embeddings", q(m_dir.file("none.npy")), "--out", out}
                                          << "cannot open file";
        QTest::newRow("project bad method") << QStringList{"project", "--embeddings", e, "--method", "isomap", "--out", out}
                                            << "--method must be tsne, umap or pca";
        QTest::newRow("umap too few points") << QStringList{"project", "--embeddings", e, "--method", "umap", "--out", out}
                                             << "UMAP with 15 neighbours needs at least 16 points, got 6";
        QTest::newRow("umap NaN") << QStringList{"project", "--embeddings", q(m_dir.file("nan.npy")), "--method", "umap",
                                                 "--neighbors", "3", "--out", out}
                                  << "embeddings contain NaN or infinite values";
        QTest::newRow("umap min_dist above spread")
            << QStringList{"project", "--embeddings", e, "--method", "umap", "--neighbors", "3", "--min-dist", "2",
                           "--out", out}
            << "min_dist must be between 0 and spread";
        QTest::newRow("project bad repulsion") << QStringList{"project", "--embeddings", e, "--repulsion", "exact", "--out", out}
                                               << "--repulsion must be auto, bh or fft";
        QTest::newRow("project bad perplexity") << QStringList{"project", "--embeddings", e, "--perplexity", "0", "--out", out}
                                                << "perplexity must be between 1 and 1000";
        QTest::newRow("project bad labels") << QStringList{"project", "--embeddings", e, "--method", "pca", "--labels",
                                                           q(m_dir.file("y5.npy")), "--quality", "--out", out}
                                            << "one per row";
        auto compare = [&](QStringList extra) {
            return QStringList{"compare", "--iterations", "5", "-P", "4", "-K", "4", "--out", out} + extra;
        };
        QTest::newRow("compare one loss") << compare({"--dataset", d, "--losses", "lifted"}) << "at least two losses";
        QTest::newRow("compare unknown loss") << compare({"--dataset", d, "--losses", "lifted,nope"}) << "unknown loss 'nope'";
        QTest::newRow("compare bad parameter") << compare({"--dataset", d, "--losses", "lifted,triplet:miner=bogus"})
                                               << "'bogus' is not one of";
        QTest::newRow("compare n-pair with K != 2") << compare({"--dataset", d, "--losses", "lifted,n-pair"})
                                                    << "exactly 2 images per class";
        QTest::newRow("compare missing dataset") << compare({"--dataset", "/no/such/folder", "--losses", "lifted,contrastive"})
                                                 << "/no/such/folder: dataset folder does not exist";
        QTest::newRow("tune one trial") << compare({"--dataset", d, "--losses", "lifted,contrastive", "--tune", "1"})
                                        << "--tune takes between 2 and";
        QTest::newRow("tune too few validation classes")
            << compare({"--dataset", d, "--losses", "lifted,contrastive", "--tune", "4", "--validation", "0.05"})
            << "leaves 1 for validation";
        QTest::newRow("tune steps too few") << compare({"--dataset", d, "--losses", "lifted,contrastive", "--tune", "16"})
                                            << "whose first would be shorter than a step";
        QTest::newRow("tune a sweep") << compare({"--dataset", d, "--losses", "lifted,contrastive", "--tune", "4", "--preset", "batch-size"})
                                      << "does not take --sweep or --preset";
        QTest::newRow("sweep without values") << compare({"--dataset", d, "--losses", "lifted", "--sweep", "embedding-dim"})
                                              << "is not of the form field=v1,v2";
        QTest::newRow("sweep the seed") << compare({"--dataset", d, "--losses", "lifted", "--sweep", "seed=1,2"})
                                        << "'seed' cannot be swept";
        QTest::newRow("sweep a bad value") << compare({"--dataset", d, "--losses", "lifted", "--sweep", "embedding-dim=64,1"})
                                           << "embedding size must be between 2 and 4096";
        QTest::newRow("compare no losses") << compare({"--dataset", d}) << "--losses is required";
        QTest::newRow("resume nothing") << QStringList{"compare", "--resume", q(m_dir.file("no-comparison"))}
                                        << "is not a comparison";
        QTest::newRow("run exists") << QStringList{"train", "--dataset", d, "-P", "4", "-K", "4", "--out", q(m_run)} << "already exists";
    }

    void badInputFailsCleanly()
    {
        QFETCH(QStringList, args);
        QFETCH(QString, message);
        const Result r = runCli(args);
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains(message), qPrintable(r.err));
        QCOMPARE(r.err.trimmed().count('\n'), 0); // one line
        QVERIFY(!fs::exists(m_dir.file("must-not-exist")));
    }

    void helpWorksForEverySubcommand()
    {
        for (const QStringList &args : {QStringList{"--help"}, QStringList{"train", "--help"}, QStringList{"eval", "--help"},
                                        QStringList{"embed", "--help"}, QStringList{"metrics", "--help"},
                                        QStringList{"loss", "--help"}, QStringList{"bench", "loss", "--help"},
                                        QStringList{"project", "--help"}, QStringList{"knn", "--help"},
                                        QStringList{"compare", "--help"}, QStringList{"export", "--help"}}) {
            const Result r = runCli(args);
            QCOMPARE(r.code, 0);
            QVERIFY2(r.out.contains("--"), qPrintable(args.join(' ')));
        }
        const Result losses = runCli({"losses"});
        QVERIFY(losses.out.contains("lifted") && losses.out.contains("semi-hard"));
    }

    void embedAndEvalARun()
    {
        const std::string x = m_dir.file("x.npy"), y = m_dir.file("labels.npy");
        Result r = runCli({"embed", q(m_run), "--out", q(x), "--labels-out", q(y)});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const NpyArray e = readNpy(x), l = readNpy(y);
        QCOMPARE(e.shape, (std::vector<int64_t>{80, 64}));
        QCOMPARE(l.shape, (std::vector<int64_t>{80}));
        QCOMPARE(l.toInt64()[13], int64_t(13 % 10));

        // The metrics of the written embeddings are those `eval` reports.
        r = runCli({"metrics", "--embeddings", q(x), "--labels", q(y)});
        QCOMPARE(r.code, 0);
        const QJsonObject m = QJsonDocument::fromJson(r.out.toUtf8()).object();
        QVERIFY(m.contains("recall_at_1") && m.contains("map_at_r") && m.contains("nmi"));
        const Result ev = runCli({"eval", q(m_run)});
        QCOMPARE(ev.code, 0);
        QVERIFY2(ev.out.contains(QString::number(m.value("recall_at_1").toDouble(), 'f', 4)), qPrintable(ev.out));
    }

    // `export --torchscript` writes the run's network: torch.jit.load in
    // Python, given the test images normalised as the file says, gives the
    // embeddings `embed` writes.
    void exportedNetworkEmbedsAsTheRun()
    {
        const std::string model = m_dir.file("model.pt"), expected = m_dir.file("x-export.npy"),
                          got = m_dir.file("x-python.npy");
        Result r = runCli({"export", q(m_run), "--torchscript", q(model)});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("input: float [B, 1, 28, 28]"), qPrintable(r.out));
        r = runCli({"embed", q(m_run), "--out", q(expected)});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const QString failure = liftlab::testing::python(
            {QStringLiteral("-c"),
             QStringLiteral("import gzip, sys, numpy, torch\n"
                            "m = torch.jit.load(sys.argv[1])\n"
                            "pixels = gzip.open(sys.argv[2]).read()[16:]\n"
                            "x = torch.from_numpy(numpy.frombuffer(pixels, numpy.uint8).copy()).float().view(-1, 1, 28, 28) / 255\n"
                            "x = (x - m.input_mean.view(1, -1, 1, 1)) / m.input_std.view(1, -1, 1, 1)\n"
                            "with torch.no_grad():\n"
                            "    numpy.save(sys.argv[3], m(x).numpy())\n"),
             q(model), q(m_data + "/t10k-images-idx3-ubyte.gz"), q(got)});
        QVERIFY2(failure.isEmpty(), qPrintable(failure));
        const NpyArray a = readNpy(expected), b = readNpy(got);
        QCOMPARE(b.shape, a.shape);
        const std::vector<float> x = a.toFloats(), y = b.toFloats();
        float worst = 0;
        for (size_t i = 0; i < x.size(); ++i)
            worst = std::max(worst, std::abs(x[i] - y[i]));
        QVERIFY2(worst < 1e-4f, qPrintable(QString::number(worst)));

        r = runCli({"export", q(m_dir.file("no-such-run")), "--torchscript", q(model)});
        QCOMPARE(r.code, 2);
    }

    void compareTrainsEachLossAsAlone()
    {
        // Three losses on the same data, seed and batches (one with learned
        // proxies); each compared run must equal the same loss trained alone.
        const QStringList common{"--dataset", q(m_data), "--iterations", "12", "-P", "4", "-K", "4", "--threads", "2"};
        const std::string folder = m_dir.file("comparison");
        Result r = runCli(QStringList{"compare", "--losses", "lifted,triplet:miner=batch-hard:margin=0.2,proxy-anchor:alpha=16",
                                      "--out", q(folder)}
                          + common);
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        QVERIFY2(r.out.contains("triplet:miner=batch-hard:margin=0.2") && r.out.contains("MAP@R"), qPrintable(r.out));
        for (const char *file : {"comparison.json", "results.csv", "results.md", "01-lifted/eval.jsonl",
                                 "02-triplet-miner-batch-hard-margin-0.2/eval.jsonl", "03-proxy-anchor-alpha-16/eval.jsonl"})
            QVERIFY2(fs::exists(fs::path(folder) / file), file);
        QCOMPARE(readText(fs::path(folder) / "results.csv").count('\n'), 4); // header and three rows

        const std::vector<std::pair<std::string, QStringList>> alone = {
            {"02-triplet-miner-batch-hard-margin-0.2", {"--loss", "triplet", "--param", "miner=batch-hard", "--margin", "0.2"}},
            {"03-proxy-anchor-alpha-16", {"--loss", "proxy-anchor", "--param", "alpha=16"}},
        };
        for (const auto &[name, args] : alone) {
            const std::string out = m_dir.file(name + "-alone");
            r = runCli(QStringList{"train", "--out", q(out)} + args + common);
            QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
            const fs::path compared = fs::path(folder) / name;
            // The same losses step by step, and the same final evaluation.
            QCOMPARE(column(compared / "metrics.jsonl", "loss"), column(fs::path(out) / "metrics.jsonl", "loss"));
            for (const char *metric : {"recall_at_1", "map_at_r", "nmi"})
                QCOMPARE(column(compared / "eval.jsonl", metric), column(fs::path(out) / "eval.jsonl", metric));
            // The same batches for all compared losses: the last batch's images.
            const QJsonObject a = readJson(fs::path(folder) / "01-lifted" / "snapshot.json");
            const QJsonObject b = readJson(compared / "snapshot.json");
            QVERIFY(!a.value("indices").toArray().isEmpty());
            QCOMPARE(a.value("indices").toArray(), b.value("indices").toArray());
            QCOMPARE(a.value("step").toInteger(), b.value("step").toInteger());
        }
    }

    // A tuning killed (SIGKILL) in the middle of a trial and resumed with
    // `compare --resume` makes the same choices as one never interrupted.
    void aKilledTuningResumesToTheSameChoice()
    {
        const QStringList options = {"compare", "--dataset", q(m_data), "--losses", "lifted,contrastive", "-P", "4",
                                     "-K", "4", "--tune", "4", "--validation", "0.3", "--iterations", "64",
                                     "--threads", "2"};
        const std::string killed = m_dir.file("tune-killed"), straight = m_dir.file("tune-straight");
        QProcess p;
        p.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        p.start(qEnvironmentVariable("LIFTLAB_CLI", "liftlab-cli"), options + QStringList{"--out", q(killed)});
        QVERIFY(p.waitForStarted());
        const std::string second = killed + "/trials/01-lifted/trial-02/metrics.jsonl";
        QTRY_VERIFY_WITH_TIMEOUT(fs::exists(second) && fs::file_size(second) > 0, 120000);
        QCOMPARE(p.state(), QProcess::Running); // killed mid-tuning, not after it
        p.kill();
        QVERIFY(p.waitForFinished());
        QVERIFY(!fs::exists(killed + "/tuned.json"));
        const Result resumed = runCli({"compare", "--resume", q(killed)});
        QVERIFY2(resumed.code == 0, qPrintable(resumed.out + resumed.err));
        QVERIFY2(resumed.out.contains("Tuned on the validation classes"), qPrintable(resumed.out));
        const Result whole = runCli(options + QStringList{"--out", q(straight)});
        QVERIFY2(whole.code == 0, qPrintable(whole.out + whole.err));
        const QJsonObject a = QJsonDocument::fromJson(readText(killed + "/tuned.json").toUtf8()).object();
        const QJsonObject b = QJsonDocument::fromJson(readText(straight + "/tuned.json").toUtf8()).object();
        QCOMPARE(a.value("losses").toArray().size(), 2);
        QCOMPARE(a, b);
        // And the tuned comparison's results too.
        auto metrics = [](const std::string &csv) { // every row without its timings (the last two columns)
            QStringList rows;
            for (const QString &line : readText(csv).split('\n', Qt::SkipEmptyParts))
                rows.append(line.section(',', 0, -3));
            return rows;
        };
        QCOMPARE(metrics(killed + "/test/results.csv").size(), 3);
        QCOMPARE(metrics(killed + "/test/results.csv"), metrics(straight + "/test/results.csv"));
    }

    void metricsOfPerfectClusters()
    {
        const Result r = runCli({"metrics", "--embeddings", q(m_dir.file("e.npy")), "--labels", q(m_dir.file("y.npy"))});
        QCOMPARE(r.code, 0);
        const QJsonObject m = QJsonDocument::fromJson(r.out.toUtf8()).object();
        QCOMPARE(m.value("recall_at_1").toDouble(), 1.0);
        QCOMPARE(m.value("map_at_r").toDouble(), 1.0);
        QCOMPARE(m.value("nmi").toDouble(), 1.0);
    }

    void lossMatchesTheLibrary()
    {
        torch::manual_seed(5);
        const torch::Tensor x = torch::randn({16, 8}, torch::kFloat64) * 0.3;
        const torch::Tensor labels = torch::arange(4, torch::kInt64).repeat_interleave(4);
        const std::string xp = m_dir.file("batch.npy"), yp = m_dir.file("batch-labels.npy");
        NpyArray a;
        a.type = NpyArray::Type::Float64;
        a.shape = {16, 8};
        a.bytes.assign(reinterpret_cast<const char *>(x.data_ptr<double>()),
                       reinterpret_cast<const char *>(x.data_ptr<double>()) + 16 * 8 * 8);
        writeNpy(xp, a);
        writeNpy(yp, npyFromInt64({16}, labels.data_ptr<int64_t>()));

        const Result r = runCli({"loss", "--embeddings", q(xp), "--labels", q(yp), "--loss", "triplet", "--param",
                                 "miner=batch-hard", "--margin", "0.7"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const QJsonObject o = QJsonDocument::fromJson(r.out.toUtf8()).object();
        const torch::Tensor e = x.clone().requires_grad_(true);
        const LossOutput out = createLoss("triplet", {{"miner", "batch-hard"}, {"margin", "0.7"}})->compute(e, labels);
        out.loss.backward();
        QCOMPARE(o.value("loss").toDouble(), out.loss.item<double>());
        QCOMPARE(o.value("grad_norm").toDouble(), e.grad().norm().item<double>());
    }

    // knn against brute force; distances exact; self excluded.
    void knnMatchesBruteForce()
    {
        torch::manual_seed(9);
        const torch::Tensor x = torch::randn({300, 5});
        const std::string xp = m_dir.file("knn-x.npy"), ip = m_dir.file("knn-i.npy"), dp = m_dir.file("knn-d.npy");
        writeFloats(xp, {300, 5}, std::vector<float>(x.data_ptr<float>(), x.data_ptr<float>() + x.numel()));
        const Result r = runCli({"knn", "--embeddings", q(xp), "--k", "7", "--out", q(ip), "--distances-out", q(dp)});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(QJsonDocument::fromJson(r.out.toUtf8()).object().value("k").toInt(), 7);
        const std::vector<int64_t> indices = readNpy(ip).toInt64();
        const std::vector<float> distances = readNpy(dp).toFloats();
        QCOMPARE(int(indices.size()), 300 * 7);
        torch::Tensor d = torch::cdist(x.to(torch::kFloat64), x.to(torch::kFloat64));
        d.fill_diagonal_(INFINITY);
        const auto [best, order] = d.topk(7, 1, false, true);
        for (int64_t i = 0; i < 300; ++i)
            for (int64_t j = 0; j < 7; ++j) {
                QCOMPARE(indices[size_t(i * 7 + j)], order[i][j].item<int64_t>());
                QVERIFY(std::abs(distances[size_t(i * 7 + j)] - best[i][j].item<double>()) < 1e-5);
            }
    }

    // project writes [N, 2] (or [N, components] for PCA) and reports quality.
    void projectWritesCoordinates()
    {
        // Three well-separated clusters in 6-D.
        std::vector<float> values;
        std::vector<int64_t> labels;
        std::mt19937 rng(4);
        std::normal_distribution<float> noise(0, 1);
        for (int c = 0; c < 3; ++c)
            for (int i = 0; i < 40; ++i) {
                for (int j = 0; j < 6; ++j)
                    values.push_back(float(20 * (j == c)) + noise(rng));
                labels.push_back(c);
            }
        const std::string xp = m_dir.file("proj-x.npy"), yp = m_dir.file("proj-y.npy"), out = m_dir.file("proj-out.npy");
        writeFloats(xp, {120, 6}, values);
        writeLabels(yp, labels);
        Result r = runCli({"project", "--embeddings", q(xp), "--method", "pca", "--components", "3", "--out", q(out)});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(readNpy(out).shape, (std::vector<int64_t>{120, 3}));
        r = runCli({"project", "--embeddings", q(xp), "--iterations", "500", "--perplexity", "10", "--labels", q(yp),
                    "--quality", "--out", q(out)});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(readNpy(out).shape, (std::vector<int64_t>{120, 2}));
        const QJsonObject o = QJsonDocument::fromJson(r.out.toUtf8()).object();
        QCOMPARE(o.value("one_nn_accuracy").toDouble(), 1.0);
        QVERIFY(o.value("kl_divergence").toDouble() > 0);
        QVERIFY(r.err.contains("t-SNE iteration 500/500"));
    }

    void benchLossPrintsJson()
    {
        const Result r = runCli({"bench", "loss", "--batch", "32", "--dim", "16", "--repeat", "3"});
        QCOMPARE(r.code, 0);
        const QJsonObject o = QJsonDocument::fromJson(r.out.toUtf8()).object();
        QVERIFY(o.value("median_ms").toDouble() > 0);
        QCOMPARE(o.value("batch").toInt(), 32);
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
