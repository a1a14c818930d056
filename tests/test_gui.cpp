// The GUI end to end on the offscreen platform: training started with the
// real Start action on a tiny synthetic dataset fills the loss chart and the
// heatmap; pause, resume and stop act within a batch; closing mid-run keeps a
// loadable checkpoint; user errors become a dialog, not a crash, and
// images that could not be used a dialog that lets training go on; runs are
// opened and followed from disk.
#include "charts/downsample.h"
#include "charts/losschart.h"
#include "charts/metricschart.h"
#include "compare/comparisonwindow.h"
#include "experiment/experimentpanel.h"
#include "heatmap/distancehistogram.h"
#include "heatmap/heatmappanel.h"
#include "heatmap/heatmapwidget.h"
#include "heatmap/pairdialog.h"
#include "runs/runlistmodel.h"
#include "runs/runlistpanel.h"
#include "shell/logpanel.h"
#include "shell/mainwindow.h"
#include "training/trainingsession.h"

#include "train/rundirectory.h"
#include "train/trainer.h"

#include "testdata.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <QAction>
#include <QApplication>
#include <QLineEdit>
#include <QWheelEvent>
#include <QStatusBar>
#include <QChartView>
#include <QComboBox>
#include <QDockWidget>
#include <QDir>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QMessageBox>
#include <QProcess>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTest>

#include <filesystem>
#include <fstream>
#include <memory>

using namespace liftlab;
using liftlab::testing::TempDir;
using liftlab::testing::child;

namespace fs = std::filesystem;

namespace {

// Counts the steps a window's session delivers, and remembers how runs end.
struct Recorder
{
    explicit Recorder(MainWindow &w)
    {
        QObject::connect(w.session(), &TrainingSession::stepsReady,
                         [this](const QVector<TrainingStep> &steps) { received += int(steps.size()); });
        QObject::connect(w.session(), &TrainingSession::finished, [this](const QString &run, bool cancelled) {
            ended = true;
            runPath = run;
            wasCancelled = cancelled;
        });
        QObject::connect(w.session(), &TrainingSession::failed, [this](const QString &run, const QString &message) {
            ended = true;
            runPath = run;
            failure = message;
        });
        QObject::connect(w.session(), &TrainingSession::pausedChanged, [this](bool p) { paused = p; });
    }
    int received = 0;
    bool ended = false, wasCancelled = false, paused = false;
    QString runPath, failure;
};

QAction *action(MainWindow &w, const char *name)
{
    auto *a = w.findChild<QAction *>(QLatin1String(name));
    if (!a)
        qFatal("no action %s", name);
    return a;
}

} // namespace

class TestGui : public QObject
{
    Q_OBJECT

    TempDir m_dir;
    std::string m_data;
    QString m_workspace;

    ExperimentConfig tinyConfig(int64_t iterations) const
    {
        ExperimentConfig c;
        c.dataset = m_data;
        c.split = "seen";
        c.classesPerBatch = 4;
        c.perClass = 4;
        c.iterations = iterations;
        c.checkpointEvery = 50;
        c.evalEvery = 0;
        c.threads = 2;
        c.learningRate = 3e-3;
        return c;
    }

