// liftlab: the LiftLab window. Parses the command line and opens MainWindow;
// everything else lives in ui/.
#include "compare/comparisonwindow.h"
#include "error.h"
#include "experiment/experimentpanel.h"
#include "shell/logpanel.h"
#include "shell/mainwindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMessageBox>
#include <QTimer>

#include <cstdio>

using namespace liftlab;

int main(int argc, char **argv)
{
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("LiftLab"));
    QApplication::setApplicationName(QStringLiteral("LiftLab"));
    QApplication::setApplicationVersion(QStringLiteral(LIFTLAB_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("LiftLab: deep metric learning with the lifted structured loss"));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption start(QStringLiteral("start"), QStringLiteral("Start training as soon as the window opens."));
    const QCommandLineOption config(QStringLiteral("config"),
                                    QStringLiteral("Load the experiment from a JSON file (e.g. a run's config.json)."),
                                    QStringLiteral("file"));
    const QCommandLineOption iterations(QStringLiteral("iterations"), QStringLiteral("Training steps of the experiment."),
                                        QStringLiteral("n"));
    const QCommandLineOption evalEvery(QStringLiteral("eval-every"),
                                       QStringLiteral("Evaluate every n steps (0: at the end only)."), QStringLiteral("n"));
    const QCommandLineOption workspace(QStringLiteral("workspace"),
                                       QStringLiteral("Folder for runs (default: $LIFTLAB_WORKSPACE, else "
                                                      "~/.local/share/LiftLab/runs)."),
                                       QStringLiteral("dir"));
    const QCommandLineOption open(QStringLiteral("open"), QStringLiteral("Show this run directory (followed live)."),
                                  QStringLiteral("run"));
    const QCommandLineOption openComparison(QStringLiteral("open-comparison"),
                                            QStringLiteral("Show this comparison folder (liftlab-cli compare or the "
                                                           "GUI's compare mode) in the comparison window."),
                                            QStringLiteral("dir"));
    const QCommandLineOption compare(QStringLiteral("compare"),
                                     QStringLiteral("Open the comparison window with these losses, as liftlab-cli "
                                                    "compare --losses takes them (lifted,contrastive,triplet:miner="
                                                    "semi-hard); with --start the comparison starts at once."),
                                     QStringLiteral("losses"));
    parser.addOptions({start, config, iterations, evalEvery, workspace, open, openComparison, compare});
    parser.process(app);

    MainWindow window;
    if (parser.isSet(workspace))
        window.setWorkspace(parser.value(workspace));
    ExperimentConfig experiment = window.experimentPanel()->config();
    try {
        if (parser.isSet(config)) {
            QFile file(parser.value(config));
            if (!file.open(QIODevice::ReadOnly))
                throw fileError(file.fileName().toStdString(), "cannot read");
            experiment = configFromJson(QJsonDocument::fromJson(file.readAll()).object(), file.fileName().toStdString());
        }
        bool ok = true;
        if (parser.isSet(iterations))
            experiment.iterations = parser.value(iterations).toLongLong(&ok);
        if (ok && parser.isSet(evalEvery))
            experiment.evalEvery = parser.value(evalEvery).toLongLong(&ok);
        if (!ok)
            throw Error("--iterations and --eval-every take a whole number");
        if (parser.isSet(compare)) {
            const std::vector<LossChoice> losses = parseLossList(parser.value(compare).toStdString());
            if (losses.size() > size_t(ComparisonWindow::kMaxLosses))
                throw Error("--compare takes at most " + std::to_string(ComparisonWindow::kMaxLosses) + " losses");
            window.comparisonWindow()->setLosses(losses);
        }
    } catch (const Error &e) {
        std::fprintf(stderr, "liftlab: %s\n", e.what());
        return 2;
    }
    const QStringList changed = window.experimentPanel()->setConfig(experiment);
    if (parser.isSet(config))
        window.logPanel()->appendMessage(QObject::tr("Loaded %1: %2 on %3.")
                                             .arg(parser.value(config), QString::fromStdString(experiment.loss),
                                                  QString::fromStdString(experiment.dataset)));
    window.show();
    if (!changed.isEmpty()) {
        const QString text = QObject::tr("The form cannot hold these values of %1, so they were changed:\n%2")
                                 .arg(parser.value(config), changed.join(QLatin1Char('\n')));
        window.logPanel()->appendError(text);
        auto *box = new QMessageBox(QMessageBox::Warning, QObject::tr("Experiment changed"), text, QMessageBox::Ok,
                                    &window);
        box->setAttribute(Qt::WA_DeleteOnClose);
        box->show();
    }
    if (parser.isSet(open))
        window.openRun(parser.value(open));
    if (parser.isSet(openComparison))
        window.openComparison(parser.value(openComparison));
    if (parser.isSet(compare))
        window.showComparison();
    if (parser.isSet(start) && parser.isSet(compare))
        QTimer::singleShot(0, window.comparisonWindow(), &ComparisonWindow::startComparison);
    else if (parser.isSet(start))
        QTimer::singleShot(0, &window, &MainWindow::startTraining);
    return app.exec();
}
