// Compare mode end to end on the offscreen platform: a comparison of a few
// losses on a tiny synthetic dataset, started from the comparison window,
// trains its runs in turns on one worker and fills the overlaid charts, the
// side-by-side heatmaps (the same batch for every loss), the results table,
// the t-SNE panels with linked selection and the retrieval rows; the folder
// opens again with the same table; results export as CSV and Markdown; a
// stop or a closed window mid-comparison leaves readable runs; bad input
// ends in a message.
#include "charts/bandchart.h"
#include "charts/losschart.h"
#include "charts/metricschart.h"
#include "compare/comparisonembeddings.h"
#include "compare/comparisonheatmaps.h"
#include "compare/comparisonretrieval.h"
#include "compare/comparisonsession.h"
#include "compare/comparisontablemodel.h"
#include "compare/comparisonwindow.h"
#include "compare/tuningview.h"
#include "experiment/experimentpanel.h"
#include "experiment/lossform.h"
#include "explorer/embeddingview.h"
#include "explorer/explorercontext.h"
#include "explorer/retrievalbrowser.h"
#include "heatmap/heatmapwidget.h"
#include "runs/runlistmodel.h"
#include "shell/mainwindow.h"

#include "train/comparison.h"
#include "train/rundirectory.h"
#include "train/trainer.h"
#include "train/tuning.h"

#include "testdata.h"

#include <QAction>
#include <QFileInfo>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QLineSeries>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QStandardPaths>
#include <QTableView>
#include <QTest>

#include <filesystem>
#include <map>
#include <memory>

using namespace liftlab;
using liftlab::testing::TempDir;
using liftlab::testing::child;

namespace fs = std::filesystem;

namespace {

constexpr int kTimeoutMs = 300000; // generous: two shared cores

LossChoice choice(const std::string &name, std::map<std::string, std::string> params = {})
{
    std::string label = name;
    for (const auto &[k, v] : params)
        label += ":" + k + "=" + v;
    return {name, params, label, {}};
}

// What a comparison sends, by run.
struct Recorder
{
    explicit Recorder(ComparisonSession *session)
    {
        QObject::connect(session, &ComparisonSession::snapshotReady, [this](int run, const SnapshotFrame &frame) {
            snapshots[run][frame.snapshot.step] = frame.snapshot.indices;
        });
        QObject::connect(session, &ComparisonSession::stepsReady, [this](int run, const QVector<TrainingStep> &steps) {
            lastStep[run] = steps.back().step;
        });
        QObject::connect(session, &ComparisonSession::finished, [this](bool c) {
            ended = true;
            cancelled = c;
        });
        QObject::connect(session, &ComparisonSession::failed, [this](const QString &message) {
            ended = true;
            failure = message;
        });
        QObject::connect(session, &ComparisonSession::runFailed, [this](int run, const QString &message) {
            failedRuns.push_back(run);
            failure = message;
        });
    }
    std::vector<int> failedRuns;
    std::map<int, std::map<int64_t, std::vector<int64_t>>> snapshots; // run -> step -> batch indices
    std::map<int, int64_t> lastStep;
    bool ended = false, cancelled = false;
    QString failure;
};

QMessageBox *errorDialog(QWidget &window)
{
    return window.findChild<QMessageBox *>(QStringLiteral("errorDialog"));
}

QStringList comparisonFolders(const QString &workspace)
{
    return QDir(workspace).entryList({QStringLiteral("compare-*")}, QDir::Dirs);
}

} // namespace

class TestCompareGui : public QObject
{
    Q_OBJECT

    TempDir m_dir;
    std::string m_data;
    QString m_workspace;
    QString m_finished; // the comparison folder of the first test

    ExperimentConfig tinyConfig(int64_t iterations) const
    {
        ExperimentConfig c;
        c.dataset = m_data;
        c.split = "seen";
        c.classesPerBatch = 4;
        c.perClass = 4;
        c.iterations = iterations;
        c.evalEvery = 10;
        c.checkpointEvery = 10;
        c.threads = 2;
        c.learningRate = 3e-3;
        return c;
    }

