// How fast the embedding explorer redraws while the user pans and zooms:
// 70,000 points in 10 classes (Fashion-MNIST's size; --points and --classes
// for others, --highlight to highlight the first classes as the class search
// does) in an offscreen EmbeddingView; each frame moves the view (alternately a pan and a wheel
// step around a point) and grabs the widget, which rebuilds the cached
// scatter and paints the overlays, as a real repaint does. Prints one JSON
// object: frames per second and frame-time percentiles. Target: >= 30 fps.
#include "explorer/embeddingview.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

using namespace liftlab;

namespace {

double percentile(std::vector<double> values, double p)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, size_t(p * double(values.size() - 1) + 0.5))];
}

} // namespace

int main(int argc, char **argv)
{
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Embedding explorer repaint rate while panning and zooming"));
    parser.addHelpOption();
    const QCommandLineOption points(QStringLiteral("points"), QStringLiteral("Points (default 70000)."),
                                    QStringLiteral("n"), QStringLiteral("70000"));
    const QCommandLineOption frames(QStringLiteral("frames"), QStringLiteral("Frames timed (default 300)."),
                                    QStringLiteral("n"), QStringLiteral("300"));
    const QCommandLineOption size(QStringLiteral("size"), QStringLiteral("View size WxH (default 1200x900)."),
                                  QStringLiteral("WxH"), QStringLiteral("1200x900"));
    const QCommandLineOption classesOption(QStringLiteral("classes"), QStringLiteral("Classes (default 10)."),
                                           QStringLiteral("n"), QStringLiteral("10"));
    const QCommandLineOption highlight(QStringLiteral("highlight"),
                                       QStringLiteral("Highlight the first n classes (default 0)."), QStringLiteral("n"),
                                       QStringLiteral("0"));
    parser.addOptions({points, frames, size, classesOption, highlight});
    parser.process(app);
    const int n = std::max(1, parser.value(points).toInt());
    const int count = std::max(1, parser.value(frames).toInt());
    const QStringList wh = parser.value(size).split(QLatin1Char('x'));
    const QSize viewSize(wh.value(0).toInt(), wh.value(1).toInt());
    const int classes = std::max(1, parser.value(classesOption).toInt());

    // Gaussian blobs on a ring, like a t-SNE of the classes.
    std::mt19937 rng(1);
    std::normal_distribution<float> normal;
    Matrix coords;
    coords.rows = n;
    coords.cols = 2;
    std::vector<int64_t> labels(static_cast<size_t>(n));
    QStringList names;
    for (int c = 0; c < classes; ++c)
        names.append(QStringLiteral("class %1").arg(c));
    for (int i = 0; i < n; ++i) {
        const int c = i % classes;
        labels[size_t(i)] = c;
        const double angle = c * 2 * M_PI / classes;
        coords.values.push_back(float(30 * std::cos(angle) + 6 * normal(rng)));
        coords.values.push_back(float(30 * std::sin(angle) + 6 * normal(rng)));
    }

    EmbeddingView view;
    view.resize(viewSize.isValid() ? viewSize : QSize(1200, 900));
    view.show();
    view.setData(coords, labels, names);
    std::vector<int64_t> highlighted(size_t(std::clamp(parser.value(highlight).toInt(), 0, classes)));
    std::iota(highlighted.begin(), highlighted.end(), int64_t(0));
    view.setHighlightedClasses(highlighted);
    view.grab(); // warm up

    std::vector<double> ms;
    ms.reserve(size_t(count));
    QElapsedTimer total;
    total.start();
    const QPointF centre(view.width() / 2.0, view.height() / 2.0);
    for (int f = 0; f < count; ++f) {
        QElapsedTimer t;
        t.start();
        // Zoom in for the first half, out for the second; pan in a circle throughout.
        if (f % 2 == 0)
            view.zoomAt(centre + QPointF(100 * std::cos(f * 0.1), 80 * std::sin(f * 0.1)), f < count / 2 ? 1.02 : 1 / 1.02);
        else
            view.panBy(QPointF(6 * std::cos(f * 0.05), 6 * std::sin(f * 0.05)));
        const QPixmap frame = view.grab();
        if (frame.isNull())
            return 1;
        ms.push_back(double(t.nsecsElapsed()) / 1e6);
    }
    const double seconds = double(total.nsecsElapsed()) / 1e9;

    QJsonObject out;
    out[QStringLiteral("points")] = n;
    out[QStringLiteral("classes")] = classes;
    out[QStringLiteral("highlighted")] = int(highlighted.size());
    out[QStringLiteral("frames")] = count;
    out[QStringLiteral("size")] = QStringLiteral("%1x%2").arg(view.width()).arg(view.height());
    out[QStringLiteral("renders")] = view.renderCount();
    out[QStringLiteral("fps")] = count / seconds;
    out[QStringLiteral("frame_ms_median")] = percentile(ms, 0.5);
    out[QStringLiteral("frame_ms_p95")] = percentile(ms, 0.95);
    out[QStringLiteral("frame_ms_max")] = percentile(ms, 1.0);
    out[QStringLiteral("drawn_last_frame")] = view.drawnPointCount();
    std::printf("%s\n", QJsonDocument(out).toJson(QJsonDocument::Compact).constData());
    return 0;
}
