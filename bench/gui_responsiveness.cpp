// How responsive the window stays while it trains: opens the main window
// (offscreen unless QT_QPA_PLATFORM says otherwise), trains the default
// experiment from the Start action, and measures the GUI event loop with a
// 10 ms timer: each tick's lateness is the time since the previous tick
// minus 10 ms. Prints one JSON object: the latency percentiles and the
// training images/s from the run's summary.json (bench/gui_responsiveness.sh
// compares it with liftlab-cli train).
#include "experiment/experimentpanel.h"
#include "shell/mainwindow.h"
#include "training/trainingsession.h"

#include <QAction>
#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

using namespace liftlab;

namespace {

// CPU time of the calling thread (here: the GUI thread), in seconds.
double threadCpuSeconds()
{
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}

double percentile(std::vector<double> values, double p)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    const size_t i = std::min(values.size() - 1, size_t(p * double(values.size() - 1) + 0.5));
    return values[i];
}

} // namespace

int main(int argc, char **argv)
{
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    QStandardPaths::setTestModeEnabled(true); // leave the user's settings alone
    QApplication::setOrganizationName(QStringLiteral("LiftLab"));
    QApplication::setApplicationName(QStringLiteral("LiftLabBench"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("GUI event-loop latency while training"));
    parser.addHelpOption();
    const QCommandLineOption steps(QStringLiteral("steps"), QStringLiteral("training steps (default 300)"),
                                   QStringLiteral("n"), QStringLiteral("300"));
    const QCommandLineOption threads(QStringLiteral("threads"), QStringLiteral("training threads (default 2)"),
                                     QStringLiteral("n"), QStringLiteral("2"));
    const QCommandLineOption workspace(QStringLiteral("workspace"),
                                       QStringLiteral("folder for the run (default: a temporary one)"),
                                       QStringLiteral("dir"));
    const QCommandLineOption probeMs(QStringLiteral("probe-ms"),
                                     QStringLiteral("probe timer interval (default 10; larger to see what the probe "
                                                    "itself costs the training)"),
                                     QStringLiteral("ms"), QStringLiteral("10"));
    parser.addOptions({steps, threads, workspace, probeMs});
    parser.process(app);

    QTemporaryDir temporary;
    MainWindow window;
    window.setWorkspace(parser.isSet(workspace) ? parser.value(workspace) : temporary.path());
    ExperimentConfig config; // the default experiment: lifted loss on Fashion-MNIST
    config.iterations = parser.value(steps).toLongLong();
    config.threads = parser.value(threads).toInt();
    window.experimentPanel()->setConfig(config);
    window.applyDefaultLayout(QSize(1600, 1000)); // every view of a desktop screen
    window.show();

    std::vector<double> lateness; // ms, one per probe tick while training
    QElapsedTimer clock;
    qint64 lastTick = -1;
    bool training = false;
    QTimer probe;
    probe.setTimerType(Qt::PreciseTimer);
    const int interval = std::max(1, parser.value(probeMs).toInt());
    probe.setInterval(interval);
    QObject::connect(&probe, &QTimer::timeout, [&] {
        const qint64 now = clock.nsecsElapsed();
        if (training && lastTick >= 0)
            lateness.push_back(std::max(0.0, (now - lastTick) / 1e6 - interval));
        lastTick = now;
    });
    double guiCpuAtStart = 0, guiCpuAtEnd = 0;
    qint64 wallAtStart = 0, wallAtEnd = 0;
    QObject::connect(window.session(), &TrainingSession::stepsReady, [&] {
        if (!training) {
            guiCpuAtStart = threadCpuSeconds();
            wallAtStart = clock.nsecsElapsed();
        }
        training = true;
    });

    QString runPath, failure;
    QObject::connect(&window, &MainWindow::runEnded, [&](const QString &path) {
        guiCpuAtEnd = threadCpuSeconds();
        wallAtEnd = clock.nsecsElapsed();
        training = false;
        runPath = path;
        app.quit();
    });
    QObject::connect(window.session(), &TrainingSession::failed,
                     [&](const QString &, const QString &message) { failure = message; });

    QTimer::singleShot(0, [&] {
        clock.start();
        probe.start();
        window.findChild<QAction *>(QStringLiteral("startAction"))->trigger();
    });
    app.exec();

    if (!failure.isEmpty()) {
        std::fprintf(stderr, "bench_gui_responsiveness: %s\n", qPrintable(failure));
        return 2;
    }
    QFile summaryFile(runPath + QStringLiteral("/summary.json"));
    const QJsonObject summary = summaryFile.open(QIODevice::ReadOnly)
                                    ? QJsonDocument::fromJson(summaryFile.readAll()).object()
                                    : QJsonObject();
    const QJsonObject result{
        {QStringLiteral("steps"), qint64(config.iterations)},
        {QStringLiteral("threads"), config.threads},
        {QStringLiteral("probe_ticks"), qint64(lateness.size())},
        {QStringLiteral("latency_p50_ms"), percentile(lateness, 0.50)},
        {QStringLiteral("latency_p95_ms"), percentile(lateness, 0.95)},
        {QStringLiteral("latency_max_ms"), lateness.empty() ? 0.0 : *std::max_element(lateness.begin(), lateness.end())},
        // Share of one core the GUI thread used while training.
        {QStringLiteral("gui_thread_cpu_fraction"),
         wallAtEnd > wallAtStart ? (guiCpuAtEnd - guiCpuAtStart) / ((wallAtEnd - wallAtStart) / 1e9) : 0.0},
        {QStringLiteral("images_per_sec"), summary.value(QStringLiteral("images_per_sec")).toDouble()},
        {QStringLiteral("train_seconds"), summary.value(QStringLiteral("train_seconds")).toDouble()},
        {QStringLiteral("run"), runPath},
    };
    std::printf("%s\n", QJsonDocument(result).toJson(QJsonDocument::Compact).constData());
    window.close();
    return 0;
}
