// liftlab: the LiftLab window. Parses the command line and opens MainWindow;
// everything else lives in ui/.
#include "compare/comparisonwindow.h"
#include "error.h"
#include "experiment/experimentpanel.h"
#include "shell/logpanel.h"
#include "shell/mainwindow.h"
#include "train/comparison.h"
#include "train/tuning.h"
#include "util/version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QFile>
#include <QIcon>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMessageBox>
#include <QTimer>
#include <QUrl>

#include <cstdio>
#include <cstring>

using namespace liftlab;

namespace {

void setApplicationNames()
{
    QCoreApplication::setOrganizationName(QStringLiteral("LiftLab"));
    QCoreApplication::setApplicationName(QStringLiteral("LiftLab"));
    QCoreApplication::setApplicationVersion(QString::fromLatin1(version()));
}

// The icon of every window and of the About box, and the desktop file that
// names it (Wayland compositors find the icon through it).
void setApplicationIcon()
{
    QIcon icon;
    for (int size : {16, 22, 24, 32, 48, 64, 128, 256})
        icon.addFile(QStringLiteral(":/icons/%1x%1/apps/io.github.liftlab.LiftLab.png").arg(size), QSize(size, size));
    QApplication::setWindowIcon(icon);
    QGuiApplication::setDesktopFileName(QStringLiteral("io.github.liftlab.LiftLab"));
}

void addOptions(QCommandLineParser &parser)
{
    parser.setApplicationDescription(QStringLiteral("LiftLab: deep metric learning with the lifted structured loss"));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addOptions({
        {QStringLiteral("start"), QStringLiteral("Start training as soon as the window opens.")},
        {QStringLiteral("config"), QStringLiteral("Load the experiment from a JSON file (e.g. a run's config.json)."),
         QStringLiteral("file")},
        {QStringLiteral("iterations"), QStringLiteral("Training steps of the experiment."), QStringLiteral("n")},
        {QStringLiteral("eval-every"), QStringLiteral("Evaluate every n steps (0: at the end only)."), QStringLiteral("n")},
        {QStringLiteral("workspace"),
         QStringLiteral("Folder for runs (default: $LIFTLAB_WORKSPACE, else ~/.local/share/LiftLab/runs)."),
         QStringLiteral("dir")},
        {QStringLiteral("open"), QStringLiteral("Show this run directory (followed live)."), QStringLiteral("run")},
        {QStringLiteral("open-comparison"),
         QStringLiteral("Show this comparison folder (liftlab-cli compare or the GUI's compare mode) in the "
                        "comparison window."),
         QStringLiteral("dir")},
        {QStringLiteral("compare"),
         QStringLiteral("Open the comparison window with these losses, as liftlab-cli compare --losses takes them "
                        "(lifted,contrastive,triplet:miner=semi-hard); with --start the comparison starts at once."),
         QStringLiteral("losses")},
    });
    parser.addPositionalArgument(QStringLiteral("folder"),
                                 QStringLiteral("A run directory, or a comparison or tuning folder, to show."),
                                 QStringLiteral("[folder]"));
}

// A folder given on the command line (the file manager's "Open with"):
// a comparison or a tuning opens the comparison window, anything else is a run.
void openFolder(MainWindow &window, const QString &folder)
{
    const std::string path = folder.toStdString();
    bool comparison = false;
    try {
        comparison = Comparison::exists(path) || Tuning::isTuning(path);
    } catch (const std::exception &) {
        // Unreadable: opened as a run, whose error dialog says why.
    }
    if (comparison)
        window.openComparison(folder);
    else
        window.openRun(folder);
}

// --help and --version need no display: answered before the GUI starts,
// so they work over ssh and in scripts.
bool asksHelpOrVersion(int argc, char **argv)
{
    for (int i = 1; i < argc; ++i)
        for (const char *option : {"-h", "--help", "-?", "--help-all", "-v", "--version"})
            if (std::strcmp(argv[i], option) == 0)
                return true;
    return false;
}

} // namespace

int main(int argc, char **argv)
{
    if (asksHelpOrVersion(argc, argv)) {
        QCoreApplication app(argc, argv);
        setApplicationNames();
        QCommandLineParser parser;
        addOptions(parser);
        parser.process(app); // prints and exits
        return 0;
    }
    QApplication app(argc, argv);
    setApplicationNames();
    setApplicationIcon();
    QCommandLineParser parser;
    addOptions(parser);
    parser.process(app);
    const auto isSet = [&parser](const char *name) { return parser.isSet(QLatin1String(name)); };
    const auto value = [&parser](const char *name) { return parser.value(QLatin1String(name)); };

    MainWindow window;
    if (isSet("workspace"))
        window.setWorkspace(value("workspace"));
    ExperimentConfig experiment = window.experimentPanel()->config();
    try {
        if (isSet("config")) {
            QFile file(value("config"));
            if (!file.open(QIODevice::ReadOnly))
                throw fileError(file.fileName().toStdString(), "cannot read");
            experiment = configFromJson(QJsonDocument::fromJson(file.readAll()).object(), file.fileName().toStdString());
        }
        bool ok = true;
        if (isSet("iterations"))
            experiment.iterations = value("iterations").toLongLong(&ok);
        if (ok && isSet("eval-every"))
            experiment.evalEvery = value("eval-every").toLongLong(&ok);
        if (!ok)
            throw Error("--iterations and --eval-every take a whole number");
        if (isSet("compare")) {
            const std::vector<LossChoice> losses = parseLossList(value("compare").toStdString());
            if (losses.size() > size_t(ComparisonWindow::kMaxLosses))
                throw Error("--compare takes at most " + std::to_string(ComparisonWindow::kMaxLosses) + " losses");
            window.comparisonWindow()->setLosses(losses);
        }
    } catch (const Error &e) {
        std::fprintf(stderr, "liftlab: %s\n", e.what());
        return 2;
    }
    const QStringList changed = window.experimentPanel()->setConfig(experiment);
    if (isSet("config"))
        window.logPanel()->appendMessage(QObject::tr("Loaded %1: %2 on %3.")
                                             .arg(value("config"), QString::fromStdString(experiment.loss),
                                                  QString::fromStdString(experiment.dataset)));
    window.show();
    if (!changed.isEmpty()) {
        const QString text = QObject::tr("The form cannot hold these values of %1, so they were changed:\n%2")
                                 .arg(value("config"), changed.join(QLatin1Char('\n')));
        window.logPanel()->appendError(text);
        auto *box = new QMessageBox(QMessageBox::Warning, QObject::tr("Experiment changed"), text, QMessageBox::Ok,
                                    &window);
        box->setAttribute(Qt::WA_DeleteOnClose);
        box->show();
    }
    if (isSet("open"))
        window.openRun(value("open"));
    if (isSet("open-comparison"))
        window.openComparison(value("open-comparison"));
    for (const QString &folder : parser.positionalArguments())
        openFolder(window, folder.startsWith(QLatin1String("file:")) ? QUrl(folder).toLocalFile() : folder);
    if (isSet("compare"))
        window.showComparison();
    if (isSet("start") && isSet("compare"))
        QTimer::singleShot(0, window.comparisonWindow(), &ComparisonWindow::startComparison);
    else if (isSet("start"))
        QTimer::singleShot(0, &window, &MainWindow::startTraining);
    return app.exec();
}