    std::unique_ptr<MainWindow> newWindow(const ExperimentConfig &config)
    {
        auto w = std::make_unique<MainWindow>();
        w->applyDefaultLayout(QSize(1600, 1000));
        w->show();
        w->experimentPanel()->setConfig(config);
        return w;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true); // settings go to ~/.qttest, not the user's
        QCoreApplication::setOrganizationName(QStringLiteral("LiftLab"));
        QCoreApplication::setApplicationName(QStringLiteral("LiftLabTest"));
        QSettings().clear();
        m_data = m_dir.file("data");
        liftlab::testing::writeSyntheticIdx(m_data, 10, 30, 10);
        m_workspace = QString::fromStdString(m_dir.file("workspace"));
        qputenv("LIFTLAB_WORKSPACE", m_workspace.toUtf8());
    }

    void fitsSmallScreens_data()
    {
        QTest::addColumn<QSize>("screen");
        QTest::newRow("1280x720") << QSize(1280, 720);
        QTest::newRow("1366x768") << QSize(1366, 768);
        QTest::newRow("1920x1080 at scale 2") << QSize(960, 540);
    }

    // Every dock, raised in turn, lies inside a window of the screen's size
    // and gets at least the room its contents need.
    void fitsSmallScreens()
    {
        QFETCH(QSize, screen);
        MainWindow w;
        w.applyDefaultLayout(screen);
        w.setWindowState(Qt::WindowNoState); // the offscreen platform does not maximise
        w.resize(screen);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QCOMPARE(w.size(), screen); // its minimum size allows it
        const auto inside = [&w](QWidget *widget) {
            const QRect r(widget->mapTo(&w, QPoint(0, 0)), widget->size());
            return w.rect().contains(r) && widget->width() >= widget->minimumSizeHint().width()
                   && widget->height() >= widget->minimumSizeHint().height();
        };
        QVERIFY(inside(w.statusBar()));
        for (QDockWidget *dock : w.findChildren<QDockWidget *>(QString(), Qt::FindDirectChildrenOnly)) {
            dock->raise();
            QCoreApplication::processEvents();
            QVERIFY2(dock->isVisible() && !dock->isFloating(), qPrintable(dock->objectName()));
            QVERIFY2(inside(dock->widget()), qPrintable(QStringLiteral("%1 at %2,%3 size %4x%5")
                                                            .arg(dock->objectName())
                                                            .arg(dock->widget()->mapTo(&w, QPoint(0, 0)).x())
                                                            .arg(dock->widget()->mapTo(&w, QPoint(0, 0)).y())
                                                            .arg(dock->widget()->width())
                                                            .arg(dock->widget()->height())));
        }

        ComparisonWindow *compare = w.comparisonWindow();
        compare->setWindowState(Qt::WindowNoState);
        compare->resize(screen);
        compare->show();
        QVERIFY(QTest::qWaitForWindowExposed(compare));
        QCOMPARE(compare->size(), screen);
        const QRect central(compare->centralWidget()->mapTo(compare, QPoint(0, 0)), compare->centralWidget()->size());
        QVERIFY(compare->rect().contains(central));
        QVERIFY(compare->centralWidget()->width() >= compare->centralWidget()->minimumSizeHint().width());
    }

    void opensReadyForTheDefaultExperiment()
    {
        QSettings().clear();
        MainWindow w;
        const ExperimentConfig c = w.experimentPanel()->config();
        QCOMPARE(c.loss, std::string("lifted"));
        QCOMPARE(c.dataset, std::string("fashion-mnist"));
        QVERIFY(action(w, "startAction")->isEnabled());
        QVERIFY(!action(w, "pauseAction")->isEnabled());
        QCOMPARE(w.workspace(), m_workspace);
    }

    void startFillsLossChartAndHeatmap()
    {
        auto w = newWindow(tinyConfig(50));
        // Set the iterations through the widget, as a user would.
        auto *iterations = w->findChild<QSpinBox *>(QStringLiteral("iterationsBox"));
        QVERIFY(iterations);
        iterations->setValue(200);
        QCOMPARE(w->experimentPanel()->config().iterations, int64_t(200));
        Recorder r(*w);
        QSignalSpy batches(w->session(), &TrainingSession::stepsReady);
        QElapsedTimer clock;

        action(*w, "startAction")->trigger();
        clock.start();
        QVERIFY(!action(*w, "startAction")->isEnabled());
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, 240000);
        QVERIFY2(r.failure.isEmpty(), qPrintable(r.failure));
        QVERIFY(!r.wasCancelled);

        QCOMPARE(r.received, 200);
        // Steps come in batches, one signal per 80 ms at most (plus the one
        // sent before the final evaluation).
        QVERIFY2(batches.count() <= clock.elapsed() / 80 + 2,
                 qPrintable(QStringLiteral("%1 signals in %2 ms").arg(batches.count()).arg(clock.elapsed())));
        QCOMPARE(child<LossChart>(w, "lossChart")->stepCount(), r.received);
        child<LossChart>(w, "lossChart")->refresh();
        QCOMPARE(child<LossChart>(w, "lossChart")->rawSeries()->count(), r.received); // few enough points to draw all
        QCOMPARE(child<LossChart>(w, "lossChart")->smoothedSeries()->count(), r.received);

        const HeatmapWidget *heatmap = child<HeatmapPanel>(w, "heatmapPanel")->heatmap();
        QVERIFY(heatmap->hasFrame());
        const int b = 4 * 4;
        QCOMPARE(heatmap->frame().snapshot.size, int64_t(b));
        QCOMPARE(int(heatmap->frame().snapshot.distances.size()), b * b);
        QCOMPARE(heatmap->image().size(), QSize(b, b));
        QCOMPARE(heatmap->frame().images.size(), b); // the batch's images came along
        QCOMPARE(heatmap->frame().images.first().size(), QSize(28, 28));
        int pairs = 0;
        for (const std::vector<int> *counts :
             {&child<HeatmapPanel>(w, "heatmapPanel")->histogram()->positiveCounts(), &child<HeatmapPanel>(w, "heatmapPanel")->histogram()->negativeCounts()})
            for (int n : *counts)
                pairs += n;
        QCOMPARE(pairs, b * (b - 1) / 2);
        // A click on a cell shows the pair's two images.
        QTest::mouseClick(child<HeatmapPanel>(w, "heatmapPanel")->heatmap(), Qt::LeftButton, {},
                          child<HeatmapPanel>(w, "heatmapPanel")->heatmap()->rect().center());
        QTRY_VERIFY(child<HeatmapPanel>(w, "heatmapPanel")->pairDialog()->isVisible());
        child<HeatmapPanel>(w, "heatmapPanel")->pairDialog()->close();

        QCOMPARE(child<MetricsChart>(w, "metricsChart")->reportCount(), 1); // the evaluation at the end
        QVERIFY(fs::exists(fs::path(r.runPath.toStdString()) / "summary.json"));
        QVERIFY(QFileInfo(r.runPath).fileName().startsWith(QStringLiteral("lifted-")));
        QVERIFY(action(*w, "startAction")->isEnabled());
        // The run list shows the new run.
        RunListModel *runs = child<RunListPanel>(w, "runListPanel")->model();
        runs->refresh();
        QVERIFY(runs->rowOf(r.runPath) >= 0);
        QCOMPARE(runs->index(runs->rowOf(r.runPath), RunListModel::StateColumn).data().toString(), QStringLiteral("finished"));
        // A run folder left half-created by a killed process is not listed.
        const QString staged = r.runPath + QStringLiteral(".tmp-4242-0");
        QVERIFY(QDir().mkpath(staged));
        QVERIFY(QFile::copy(r.runPath + QStringLiteral("/config.json"), staged + QStringLiteral("/config.json")));
        child<RunListPanel>(w, "runListPanel")->refresh();
        QCOMPARE(child<RunListPanel>(w, "runListPanel")->model()->rowOf(staged), -1);
        QVERIFY(child<RunListPanel>(w, "runListPanel")->model()->rowOf(r.runPath) >= 0);

        // Exports.
        const QString png = QString::fromStdString(m_dir.file("loss.png"));
        const QString csv = QString::fromStdString(m_dir.file("loss.csv"));
        QVERIFY(child<LossChart>(w, "lossChart")->exportPng(png));
        QVERIFY(!QImage(png).isNull());
        QVERIFY(child<LossChart>(w, "lossChart")->exportCsv(csv));
        QFile file(csv);
        QVERIFY(file.open(QIODevice::ReadOnly));
        QCOMPARE(file.readAll().count('\n'), 201); // header + one line per step
        QVERIFY(child<MetricsChart>(w, "metricsChart")->exportCsv(QString::fromStdString(m_dir.file("eval.csv"))));
    }

    void pauseResumeAndStop()
    {
        auto w = newWindow(tinyConfig(100000));
        Recorder r(*w);
        action(*w, "startAction")->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(r.received >= 20, 120000);

        action(*w, "pauseAction")->trigger();
        QVERIFY(action(*w, "pauseAction")->isChecked());
        QTRY_VERIFY_WITH_TIMEOUT(r.paused, 5000);
        const int atPause = r.received;
        QTest::qWait(700);
        QCOMPARE(r.received, atPause); // nothing trains while paused
        QCOMPARE(child<LossChart>(w, "lossChart")->stepCount(), atPause);

        action(*w, "pauseAction")->trigger(); // resume
        QVERIFY(!action(*w, "pauseAction")->isChecked());
        QTRY_VERIFY_WITH_TIMEOUT(r.received > atPause + 10, 10000);

        action(*w, "stopAction")->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, 5000);
        QVERIFY(r.wasCancelled);
        QCOMPARE(child<LossChart>(w, "lossChart")->stepCount(), r.received);
        const RunDirectory run = RunDirectory::open(r.runPath.toStdString());
        QVERIFY(fs::exists(run.files().checkpoint()));
        QCOMPARE(int(RunDirectory::readSteps(run.files().metrics()).size()), r.received);
        QVERIFY(action(*w, "startAction")->isEnabled());
        QVERIFY(!action(*w, "stopAction")->isEnabled());
    }

    void stopWhilePausedEnds()
    {
        auto w = newWindow(tinyConfig(100000));
        Recorder r(*w);
        action(*w, "startAction")->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(r.received >= 5, 120000);
        action(*w, "pauseAction")->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(r.paused, 5000);
        action(*w, "stopAction")->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, 5000);
        QVERIFY(r.wasCancelled);
    }

    void closingMidRunKeepsALoadableCheckpoint()
    {
        auto w = newWindow(tinyConfig(100000));
        Recorder r(*w);
        action(*w, "startAction")->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(r.received >= 30, 120000);
        const QString runPath = w->session()->runPath();

        QElapsedTimer clock;
        clock.start();
        QVERIFY(w->close());
        w.reset();
        qInfo("closed in %lld ms", (long long)clock.elapsed());
        QVERIFY2(clock.elapsed() < 2000, qPrintable(QString::number(clock.elapsed())));

        const RunDirectory run = RunDirectory::open(runPath.toStdString());
        QVERIFY(fs::exists(run.files().checkpoint()));
        const std::unique_ptr<Trainer> resumed = Trainer::resume(runPath.toStdString());
        QVERIFY(resumed->step() >= 30);
    }

    // Closing the window during an evaluation stops it between two blocks of
    // its work: the window is gone within 2 s, the step is kept, and a
    // resume evaluates it first.
    void closingDuringEvaluationTakesUnderTwoSeconds()
    {
        const std::string data = m_dir.file("large-test-set");
        liftlab::testing::writeSyntheticIdx(data, 10, 30, 2000); // 20,000 test images: seconds to evaluate
        ExperimentConfig c = tinyConfig(3);
        c.dataset = data;
        auto w = newWindow(c);
        QSignalSpy evaluating(w->session(), &TrainingSession::evaluating);
        action(*w, "startAction")->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(evaluating.count() == 1, 120000);
        QTest::qWait(300);
        const QString runPath = w->session()->runPath();

        QElapsedTimer clock;
        clock.start();
        QVERIFY(w->close());
        w.reset();
        qInfo("closed in %lld ms", (long long)clock.elapsed());
        QVERIFY2(clock.elapsed() < 2000, qPrintable(QString::number(clock.elapsed())));

        const RunDirectory run = RunDirectory::open(runPath.toStdString());
        QVERIFY(RunDirectory::readEvals(run.files().evals()).empty()); // it was stopped midway
        QCOMPARE(Trainer::resume(runPath.toStdString())->step(), int64_t(3));
    }

    // Closing the window while an image dataset decodes ends the decode:
    // the window is gone within 2 s and no run directory is left behind.
    void closingDuringDecodingTakesUnderTwoSeconds()
    {
        const fs::path data = m_dir.file("many-images");
        cv::RNG random(3);
        for (int c = 0; c < 4; ++c) {
            fs::create_directories(data / ("class" + std::to_string(c)));
            for (int i = 0; i < 150; ++i) {
                // Noise, slow to decode: the whole set takes seconds, so the
                // first progress report comes well before the decode ends.
                cv::Mat image(960, 1280, CV_8UC3);
                random.fill(image, cv::RNG::UNIFORM, 0, 256);
                QVERIFY(cv::imwrite((data / ("class" + std::to_string(c)) / (std::to_string(i) + ".jpg")).string(), image));
            }
        }
        ExperimentConfig c = tinyConfig(5);
        c.dataset = data.string();
        c.split = "zero-shot";
        c.imageSize = 64;
        c.classesPerBatch = 2;
        auto w = newWindow(c);
        QSignalSpy progress(w->session(), &TrainingSession::loadProgress);
        QSignalSpy started(w->session(), &TrainingSession::started);
        QSignalSpy failed(w->session(), &TrainingSession::failed);
        w->session()->start(c, m_workspace + QStringLiteral("/decoding-run"));
        QTRY_VERIFY_WITH_TIMEOUT(progress.count() >= 1, 60000);
        QCOMPARE(started.count() + failed.count(), 0); // still decoding
        QVERIFY(progress.last().at(0).toLongLong() < progress.last().at(1).toLongLong());

        QElapsedTimer clock;
        clock.start();
        QVERIFY(w->close());
        w.reset();
        qInfo("closed in %lld ms", (long long)clock.elapsed());
        QVERIFY2(clock.elapsed() < 2000, qPrintable(QString::number(clock.elapsed())));
        QCOMPARE(started.count(), 0);
        QVERIFY(!fs::exists((m_workspace + QStringLiteral("/decoding-run")).toStdString()));
    }

    void invalidDatasetShowsErrorDialog()
    {
        ExperimentConfig c = tinyConfig(20);
        c.dataset = m_dir.file("no-such-folder");
        auto w = newWindow(c);
        Recorder r(*w);
        // The form finds it first (datasetProblemsAreFoundInTheForm); the
        // trainer checks again, for a folder removed after the form looked.
        w->session()->start(c, m_workspace + QStringLiteral("/no-data-run"));
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, 10000);
        QMessageBox *box = nullptr;
        QTRY_VERIFY((box = w->findChild<QMessageBox *>(QStringLiteral("errorDialog"))) && box->isVisible());
        QVERIFY2(box->text().contains(QStringLiteral("does not exist")), qPrintable(box->text()));
        QVERIFY(w->logPanel()->toPlainText().contains(QStringLiteral("does not exist")));
        QVERIFY(!fs::exists(r.runPath.toStdString())); // a failed start leaves nothing behind
        QCOMPARE(w->windowTitle(), QStringLiteral("LiftLab")); // and names no run

        // The window stays usable: close the dialog, fix the dataset, train.
        box->accept();
        QTRY_VERIFY(!action(*w, "startAction")->isEnabled()); // the form says why
        w->experimentPanel()->setConfig(tinyConfig(20));
        QTRY_VERIFY(action(*w, "startAction")->isEnabled());
        r.ended = false;
        r.failure.clear();
        action(*w, "startAction")->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, 240000);
        QVERIFY2(r.failure.isEmpty(), qPrintable(r.failure));
        QCOMPARE(child<LossChart>(w, "lossChart")->stepCount(), 20);
    }

    void divergingRunShowsErrorDialog()
    {
        // A learning rate no spin box accepts, so straight to the session:
        // the same path as a run from the Start action.
        ExperimentConfig c = tinyConfig(50);
        c.optimizer = "sgd";
        c.learningRate = 1e30;
        auto w = newWindow(tinyConfig(50));
        Recorder r(*w);
        w->session()->start(c, m_workspace + QStringLiteral("/nan-run"));
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, 240000);
        QVERIFY2(r.failure.contains(QStringLiteral("NaN")) || r.failure.contains(QStringLiteral("infinite")),
                 qPrintable(r.failure));
        QTRY_VERIFY(w->findChild<QMessageBox *>(QStringLiteral("errorDialog")));
        QVERIFY(action(*w, "startAction")->isEnabled());
        // The Runs list says why the run ended, not "started" forever.
        RunListModel *runs = child<RunListPanel>(w, "runListPanel")->model();
        runs->refresh();
        const int row = runs->rowOf(r.runPath);
        QVERIFY(row >= 0);
        const QString state = runs->index(row, RunListModel::StateColumn).data().toString();
        QVERIFY2(state.startsWith(QStringLiteral("failed: step ")) && state.contains(r.failure.left(20)), qPrintable(state));
    }

    void skippedImagesAreShownInADialog()
    {
        // A folder per class of small images, one of them corrupt.
        const fs::path data = m_dir.file("image-folder");
        for (int c = 0; c < 4; ++c) {
            fs::create_directories(data / ("class" + std::to_string(c)));
            for (int i = 0; i < 6; ++i) {
                const cv::Mat image(20, 24, CV_8UC3, cv::Scalar(40 * c, 30 * i, 100));
                QVERIFY(cv::imwrite((data / ("class" + std::to_string(c)) / (std::to_string(i) + ".png")).string(), image));
            }
        }
        std::ofstream(data / "class1" / "broken.jpg") << "not a picture";
        ExperimentConfig c = tinyConfig(4);
        c.dataset = data.string();
        c.split = "zero-shot";
        c.imageSize = 16;
        c.classesPerBatch = 2;
        c.perClass = 2;
        auto w = newWindow(tinyConfig(4));
        Recorder r(*w);
        w->session()->start(c, m_workspace + QStringLiteral("/skipped-run"));
        QMessageBox *box = nullptr;
        QTRY_VERIFY_WITH_TIMEOUT((box = w->findChild<QMessageBox *>(QStringLiteral("skippedImagesDialog"))), 60000);
        QVERIFY(box->isVisible());
        QVERIFY2(box->text().contains(QStringLiteral("1 image of the dataset could not be used"))
                     && box->text().contains(QStringLiteral("broken.jpg"))
                     && box->text().contains(QStringLiteral("skipped_images.txt")),
                 qPrintable(box->text()));
        QVERIFY2(box->detailedText().contains(QStringLiteral("cannot be decoded")), qPrintable(box->detailedText()));
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, 60000); // training went on
        QVERIFY2(r.failure.isEmpty(), qPrintable(r.failure));
        QVERIFY(fs::exists(r.runPath.toStdString() + "/skipped_images.txt"));
    }

    void layoutAndExperimentAreRemembered()
    {
        {
            MainWindow w;
            w.show();
            w.experimentPanel()->setConfig(tinyConfig(123));
            w.findChild<QDockWidget *>(QStringLiteral("logDock"))->hide();
            QVERIFY(w.close());
        }
        MainWindow w;
        w.show();
        QCOMPARE(w.experimentPanel()->config().iterations, int64_t(123));
        QCOMPARE(w.experimentPanel()->config().dataset, m_data);
        QVERIFY(w.findChild<QDockWidget *>(QStringLiteral("logDock"))->isHidden());
        QVERIFY(!w.findChild<QDockWidget *>(QStringLiteral("heatmapDock"))->isHidden());
        QSettings().remove(QStringLiteral("window")); // later tests start from the default layout
    }

    void invalidValuesAreExplainedInline()
    {
        MainWindow w;
        w.experimentPanel()->setConfig(tinyConfig(10));
        auto *label = w.findChild<QLabel *>(QStringLiteral("validationLabel"));
        QVERIFY(label && label->isHidden());
        w.findChild<QSpinBox *>(QStringLiteral("classesPerBatchBox"))->setValue(300);
        w.findChild<QSpinBox *>(QStringLiteral("perClassBox"))->setValue(300);
        QVERIFY(!label->isHidden());
        QVERIFY2(label->text().contains(QStringLiteral("P x K")), qPrintable(label->text()));
        QVERIFY(!action(w, "startAction")->isEnabled());
        // Both back within what the 10 classes of 30 images allow (the
        // dataset's labels may have been read meanwhile: P = 300 is too many).
        w.findChild<QSpinBox *>(QStringLiteral("perClassBox"))->setValue(4);
        w.findChild<QSpinBox *>(QStringLiteral("classesPerBatchBox"))->setValue(4);
        QVERIFY(label->isHidden());
        QVERIFY(action(w, "startAction")->isEnabled());
    }

    void helpNeedsNoDisplay()
    {
        const QString gui = qEnvironmentVariable("LIFTLAB_GUI");
        if (gui.isEmpty())
            QSKIP("LIFTLAB_GUI is not set (ctest sets it)");
        QProcess process;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.remove(QStringLiteral("DISPLAY"));
        env.remove(QStringLiteral("WAYLAND_DISPLAY"));
        env.remove(QStringLiteral("QT_QPA_PLATFORM"));
        process.setProcessEnvironment(env);
        for (const QString &option : {QStringLiteral("--help"), QStringLiteral("--version")}) {
            process.start(gui, {option});
            QVERIFY(process.waitForFinished(30000));
            const QString out = QString::fromUtf8(process.readAllStandardOutput());
            QCOMPARE(process.exitStatus(), QProcess::NormalExit);
            QCOMPARE(process.exitCode(), 0);
            QVERIFY2(out.contains(option == QStringLiteral("--help") ? QStringLiteral("--open-comparison")
                                                                     : QStringLiteral("LiftLab")),
                     qPrintable(out));
        }
    }

    void datasetProblemsAreFoundInTheForm()
    {
        MainWindow w;
        w.experimentPanel()->setConfig(tinyConfig(10));
        auto *label = w.findChild<QLabel *>(QStringLiteral("validationLabel"));
        QTRY_VERIFY(label->isHidden() && action(w, "startAction")->isEnabled());

        ExperimentConfig c = tinyConfig(10);
        c.dataset = m_dir.file("no-such-folder");
        w.experimentPanel()->setConfig(c);
        QTRY_VERIFY(!label->isHidden()); // read off the GUI thread
        QVERIFY2(label->text().contains(QStringLiteral("does not exist")), qPrintable(label->text()));
        QVERIFY(!action(w, "startAction")->isEnabled());

        // P x K within the form's ranges, beyond what the training set holds
        // (30 images per class).
        c = tinyConfig(10);
        c.perClass = 31;
        w.experimentPanel()->setConfig(c);
        QTRY_VERIFY(label->text().contains(QStringLiteral("more than the training set allows")));
        QVERIFY(!label->isHidden());
        QVERIFY(!action(w, "startAction")->isEnabled());
        w.findChild<QSpinBox *>(QStringLiteral("perClassBox"))->setValue(30);
        QVERIFY(label->isHidden());
        QVERIFY(action(w, "startAction")->isEnabled());
    }

    void wheelChangesOnlyAFocusedField()
    {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        auto *sampler = w.findChild<QComboBox *>(QStringLiteral("samplerBox"));
        auto *iterations = w.findChild<QSpinBox *>(QStringLiteral("iterationsBox"));
        QVERIFY(sampler && iterations);
        // Returns whether the field kept the event (else it goes on to the
        // field's parents: the form's scroll area scrolls).
        const auto wheel = [](QWidget *widget) {
            const QPointF at = QRectF(widget->rect()).center();
            QWheelEvent event(at, widget->mapToGlobal(at), QPoint(), QPoint(0, -120), Qt::NoButton, Qt::NoModifier,
                              Qt::NoScrollPhase, false);
            QApplication::sendEvent(widget, &event);
            return event.isAccepted();
        };
        const QString samplerBefore = sampler->currentText();
        const int iterationsBefore = iterations->value();
        QVERIFY(!sampler->hasFocus() && !iterations->hasFocus());
        QVERIFY(!wheel(sampler));
        QVERIFY(!wheel(iterations));
        QCOMPARE(sampler->currentText(), samplerBefore);
        QCOMPARE(iterations->value(), iterationsBefore);
        // The loss parameters, built when the loss changes, too.
        auto *margin = w.experimentPanel()->findChild<QDoubleSpinBox *>(QStringLiteral("param_margin"));
        QVERIFY(margin);
        const double marginBefore = margin->value();
        QVERIFY(!wheel(margin));
        QCOMPARE(margin->value(), marginBefore);

        // A field the user picked takes the wheel.
        QApplication::setActiveWindow(&w);
        iterations->setFocus();
        QTRY_VERIFY(iterations->hasFocus());
        QVERIFY(wheel(iterations));
        QVERIFY(iterations->value() != iterationsBefore);
    }

    void ratesTakeScientificNotation()
    {
        MainWindow w;
        w.show();
        auto *rate = w.findChild<QDoubleSpinBox *>(QStringLiteral("learningRateBox"));
        auto *edit = rate->findChild<QLineEdit *>();
        edit->selectAll();
        QTest::keyClicks(edit, QStringLiteral("1e-4"));
        QTest::keyClick(edit, Qt::Key_Return);
        QCOMPARE(w.experimentPanel()->config().learningRate, 1e-4);
        QCOMPARE(edit->text(), QStringLiteral("0.0001"));
        rate->stepBy(1); // 1, 2, 5, 10
        QCOMPARE(w.experimentPanel()->config().learningRate, 2e-4);
        rate->stepBy(2);
        QCOMPARE(w.experimentPanel()->config().learningRate, 1e-3);

        // A value from a file is kept as given, or the change is said.
        ExperimentConfig c = tinyConfig(10);
        c.learningRate = 3.7e-5;
        QVERIFY(w.experimentPanel()->setConfig(c).isEmpty());
        QCOMPARE(w.experimentPanel()->config().learningRate, 3.7e-5);
        c.learningRate = 1e30;
        const QStringList changed = w.experimentPanel()->setConfig(c);
        QCOMPARE(changed.size(), 1);
        QVERIFY2(changed.front().startsWith(QStringLiteral("lr: 1e+30 is now")), qPrintable(changed.front()));
    }

    void divergingRunShowsAWarning()
    {
        // Adam at a learning rate of 10 takes the loss up by orders of
        // magnitude without reaching NaN.
        ExperimentConfig c = tinyConfig(30);
        c.learningRate = 10;
        auto w = newWindow(c);
        Recorder r(*w);
        action(*w, "startAction")->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, 240000);
        const QString status = w->statusBar()->currentMessage();
        QVERIFY2(status.contains(QStringLiteral("diverging")), qPrintable(status));
        QCOMPARE(w->logPanel()->toPlainText().count(QStringLiteral("diverging")), 1); // once
    }

    void pairSamplerIsChosenInTheForm()
    {
        ExperimentPanel panel;
        panel.show();
        auto *sampler = panel.findChild<QComboBox *>(QStringLiteral("samplerBox"));
        auto *pairs = panel.findChild<QSpinBox *>(QStringLiteral("pairsBox"));
        auto *perClass = panel.findChild<QSpinBox *>(QStringLiteral("perClassBox"));
        QVERIFY(sampler && pairs && perClass);
        QVERIFY(pairs->isHidden() && !perClass->isHidden()); // P x K by default
        sampler->setCurrentIndex(sampler->findData(QStringLiteral("pairs")));
        QVERIFY(!pairs->isHidden() && perClass->isHidden());
        pairs->setValue(10);
        panel.findChild<QSpinBox *>(QStringLiteral("randomImagesBox"))->setValue(20);
        const ExperimentConfig c = panel.config();
        QCOMPARE(c.sampler, std::string("pairs"));
        QCOMPARE(c.batchSize(), 40);
        ExperimentPanel other;
        other.setConfig(c);
        QCOMPARE(other.config().sampler, std::string("pairs"));
        QCOMPARE(other.config().pairs, 10);
        QCOMPARE(other.config().randomImages, 20);
        // A loss that needs P x K batches says so before anything starts.
        auto *loss = panel.findChild<QComboBox *>(QStringLiteral("lossBox"));
        loss->setCurrentIndex(loss->findData(QStringLiteral("n-pair")));
        QVERIFY2(panel.validationError().contains(QStringLiteral("pk sampler")), qPrintable(panel.validationError()));
    }

    void lossFormFollowsTheRegistry()
    {
        ExperimentPanel panel;
        auto *loss = panel.findChild<QComboBox *>(QStringLiteral("lossBox"));
        loss->setCurrentIndex(loss->findData(QStringLiteral("triplet")));
        auto *miner = panel.findChild<QComboBox *>(QStringLiteral("param_miner"));
        QVERIFY(miner);
        miner->setCurrentIndex(miner->findData(QStringLiteral("semi-hard")));
        const ExperimentConfig c = panel.config();
        QCOMPARE(c.loss, std::string("triplet"));
        QCOMPARE(c.lossParams.at("miner"), std::string("semi-hard"));
        QCOMPARE(c.lossParams.count("margin"), size_t(0)); // the default is not written
        auto *margin = panel.findChild<QDoubleSpinBox *>(QStringLiteral("param_margin"));
        QVERIFY(margin);
        QCOMPARE(margin->maximum(), 100.0); // the ParamSpec's range
        margin->setValue(0.5);
        QCOMPARE(panel.config().lossParams.at("margin"), std::string("0.5"));
        // Round trip through setConfig, as the remembered experiment does.
        ExperimentPanel other;
        other.setConfig(panel.config());
        QCOMPARE(other.config().lossParams, panel.config().lossParams);
    }

    void downsamplingKeepsExtremesAndIsBounded()
    {
        std::vector<double> x, y;
        for (int i = 0; i < 100000; ++i) {
            x.push_back(i);
            y.push_back(std::sin(i * 0.01));
        }
        y[54321] = 9;
        y[12345] = -9;
        const QList<QPointF> points = downsampleMinMax(x, y, 0, 99999, 500);
        QVERIFY(points.size() <= 1002);
        bool high = false, low = false;
        for (const QPointF &p : points) {
            high = high || p.y() == 9;
            low = low || p.y() == -9;
        }
        QVERIFY(high && low);
        // Few points are drawn as they are.
        QCOMPARE(downsampleMinMax(x, y, 0, 99, 500).size(), 101); // 0..99 plus one beyond
    }

    void hundredThousandStepsStaySmooth()
    {
        LossChart chart;
        chart.resize(800, 400);
        chart.show();
        std::vector<TrainingStep> steps(100000);
        for (size_t i = 0; i < steps.size(); ++i) {
            steps[i].step = int64_t(i) + 1;
            steps[i].loss = 1.0 / (1 + i * 0.001) + 0.1 * std::sin(double(i));
            steps[i].elapsedSeconds = i * 0.01;
        }
        chart.setSteps(steps);
        chart.refresh();
        QCOMPARE(chart.stepCount(), 100000);
        QVERIFY(chart.rawSeries()->count() <= 2 * 800 + 2);
        chart.setLogScale(true);
        chart.setTimeAxis(true);
        chart.setSmoothing(0.99);
        // What is drawn stays bounded by the width whatever the options
        // (speed itself is measured in bench/, not asserted here).
        QVERIFY(chart.rawSeries()->count() <= 2 * 800 + 2);
        QCOMPARE(chart.stepCount(), 100000);
    }

    void chartsDrawSeveralRuns()
    {
        LossChart loss;
        loss.resize(800, 400);
        loss.show();
        loss.setRuns({QStringLiteral("lifted"), QStringLiteral("triplet")});
        QCOMPARE(loss.runCount(), 2);
        loss.setSmoothing(0);
        for (int run = 0; run < 2; ++run) {
            std::vector<TrainingStep> steps(50);
            for (size_t i = 0; i < steps.size(); ++i) {
                steps[i].step = int64_t(i) + 1;
                steps[i].loss = (run + 1) * 10.0 / (1 + double(i));
            }
            loss.setSteps(steps, run);
        }
        loss.refresh();
        // Several runs start divided by their first loss, at 1, without raw curves.
        for (int run = 0; run < 2; ++run) {
            QCOMPARE(loss.stepCount(run), 50);
            QCOMPARE(loss.smoothedSeries(run)->count(), 50);
            QCOMPARE(loss.smoothedSeries(run)->at(0).y(), 1.0);
            QVERIFY(!loss.rawSeries(run)->isVisible());
        }
        // A log axis spans whole decades, so it has at least two labels.
        loss.setLogScale(true);
        const auto vertical = child<QChartView>(&loss, "lossChartView")->chart()->axes(Qt::Vertical);
        QCOMPARE(vertical.size(), 1);
        auto *logAxis = qobject_cast<QLogValueAxis *>(vertical.front());
        QVERIFY(logAxis);
        QCOMPARE(logAxis->min(), 0.01); // the smallest value is 1/50
        QCOMPARE(logAxis->max(), 1.0);
        const QString csv = QString::fromStdString(m_dir.file("overlay.csv"));
        QVERIFY(loss.exportCsv(csv));
        QFile file(csv);
        QVERIFY(file.open(QIODevice::ReadOnly));
        QCOMPARE(file.readLine().trimmed(), QByteArray("run,step,seconds,loss,smoothed"));
        QVERIFY(file.readLine().startsWith("\"lifted\",1,"));

        // One run again: raw curve and plain values.
        loss.setRuns({QString()});
        QVERIFY(loss.rawSeries()->isVisible());

        MetricsChart metrics;
        metrics.setRuns({QStringLiteral("lifted"), QStringLiteral("triplet")});
        EvalReport report;
        report.step = 100;
        report.metrics.recallAt1 = 0.5;
        report.metrics.mapAtR = 0.2;
        metrics.appendReport(report, 1);
        QCOMPARE(metrics.reportCount(0), 0);
        QCOMPARE(metrics.reportCount(1), 1);
        QCOMPARE(metrics.series(MetricsChart::Recall1, 1)->at(0), QPointF(100, 0.5));
        // Several runs show Recall@K and MAP@R only.
        QVERIFY(metrics.series(MetricsChart::MapAtR, 1)->isVisible());
        QVERIFY(!metrics.series(MetricsChart::Nmi, 1)->isVisible());
        metrics.setRecallK(4);
        QVERIFY(metrics.series(MetricsChart::Recall4, 0)->isVisible());
        QVERIFY(!metrics.series(MetricsChart::Recall1, 0)->isVisible());
        metrics.setRecallK(0);
        QVERIFY(metrics.series(MetricsChart::Nmi, 0)->isVisible());
    }

    void tickedRunsAreDrawnTogether()
    {
        // Two runs that differ in their learning rate.
        std::atomic<bool> cancel{false};
        ExperimentConfig a = tinyConfig(12), b = tinyConfig(12);
        b.learningRate = 1e-2;
        const QString pathA = m_workspace + QStringLiteral("/overlay-a"), pathB = m_workspace + QStringLiteral("/overlay-b");
        Trainer::start(a, pathA.toStdString())->run({}, cancel);
        Trainer::start(b, pathB.toStdString())->run({}, cancel);

        auto w = newWindow(tinyConfig(10));
        RunListModel *runs = child<RunListPanel>(w, "runListPanel")->model();
        runs->refresh();
        auto *loss = child<LossChart>(w, "lossChart");
        auto *metrics = child<MetricsChart>(w, "metricsChart");
        auto *differences = w->findChild<QTableWidget *>(QStringLiteral("runDifferences"));
        QVERIFY(differences && differences->isHidden());
        for (const QString &path : {pathA, pathB})
            QVERIFY(runs->setData(runs->index(runs->rowOf(path), RunListModel::NameColumn), Qt::Checked,
                                  Qt::CheckStateRole));
        QCOMPARE(loss->runCount(), 2);
        QCOMPARE(metrics->runCount(), 2);
        for (int run = 0; run < 2; ++run) {
            QCOMPARE(loss->stepCount(run), 12);
            QCOMPARE(metrics->reportCount(run), 1);
        }
        // What the experiments differ in: the learning rate alone.
        QVERIFY(differences->isVisible());
        QCOMPARE(differences->rowCount(), 1);
        QCOMPARE(differences->verticalHeaderItem(0)->text(), QStringLiteral("lr"));
        QCOMPARE(differences->columnCount(), 2);

        // Unticked: one run again, and starting a run unticks them all.
        runs->setData(runs->index(runs->rowOf(pathB), RunListModel::NameColumn), Qt::Unchecked, Qt::CheckStateRole);
        QCOMPARE(loss->runCount(), 1);
        QVERIFY(differences->isHidden());
        runs->setData(runs->index(runs->rowOf(pathB), RunListModel::NameColumn), Qt::Checked, Qt::CheckStateRole);
        QCOMPARE(loss->runCount(), 2);
        Recorder r(*w);
        action(*w, "startAction")->trigger();
        QCOMPARE(loss->runCount(), 1);
        QVERIFY(runs->tickedRuns().isEmpty());
        QTRY_VERIFY_WITH_TIMEOUT(r.ended, 240000);
        QCOMPARE(loss->stepCount(), 10);
    }

    void opensAndFollowsARunWrittenByTheCli_data()
    {
        QTest::addColumn<int>("ranks"); // 2: a distributed run (train --nproc 2)
        QTest::newRow("one process") << 1;
        QTest::newRow("two ranks") << 2;
    }

    void opensAndFollowsARunWrittenByTheCli()
    {
        QFETCH(int, ranks);
        const QString runPath = m_workspace + QStringLiteral("/cli-run-%1").arg(ranks);
        QProcess cli;
        cli.start(qEnvironmentVariable("LIFTLAB_CLI", QStringLiteral("liftlab-cli")),
                  {QStringLiteral("train"), QStringLiteral("--dataset"), QString::fromStdString(m_data),
                   QStringLiteral("-P"), QStringLiteral("4"), QStringLiteral("-K"), QStringLiteral("4"),
                   QStringLiteral("--iterations"), QStringLiteral("500"), QStringLiteral("--eval-every"),
                   QStringLiteral("250"), QStringLiteral("--checkpoint-every"), QStringLiteral("500"),
                   QStringLiteral("--out"), runPath, QStringLiteral("--nproc"), QString::number(ranks)});
        QVERIFY(cli.waitForStarted());
        QTRY_VERIFY_WITH_TIMEOUT(QFileInfo::exists(runPath + QStringLiteral("/config.json")), 20000);

        MainWindow w;
        w.applyDefaultLayout(QSize(1600, 1000));
        QVERIFY(w.openRun(runPath));
        QCOMPARE(w.shownRun(), runPath);
        // Followed while written: some of the steps, and a batch's heatmap
        // (written every 2 s, not only with the checkpoint at the end), show
        // before the run ends.
        bool sawPartial = false, sawHeatmap = false;
        QElapsedTimer clock;
        clock.start();
        while (cli.state() != QProcess::NotRunning && clock.elapsed() < 400000) { // ~12 s on a quiet machine; generous for a loaded one
            QTest::qWait(100);
            const int steps = child<LossChart>(&w, "lossChart")->stepCount();
            sawPartial = sawPartial || (steps > 0 && steps < 500);
            sawHeatmap = sawHeatmap || (steps < 500 && child<HeatmapPanel>(&w, "heatmapPanel")->heatmap()->hasFrame());
        }
        QCOMPARE(cli.state(), QProcess::NotRunning);
        QCOMPARE(cli.exitCode(), 0);
        QVERIFY(sawPartial);
        QVERIFY(sawHeatmap);
        // Then to the end: every step, both evaluations, the last batch.
        QTRY_COMPARE_WITH_TIMEOUT(child<LossChart>(&w, "lossChart")->stepCount(), 500, 5000);
        QTRY_COMPARE_WITH_TIMEOUT(child<MetricsChart>(&w, "metricsChart")->reportCount(), 2, 5000);
        QTRY_VERIFY_WITH_TIMEOUT(child<HeatmapPanel>(&w, "heatmapPanel")->heatmap()->hasFrame(), 5000);
        // The global batch: every rank's 4 x 4 images.
        QCOMPARE(child<HeatmapPanel>(&w, "heatmapPanel")->heatmap()->frame().snapshot.size, int64_t(16 * ranks));
        QCOMPARE(w.findChild<QLabel *>(QStringLiteral("stepLabel"))->text(), QStringLiteral("step 500 / 500"));
        // The Runs list says how many processes trained it.
        RunListModel *runs = child<RunListPanel>(&w, "runListPanel")->model();
        runs->refresh();
        QCOMPARE(runs->index(runs->rowOf(runPath), RunListModel::IterationsColumn).data().toString(),
                 ranks == 1 ? QStringLiteral("500") : QStringLiteral("500 (2 ranks)"));
        QCOMPARE(runs->index(runs->rowOf(runPath), RunListModel::NameColumn).data(Qt::ToolTipRole).toString(),
                 ranks == 1 ? runPath : runPath + QStringLiteral("\ntrained by 2 ranks"));

        // A folder that is not a run: a dialog, and the shown run stays.
        QVERIFY(!w.openRun(QString::fromStdString(m_data)));
        QTRY_VERIFY(w.findChild<QMessageBox *>(QStringLiteral("errorDialog")));
        QCOMPARE(w.shownRun(), runPath);
    }
};

QTEST_MAIN(TestGui)
#include "test_gui.moc"