    std::unique_ptr<MainWindow> newWindow(const ExperimentConfig &config)
    {
        auto w = std::make_unique<MainWindow>();
        w->experimentPanel()->setConfig(config);
        w->showComparison();
        return w;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("LiftLab"));
        QCoreApplication::setApplicationName(QStringLiteral("LiftLabCompareTest"));
        QSettings().clear();
        m_data = m_dir.file("data");
        liftlab::testing::writeSyntheticIdx(m_data, 10, 30, 10);
        m_workspace = QString::fromStdString(m_dir.file("workspace"));
        qputenv("LIFTLAB_WORKSPACE", m_workspace.toUtf8());
    }

    void comparisonRunsToTheEndAndFillsEveryView()
    {
        ExperimentConfig config = tinyConfig(30);
        config.checkpointEvery = 0; // snapshots only from the comparison's schedule (and the end)
        auto w = newWindow(config);
        ComparisonWindow *c = w->comparisonWindow();
        c->setLosses({choice("lifted"), choice("contrastive"), choice("triplet", {{"miner", "semi-hard"}})});
        QCOMPARE(c->validationError(), QString());
        Recorder r(c->session());
        QSignalSpy projected(child<ComparisonEmbeddings>(c, "comparisonEmbeddings"), &ComparisonEmbeddings::projectionsFinished);
        c->startComparison();
        QVERIFY(c->session()->isRunning());
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, kTimeoutMs);
        QVERIFY2(r.failure.isEmpty(), qPrintable(r.failure));
        QVERIFY(!r.cancelled);
        m_finished = c->folder();
        QVERIFY(QFileInfo(m_finished).fileName().startsWith(QStringLiteral("compare-")));

        // Overlaid curves: every step of every run, three evaluations each.
        child<LossChart>(c, "comparisonLossChart")->refresh();
        QCOMPARE(child<LossChart>(c, "comparisonLossChart")->runCount(), 3);
        for (int run = 0; run < 3; ++run) {
            QCOMPARE(child<LossChart>(c, "comparisonLossChart")->stepCount(run), 30);
            QCOMPARE(child<LossChart>(c, "comparisonLossChart")->smoothedSeries(run)->count(), 30);
            QCOMPARE(child<MetricsChart>(c, "comparisonMetricsChart")->reportCount(run), 3);
            QCOMPARE(child<MetricsChart>(c, "comparisonMetricsChart")->series(MetricsChart::Recall1, run)->count(), 3);
            QCOMPARE(child<MetricsChart>(c, "comparisonMetricsChart")->series(MetricsChart::MapAtR, run)->count(), 3);
        }
        QCOMPARE(child<LossChart>(c, "comparisonLossChart")->smoothedSeries(2)->name(), QStringLiteral("triplet:miner=semi-hard"));
        // Divided by its first value, each curve starts at 1; undivided, at the loss itself.
        child<LossChart>(c, "comparisonLossChart")->setSmoothing(0);
        child<LossChart>(c, "comparisonLossChart")->setNormalized(true);
        for (int run = 0; run < 3; ++run)
            QCOMPARE(child<LossChart>(c, "comparisonLossChart")->smoothedSeries(run)->at(0).y(), 1.0);
        child<LossChart>(c, "comparisonLossChart")->setNormalized(false);
        const Comparison written = Comparison::open(m_finished.toStdString());
        for (int run = 0; run < 3; ++run) {
            const auto steps = RunDirectory::readSteps((fs::path(written.runPath(size_t(run))) / "metrics.jsonl").string());
            QCOMPARE(int(steps.size()), 30);
            QCOMPARE(child<LossChart>(c, "comparisonLossChart")->smoothedSeries(run)->at(0).y(), steps.front().loss);
        }

        // Identical batches: the same snapshot steps, the same images at each.
        QCOMPARE(int(r.snapshots.size()), 3);
        QCOMPARE(int(r.snapshots[0].size()), 30 / ComparisonSession::kStepsPerTurn); // steps 10, 20, 30
        for (int run = 1; run < 3; ++run)
            QCOMPARE(r.snapshots[run], r.snapshots[0]);
        // The heatmaps show that same last batch side by side.
        QCOMPARE(child<ComparisonHeatmaps>(c, "comparisonHeatmaps")->shownStep(), int64_t(30));
        for (int run = 0; run < 3; ++run) {
            const HeatmapWidget *h = child<ComparisonHeatmaps>(c, "comparisonHeatmaps")->heatmap(run);
            QVERIFY(h->hasFrame());
            QCOMPARE(h->frame().snapshot.step, int64_t(30));
            QCOMPARE(h->frame().snapshot.indices, child<ComparisonHeatmaps>(c, "comparisonHeatmaps")->heatmap(0)->frame().snapshot.indices);
            QCOMPARE(h->frame().images.size(), 16);
        }
        // Different losses moved the network differently.
        QVERIFY(child<ComparisonHeatmaps>(c, "comparisonHeatmaps")->heatmap(0)->frame().snapshot.distances
                != child<ComparisonHeatmaps>(c, "comparisonHeatmaps")->heatmap(1)->frame().snapshot.distances);
        // Each heatmap spans its own distances, or all share one scale.
        ComparisonHeatmaps *heatmaps = child<ComparisonHeatmaps>(c, "comparisonHeatmaps");
        float low = std::numeric_limits<float>::infinity(), high = -low;
        for (int run = 0; run < 3; ++run) {
            QCOMPARE(heatmaps->heatmap(run)->colourMax(), heatmaps->heatmap(run)->dataMax());
            low = std::min(low, heatmaps->heatmap(run)->dataMin());
            high = std::max(high, heatmaps->heatmap(run)->dataMax());
        }
        child<QCheckBox>(c, "sharedScaleBox")->setChecked(true);
        for (int run = 0; run < 3; ++run) {
            QCOMPARE(heatmaps->heatmap(run)->colourMin(), low);
            QCOMPARE(heatmaps->heatmap(run)->colourMax(), high);
        }
        child<QCheckBox>(c, "sharedScaleBox")->setChecked(false);
        QCOMPARE(heatmaps->heatmap(1)->colourMax(), heatmaps->heatmap(1)->dataMax());

        // The results table, complete once the runs have finished.
        const std::vector<ComparisonRow> &rows = child<ComparisonTableModel>(c, "comparisonTableModel")->rows();
        QCOMPARE(int(rows.size()), 3);
        for (const ComparisonRow &row : rows) {
            QCOMPARE(row.step, int64_t(30));
            QVERIFY(row.metrics.recallAt1 > 0 && row.metrics.recallAt1 <= 1);
            QVERIFY(row.metrics.recallAt8 >= row.metrics.recallAt1);
            QVERIFY(row.imagesPerSec > 0);
            QVERIFY(row.trainSeconds > 0);
        }
        QCOMPARE(child<QTableView>(c, "comparisonTable")->model()->rowCount(), 3);
        QCOMPARE(child<QTableView>(c, "comparisonTable")->model()->data(child<QTableView>(c, "comparisonTable")->model()->index(0, 0)).toString(),
                 QStringLiteral("lifted"));
        // Sorting by Recall@1 (descending) orders the rows by the number.
        child<QTableView>(c, "comparisonTable")->sortByColumn(ComparisonTableModel::R1, Qt::DescendingOrder);
        QAbstractItemModel *sorted = child<QTableView>(c, "comparisonTable")->model();
        for (int row = 1; row < 3; ++row)
            QVERIFY(sorted->data(sorted->index(row - 1, ComparisonTableModel::R1), ComparisonTableModel::SortRole)
                        .toDouble()
                    >= sorted->data(sorted->index(row, ComparisonTableModel::R1), ComparisonTableModel::SortRole)
                           .toDouble());
        // As the CLI leaves them.
        QVERIFY(QFileInfo::exists(QDir(m_finished).filePath(QStringLiteral("results.csv"))));
        QVERIFY(QFileInfo::exists(QDir(m_finished).filePath(QStringLiteral("results.md"))));

        // t-SNE of each run, the same points and colours, selection linked.
        // (started again when the runs ended, on the last step's embeddings)
        QCOMPARE(child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->runCount(), 3);
        QTRY_VERIFY_WITH_TIMEOUT(projected.count() > 0 && !child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->isComputing()
                                     && child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->shownStep(0) == 30 && child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->shownStep(1) == 30
                                     && child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->shownStep(2) == 30,
                                 kTimeoutMs);
        for (int run = 0; run < 3; ++run) {
            QCOMPARE(child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->view(run)->pointCount(), 100); // all 100 test images
            QCOMPARE(child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->view(run)->labels(), child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->view(0)->labels());
        }
        QVERIFY(child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->view(0)->coordinates().values != child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->view(1)->coordinates().values);
        const QVector<int> picked{3, 14, 15, 92};
        child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->view(1)->setSelection(picked);
        Q_EMIT child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->view(1)->selectionChanged(picked); // as a rubber band or lasso does
        QCOMPARE(child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->view(0)->selection(), picked);
        QCOMPARE(child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->view(2)->selection(), picked);

        // UMAP instead: the panels follow, the same points.
        {
            ComparisonEmbeddings *embeddings = child<ComparisonEmbeddings>(c, "comparisonEmbeddings");
            const std::vector<float> tsneLayout = embeddings->view(0)->coordinates().values;
            const int before = int(projected.count());
            embeddings->setMethod(QStringLiteral("umap"));
            QTRY_VERIFY_WITH_TIMEOUT(projected.count() > before && !embeddings->isComputing(), kTimeoutMs);
            QCOMPARE(embeddings->view(0)->pointCount(), 100);
            QVERIFY(embeddings->view(0)->coordinates().values != tsneLayout);
            QCOMPARE(embeddings->view(2)->labels(), embeddings->view(0)->labels());
        }

        // One query, its neighbours under each loss in parallel rows.
        child<ComparisonRetrieval>(c, "comparisonRetrieval")->setQueryIndex(42);
        QCOMPARE(child<ComparisonRetrieval>(c, "comparisonRetrieval")->runCount(), 3);
        for (int run = 0; run < 3; ++run) {
            RetrievalBrowser *b = child<ComparisonRetrieval>(c, "comparisonRetrieval")->browser(run);
            QTRY_COMPARE_WITH_TIMEOUT(int(b->results().size()), 10, kTimeoutMs);
            QCOMPARE(b->queryIndex(), qint64(42));
            for (const RetrievalBrowser::Result &result : b->results())
                QVERIFY(result.index != 42); // itself excluded
        }
        // A point clicked in the t-SNE becomes the query of every row.
        Q_EMIT child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->view(0)->pointActivated(7);
        for (int run = 0; run < 3; ++run)
            QCOMPARE(child<ComparisonRetrieval>(c, "comparisonRetrieval")->browser(run)->queryIndex(), child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->testIndex(7));
    }

    void sampledPointsNameTheImagesTheyQuery()
    {
        // More test images than a panel projects: the panels show every
        // third one, and each point must name and query its own image.
        const int64_t n = 2 * ComparisonEmbeddings::kMaxPoints + 1;
        std::vector<int64_t> labels(static_cast<size_t>(n));
        Matrix embedding{n, 4, std::vector<float>(size_t(n) * 4)};
        for (int64_t i = 0; i < n; ++i) {
            labels[size_t(i)] = i % 5;
            for (int d = 0; d < 4; ++d)
                embedding.values[size_t(i * 4 + d)] = float((i * 7 + d * 13) % 17);
        }
        ExplorerContext first, second;
        for (ExplorerContext *context : {&first, &second}) {
            context->setData(labels, {}, {"a", "b", "c", "d", "e"}, [](Subset, int64_t) { return QImage(); });
            context->setEmbedding(100, embedding);
        }
        ComparisonEmbeddings panels;
        panels.setRuns({QStringLiteral("lifted"), QStringLiteral("triplet")}, {&first, &second});
        panels.compute();
        QSignalSpy queried(&panels, &ComparisonEmbeddings::queryRequested);
        const int point = 5;
        QCOMPARE(panels.pointCount(), int((n + 2) / 3));
        for (int run = 0; run < 2; ++run) {
            QCOMPARE(panels.view(run)->imageIndex(point), int64_t(3 * point)); // named on the hover card
            Q_EMIT panels.view(run)->pointActivated(point);
            QCOMPARE(queried.takeFirst().at(0).toLongLong(), panels.view(run)->imageIndex(point));
        }
        panels.shutdown();
    }

    void retrievalRowsFillWhicheverRunLoadsFirst()
    {
        QVERIFY2(!m_finished.isEmpty(), "needs the comparison of the test before");
        const Comparison comparison = Comparison::open(m_finished.toStdString());
        ExplorerContext first, second;
        ComparisonRetrieval retrieval;
        retrieval.setRuns({QStringLiteral("a"), QStringLiteral("b")}, {&first, &second});
        // The second row's run loads before the first's.
        QSignalSpy secondLoaded(&second, &ExplorerContext::embeddingChanged);
        second.openRun(QString::fromStdString(comparison.runPath(1)));
        QTRY_VERIFY_WITH_TIMEOUT(secondLoaded.count() > 0, kTimeoutMs);
        first.openRun(QString::fromStdString(comparison.runPath(0)));
        for (int run = 0; run < 2; ++run) {
            QTRY_COMPARE_WITH_TIMEOUT(int(retrieval.browser(run)->results().size()), 10, 60000);
            QCOMPARE(retrieval.browser(run)->queryIndex(), qint64(0));
        }
    }

    void comparisonsAreListedWithTheRuns()
    {
        QVERIFY2(!m_finished.isEmpty(), "needs the comparison of the test before");
        RunListModel runs;
        runs.setWorkspace(QFileInfo(m_finished).absolutePath());
        const int row = runs.rowOf(m_finished);
        QVERIFY(row >= 0);
        const QModelIndex name = runs.index(row, RunListModel::NameColumn);
        QVERIFY(name.data(RunListModel::ComparisonRole).toBool());
        QVERIFY(!(runs.flags(name) & Qt::ItemIsUserCheckable)); // its runs are drawn in the comparison window
        const QString losses = runs.index(row, RunListModel::LossColumn).data().toString();
        QVERIFY2(losses.startsWith(QStringLiteral("comparison: lifted")), qPrintable(losses));
        QCOMPARE(runs.index(row, RunListModel::StateColumn).data().toString(), QStringLiteral("finished"));
    }

    void reopeningShowsTheSameTable()
    {
        QVERIFY2(!m_finished.isEmpty(), "needs the comparison of the test before");
        const Comparison comparison = Comparison::open(m_finished.toStdString());
        const std::string expected = comparisonCsv(comparisonResults(comparison));

        MainWindow w;
        QVERIFY(w.openComparison(m_finished));
        ComparisonWindow *c = w.comparisonWindow();
        QVERIFY(c->isVisible());
        QCOMPARE(c->folder(), m_finished);
        QCOMPARE(comparisonCsv(child<ComparisonTableModel>(c, "comparisonTableModel")->rows()), expected);
        QCOMPARE(c->lossCount(), 3); // the forms show the compared losses
        QCOMPARE(c->losses().at(2).name, std::string("triplet"));
        QCOMPARE(c->losses().at(2).params.at("miner"), std::string("semi-hard"));
        for (int run = 0; run < 3; ++run) {
            QCOMPARE(child<LossChart>(c, "comparisonLossChart")->stepCount(run), 30);
            QCOMPARE(child<MetricsChart>(c, "comparisonMetricsChart")->reportCount(run), 3);
            QVERIFY(child<ComparisonHeatmaps>(c, "comparisonHeatmaps")->heatmap(run)->hasFrame());
            QCOMPARE(child<ComparisonHeatmaps>(c, "comparisonHeatmaps")->heatmap(run)->frame().snapshot.step, int64_t(30));
        }
        QTRY_VERIFY_WITH_TIMEOUT(child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->view(2)->pointCount() == 100 && !child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->isComputing(),
                                 kTimeoutMs);
        // Once the dataset has loaded, the heatmaps from disk gain the batch's images and class names.
        for (int run = 0; run < 3; ++run) {
            const SnapshotFrame &frame = child<ComparisonHeatmaps>(c, "comparisonHeatmaps")->heatmap(run)->frame();
            QCOMPARE(frame.images.size(), 16);
            QVERIFY(!frame.images.first().isNull());
            QCOMPARE(frame.classNames.size(), 10);
        }
    }

    void exportWritesCsvAndMarkdown()
    {
        QVERIFY2(!m_finished.isEmpty(), "needs the comparison of the first test");
        MainWindow w;
        QVERIFY(w.openComparison(m_finished));
        ComparisonWindow *c = w.comparisonWindow();
        const QString csv = QString::fromStdString(m_dir.file("results.csv"));
        const QString md = QString::fromStdString(m_dir.file("results.md"));
        QVERIFY(c->exportCsv(csv));
        QVERIFY(c->exportMarkdown(md));
        QFile csvFile(csv), mdFile(md);
        QVERIFY(csvFile.open(QIODevice::ReadOnly));
        QVERIFY(mdFile.open(QIODevice::ReadOnly));
        const QByteArray csvText = csvFile.readAll(), mdText = mdFile.readAll();
        QCOMPARE(csvText.toStdString(), comparisonCsv(child<ComparisonTableModel>(c, "comparisonTableModel")->rows()));
        QVERIFY(csvText.startsWith("loss,seed,step,R@1,R@2,R@4,R@8,MAP@R"));
        QCOMPARE(csvText.count('\n'), 4); // header and three losses
        QCOMPARE(mdText.toStdString(), comparisonMarkdown(child<ComparisonTableModel>(c, "comparisonTableModel")->rows()));
        QVERIFY(mdText.contains("| triplet:miner=semi-hard |"));
        // A folder that cannot be written to: a message, not a crash.
        QVERIFY(!c->exportCsv(QString::fromStdString(m_dir.file("no/such/folder/results.csv"))));
        QTRY_VERIFY(errorDialog(*c) && errorDialog(*c)->isVisible());
    }

    void stopMidComparisonKeepsRunsReadable_data()
    {
        QTest::addColumn<bool>("closeWindow");
        QTest::newRow("stop") << false;
        QTest::newRow("close the window") << true;
    }

    void stopMidComparisonKeepsRunsReadable()
    {
        QFETCH(bool, closeWindow);
        auto w = newWindow(tinyConfig(100000));
        ComparisonWindow *c = w->comparisonWindow();
        c->setLosses({choice("lifted"), choice("multi-similarity")});
        Recorder r(c->session());
        c->startComparison();
        const QString folder = c->folder();
        // Both runs under way (a turn is a few steps).
        QTRY_VERIFY_WITH_TIMEOUT(r.lastStep.count(1) && r.lastStep[1] >= 2, kTimeoutMs);
        if (closeWindow) {
            w->close(); // stops and waits for the checkpoints
        } else {
            child<QAction>(c, "stopComparisonAction")->trigger();
            QTRY_VERIFY_WITH_TIMEOUT(r.ended, kTimeoutMs);
            QVERIFY2(r.failure.isEmpty(), qPrintable(r.failure));
            QVERIFY(r.cancelled);
        }
        const Comparison comparison = Comparison::open(folder.toStdString());
        for (size_t i = 0; i < 2; ++i) {
            const std::string run = comparison.runPath(i);
            QVERIFY(fs::exists(fs::path(run) / "checkpoints" / "last.pt"));
            RunDirectory::open(run); // throws if unreadable
            const std::vector<TrainingStep> steps = RunDirectory::readSteps((fs::path(run) / "metrics.jsonl").string());
            QVERIFY(!steps.empty());
            std::unique_ptr<Trainer> resumed = Trainer::resume(run);
            QCOMPARE(resumed->step(), steps.back().step); // nothing lost
            QVERIFY(resumed->step() < 100000);
        }
        QCOMPARE(int(comparisonResults(comparison).size()), 2);
        if (!closeWindow) { // the stopped comparison opens like a finished one
            QVERIFY(c->openComparison(folder));
            QCOMPARE(child<LossChart>(c, "comparisonLossChart")->runCount(), 2);
            QVERIFY(child<LossChart>(c, "comparisonLossChart")->stepCount(0) > 0);
        }
    }

    void aFailingRunLeavesTheOthersGoingOn()
    {
        auto w = newWindow(tinyConfig(60));
        ComparisonWindow *c = w->comparisonWindow();
        c->setLosses({choice("lifted"), choice("contrastive")});
        Recorder r(c->session());
        c->startComparison();
        QTRY_VERIFY_WITH_TIMEOUT(r.lastStep.count(1) && r.lastStep[1] >= 2, kTimeoutMs);
        // The contrastive run's folder goes (a disk unmounted, say): its next
        // checkpoint cannot be written. Moved away in one step, as the run
        // may be writing into it.
        const std::string doomed = Comparison::open(c->folder().toStdString()).runPath(1);
        fs::rename(doomed, doomed + "-gone");
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, kTimeoutMs);
        QVERIFY2(!r.cancelled, "the comparison was not stopped");
        QCOMPARE(r.failedRuns, std::vector<int>{1});
        QCOMPARE(r.lastStep[0], int64_t(60)); // lifted trained to the end
        QVERIFY(r.lastStep[1] < 60);
        QTRY_VERIFY(errorDialog(*c) && errorDialog(*c)->isVisible());
        QVERIFY2(errorDialog(*c)->text().contains(QStringLiteral("contrastive")), qPrintable(errorDialog(*c)->text()));
        QVERIFY2(errorDialog(*c)->text().contains(QString::fromStdString(doomed)), qPrintable(errorDialog(*c)->text()));
        const std::string kept = Comparison::open(c->folder().toStdString()).runPath(0);
        QCOMPARE(Trainer::resume(kept)->step(), int64_t(60));
    }

    void tsneAndRetrievalFollowTheEvaluations()
    {
        auto w = newWindow(tinyConfig(100000));
        ComparisonWindow *c = w->comparisonWindow();
        c->setLosses({choice("lifted"), choice("contrastive")});
        Recorder r(c->session());
        c->startComparison();
        // Both runs past their first evaluation (step 10), then held there.
        QTRY_VERIFY_WITH_TIMEOUT(r.lastStep.count(1) && r.lastStep[1] >= 12, kTimeoutMs);
        child<QAction>(c, "pauseComparisonAction")->setChecked(true);
        for (int run = 0; run < 2; ++run) {
            QTRY_VERIFY_WITH_TIMEOUT(child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->shownStep(run) >= 10, kTimeoutMs);
            QTRY_COMPARE_WITH_TIMEOUT(int(child<ComparisonRetrieval>(c, "comparisonRetrieval")->browser(run)->results().size()), 10, kTimeoutMs);
        }
        QTRY_VERIFY_WITH_TIMEOUT(!child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->isComputing(), kTimeoutMs);
        QCOMPARE(child<ComparisonEmbeddings>(c, "comparisonEmbeddings")->view(0)->pointCount(), 100);
        QVERIFY(r.lastStep[0] < 100000);
        child<QAction>(c, "stopComparisonAction")->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, kTimeoutMs);
    }

    void pauseHoldsEveryRunAndResumeGoesOn()
    {
        auto w = newWindow(tinyConfig(100000));
        ComparisonWindow *c = w->comparisonWindow();
        c->setLosses({choice("lifted"), choice("contrastive")});
        Recorder r(c->session());
        bool paused = false;
        connect(c->session(), &ComparisonSession::pausedChanged, this, [&paused](bool p) { paused = p; });
        c->startComparison();
        QTRY_VERIFY_WITH_TIMEOUT(r.lastStep.count(1) && r.lastStep[1] >= 2, kTimeoutMs);
        child<QAction>(c, "pauseComparisonAction")->setChecked(true);
        QVERIFY(c->session()->isPaused());
        QTRY_VERIFY_WITH_TIMEOUT(paused, kTimeoutMs);
        const std::map<int, int64_t> atPause = r.lastStep;
        QTest::qWait(500);
        QCOMPARE(r.lastStep, atPause); // no run trains while paused
        child<QAction>(c, "pauseComparisonAction")->setChecked(false);
        QTRY_VERIFY_WITH_TIMEOUT(!paused, kTimeoutMs);
        QTRY_VERIFY_WITH_TIMEOUT(r.lastStep[0] > atPause.at(0) && r.lastStep[1] > atPause.at(1), kTimeoutMs);
        child<QAction>(c, "stopComparisonAction")->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, kTimeoutMs);
        QVERIFY(r.cancelled);
        // The two runs moved together: at most a turn apart.
        QVERIFY(std::abs(r.lastStep[0] - r.lastStep[1]) <= ComparisonSession::kStepsPerTurn);
        QCOMPARE(child<LossChart>(c, "comparisonLossChart")->stepCount(0), int(r.lastStep[0]));
    }

    void badInputsShowMessages_data()
    {
        QTest::addColumn<QStringList>("losses"); // registry names; "n-pair" with the base K = 4
        QTest::addColumn<QString>("message");
        QTest::newRow("one loss") << QStringList{QStringLiteral("lifted")} << QStringLiteral("2 to 6 losses");
        QTest::newRow("no loss") << QStringList{} << QStringLiteral("2 to 6 losses");
        QTest::newRow("n-pair with K = 4") << QStringList{QStringLiteral("lifted"), QStringLiteral("n-pair")}
                                           << QStringLiteral("K = 2");
        QTest::newRow("twice the same") << QStringList{QStringLiteral("lifted"), QStringLiteral("lifted")}
                                        << QStringLiteral("listed twice");
    }

    void seedsShowMeansWithBands()
    {
        auto w = newWindow(tinyConfig(20));
        ComparisonWindow *c = w->comparisonWindow();
        c->setLosses({choice("lifted"), choice("contrastive")});
        c->seedsBox()->setValue(2);
        Recorder r(c->session());
        c->startComparison();
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, kTimeoutMs);
        QVERIFY2(r.failure.isEmpty(), qPrintable(r.failure));
        // Every run of both seeds reported its steps.
        for (int run = 0; run < 4; ++run)
            QCOMPARE(r.lastStep[run], int64_t(20));
        const Comparison written = Comparison::open(c->folder().toStdString());
        QCOMPARE(written.seeds(), 2);
        auto check = [&] {
            QVERIFY(c->lossBands()->isVisibleTo(c) && !child<LossChart>(c, "comparisonLossChart")->isVisibleTo(c));
            QCOMPARE(c->lossBands()->curveCount(), 2);
            QCOMPARE(c->recallBands()->curveCount(), 2);
            // Mean +- interval per loss, the best marked.
            QCOMPARE(c->summaryModel()->rowCount(), 2);
            QVERIFY(c->summaryModel()->item(0, 2)->text().contains(QChar(0x00b1)));
            QCOMPARE(c->summaryModel()->item(0, 8)->text(), QStringLiteral("best"));
            QCOMPARE(c->summaryModel()->item(0, 1)->text(), QStringLiteral("2"));
        };
        check();
        QVERIFY(c->openComparison(c->folder()));
        check();
        QCOMPARE(c->seedsBox()->value(), 2);
    }

    void presetSweepPlotsTheSweptValue()
    {
        auto w = newWindow(tinyConfig(6));
        ComparisonWindow *c = w->comparisonWindow();
        c->presetBox()->setCurrentIndex(c->presetBox()->findData(QStringLiteral("embedding-size")));
        QCOMPARE(c->lossCount(), 1); // the paper's figure: lifted
        QVERIFY(!c->tuneBox()->isEnabled());
        QCOMPARE(c->validationError(), QString());
        Recorder r(c->session());
        c->startComparison();
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, kTimeoutMs);
        QVERIFY2(r.failure.isEmpty(), qPrintable(r.failure));
        const Comparison written = Comparison::open(c->folder().toStdString());
        QCOMPARE(written.sweep(), std::string("embedding_dim"));
        QCOMPARE(written.runCount(), size_t(4));
        QCOMPARE(RunDirectory::open(written.runPath(3)).config().embeddingDim, int64_t(512));
        QCOMPARE(c->sweepChart()->curveCount(), 4); // Recall@1, 2, 4 and 8 of lifted, as the paper's figure
        child<QComboBox>(c, "sweepMetricBox")->setCurrentIndex(0);
        QCOMPARE(c->sweepChart()->curveCount(), 1);
        QVERIFY(QFileInfo::exists(QString::fromStdString(written.resultsPath(Comparison::Results::Csv))));
        c->presetBox()->setCurrentIndex(0);
    }

    void tuningShowsTrialsThenComparesTheTunedLosses()
    {
        auto w = newWindow(tinyConfig(8));
        ComparisonWindow *c = w->comparisonWindow();
        c->setLosses({choice("lifted"), choice("contrastive")});
        c->tuneBox()->setChecked(true);
        c->trialsBox()->setValue(4);
        child<QSpinBox>(c, "validationBox")->setValue(30); // 3 of the 10 classes
        Recorder r(c->session());
        QSignalSpy scored(c->session(), &ComparisonSession::trialScored);
        QSignalSpy testing(c->session(), &ComparisonSession::testStarting);
        c->startComparison();
        const QString folder = c->folder();
        QVERIFY(QFileInfo(folder).fileName().startsWith(QStringLiteral("tune-")));
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, kTimeoutMs);
        QVERIFY2(r.failure.isEmpty(), qPrintable(r.failure));
        QVERIFY(!r.cancelled);
        QCOMPARE(scored.count(), 2 * (4 + 2)); // two rungs: 4 trials, then the best 2
        QCOMPARE(testing.count(), 1);
        // Every trial in the scatter, against the learning rate all losses tune.
        QCOMPARE(c->tuningView()->parameterBox()->currentData().toString(), QStringLiteral("lr"));
        QCOMPARE(c->tuningView()->pointCount(), 8);
        const Tuning tuning = Tuning::open(folder.toStdString());
        QCOMPARE(tunedTrials(tuning).size(), size_t(2));
        const Comparison test = Comparison::open(tuning.testFolder());
        for (const ComparisonRow &row : comparisonResults(test))
            QCOMPARE(row.step, int64_t(8));
        QCOMPARE(c->folder(), folder);
        // Opened again: the trials and the tuned comparison's table.
        QVERIFY(c->openComparison(folder));
        QCOMPARE(c->tuningView()->pointCount(), 8);
        QCOMPARE(child<ComparisonTableModel>(c, "comparisonTableModel")->rowCount(), 2);
        c->tuneBox()->setChecked(false);
    }

    void badInputsShowMessages()
    {
        QFETCH(QStringList, losses);
        QFETCH(QString, message);
        auto w = newWindow(tinyConfig(20));
        ComparisonWindow *c = w->comparisonWindow();
        std::vector<LossChoice> choices;
        for (const QString &name : losses)
            choices.push_back(choice(name.toStdString()));
        c->setLosses(choices);
        QVERIFY2(c->validationError().contains(message), qPrintable(c->validationError()));
        const QStringList before = comparisonFolders(m_workspace);
        c->startComparison();
        QVERIFY(!c->session()->isRunning());
        QTRY_VERIFY(errorDialog(*c) && errorDialog(*c)->isVisible());
        QVERIFY2(errorDialog(*c)->text().contains(message), qPrintable(errorDialog(*c)->text()));
        QCOMPARE(comparisonFolders(m_workspace), before); // nothing was created
    }

    void atMostSixLosses()
    {
        auto w = newWindow(tinyConfig(20));
        ComparisonWindow *c = w->comparisonWindow();
        const char *const names[] = {"lifted", "contrastive", "triplet", "multi-similarity", "binomial-deviance",
                                     "generalized-lifted", "n-pair"};
        std::vector<LossChoice> seven;
        for (const char *name : names)
            seven.push_back(choice(name));
        c->setLosses(seven);
        QCOMPARE(c->lossCount(), ComparisonWindow::kMaxLosses);
        auto *add = c->findChild<QPushButton *>(QStringLiteral("addLossButton"));
        QVERIFY(add);
        QVERIFY(!add->isEnabled());
        c->addLoss();
        QCOMPARE(c->lossCount(), ComparisonWindow::kMaxLosses);
        // Each new form offers a loss not compared yet.
        c->setLosses({choice("lifted")});
        c->addLoss();
        QCOMPARE(c->lossCount(), 2);
        QVERIFY(c->losses().at(1).name != "lifted");
        QCOMPARE(c->validationError(), QString());
    }

    void missingDatasetFolderShowsAMessage()
    {
        ExperimentConfig config = tinyConfig(20);
        config.dataset = m_dir.file("no-such-dataset");
        auto w = newWindow(config);
        ComparisonWindow *c = w->comparisonWindow();
        c->setLosses({choice("lifted"), choice("contrastive")});
        Recorder r(c->session());
        const QStringList before = comparisonFolders(m_workspace);
        c->startComparison();
        // The form checks the dataset off the GUI thread: when it has found
        // the folder missing, the window refuses to start; before that, the
        // comparison starts and fails while loading. A message naming the
        // folder either way, and nothing left behind.
        QTRY_VERIFY_WITH_TIMEOUT(errorDialog(*c) && errorDialog(*c)->isVisible(), kTimeoutMs);
        QTRY_VERIFY_WITH_TIMEOUT(!c->session()->isRunning(), kTimeoutMs);
        QVERIFY2(errorDialog(*c)->text().contains(QStringLiteral("no-such-dataset")),
                 qPrintable(errorDialog(*c)->text()));
        if (r.ended)
            QVERIFY(!r.failure.isEmpty());
        QTRY_COMPARE(comparisonFolders(m_workspace), before); // the empty comparison was removed
    }

    void openingANonComparisonFolderShowsAMessage()
    {
        MainWindow w;
        const QString folder = QString::fromStdString(m_dir.file("not-a-comparison"));
        QVERIFY(QDir().mkpath(folder));
        QVERIFY(!w.openComparison(folder));
        ComparisonWindow *c = w.comparisonWindow();
        QTRY_VERIFY(errorDialog(*c) && errorDialog(*c)->isVisible());
        QVERIFY2(errorDialog(*c)->text().contains(QStringLiteral("is not a comparison")),
                 qPrintable(errorDialog(*c)->text()));
    }
};

QTEST_MAIN(TestCompareGui)
#include "test_compare_gui.moc"
