// The embedding explorer on the offscreen platform: selections in the
// scatter fill the image grid with exactly the points inside; a click on a
// point searches its neighbours, checked against a brute-force search;
// t-SNE frames arrive while it runs, and a cancel stops it and leaves the
// view usable; the legend hides and isolates classes from drawing and
// selection; a real run's evaluations, projections, exports, retrieval by
// image file and the dataset browser work from its run directory.
#include "charts/colormap.h"
#include "experiment/experimentpanel.h"
#include "explorer/datasetbrowser.h"
#include "explorer/embeddingview.h"
#include "explorer/explorercontext.h"
#include "explorer/explorerpanel.h"
#include "explorer/retrievalbrowser.h"
#include "explorer/thumbnailmodel.h"
#include "shell/mainwindow.h"
#include "training/trainingsession.h"

#include "data/npy.h"
#include "projection/rundata.h"
#include "train/trainer.h"

#include "testdata.h"

#include <QComboBox>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QPushButton>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTest>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <numeric>
#include <random>
#include <set>

using namespace liftlab;
using liftlab::testing::TempDir;
using liftlab::testing::child;

namespace fs = std::filesystem;

namespace {

// Gaussian clusters in `dim` dimensions, one per class.
struct Synthetic
{
    Matrix embedding;
    std::vector<int64_t> labels;
    QStringList classNames;
};

Synthetic clusters(int classes, int perClass, int dim, unsigned seed = 7)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    std::vector<float> centres(size_t(classes) * size_t(dim));
    for (float &c : centres)
        c = 4 * normal(rng);
    Synthetic s;
    s.embedding.rows = int64_t(classes) * perClass;
    s.embedding.cols = dim;
    for (int i = 0; i < classes * perClass; ++i) {
        const int label = i % classes; // classes interleaved, as a dataset would be
        s.labels.push_back(label);
        for (int d = 0; d < dim; ++d)
            s.embedding.values.push_back(centres[size_t(label) * size_t(dim) + size_t(d)] + normal(rng));
    }
    for (int c = 0; c < classes; ++c)
        s.classNames.append(QStringLiteral("class-%1").arg(c));
    return s;
}

// A 28 x 28 grey image whose brightness says its class.
QImage syntheticImage(int64_t label)
{
    QImage image(28, 28, QImage::Format_Grayscale8);
    image.fill(QColor::fromRgb(int(40 + 20 * label) % 256, int(40 + 20 * label) % 256, int(40 + 20 * label) % 256));
    return image;
}

void setSynthetic(ExplorerContext &context, const Synthetic &s)
{
    const std::vector<int64_t> labels = s.labels;
    context.setData(s.labels, {}, s.classNames,
                    [labels](Subset, int64_t index) { return syntheticImage(labels[size_t(index)]); });
}

// Drags with the left button from `from` to `to` holding `modifiers`, through a few moves.
void drag(QWidget *widget, QPoint from, QPoint to, Qt::KeyboardModifiers modifiers)
{
    QTest::mousePress(widget, Qt::LeftButton, modifiers, from);
    for (int k = 1; k <= 4; ++k) {
        const QPoint at = from + (to - from) * k / 4;
        QMouseEvent move(QEvent::MouseMove, at, widget->mapToGlobal(at), Qt::NoButton, Qt::LeftButton, modifiers);
        QApplication::sendEvent(widget, &move);
    }
    QTest::mouseRelease(widget, Qt::LeftButton, modifiers, to);
}

// A real double click: press, release, double-click, release.
void doubleClick(QWidget *widget, QPoint at)
{
    QTest::mousePress(widget, Qt::LeftButton, {}, at);
    QTest::mouseRelease(widget, Qt::LeftButton, {}, at);
    QTest::mouseDClick(widget, Qt::LeftButton, {}, at);
    QTest::mouseRelease(widget, Qt::LeftButton, {}, at);
}

// Indices of the visible points whose screen position lies in `rect`, computed here.
QVector<int> expectedInRect(const EmbeddingView &view, const QRectF &rect)
{
    QVector<int> inside;
    for (int i = 0; i < view.pointCount(); ++i) {
        if (!view.isClassVisible(view.labels()[size_t(i)]))
            continue;
        const QPointF p = view.toScreen(view.dataPoint(i));
        if (p.x() >= rect.left() && p.x() <= rect.right() && p.y() >= rect.top() && p.y() <= rect.bottom())
            inside.append(i);
    }
    return inside;
}

QVector<int> gridIndices(const ThumbnailModel &model)
{
    QVector<int> indices;
    for (const ThumbnailModel::Item &item : model.items())
        indices.append(int(item.index));
    return indices;
}

// The panel, shown, on synthetic data with a PCA (deterministic, immediate) projection.
struct PanelFixture
{
    ExplorerContext context;
    ExplorerPanel panel{&context};
    RetrievalBrowser retrieval{&context};
    Synthetic data;

    explicit PanelFixture(const Synthetic &s, const QString &method = QStringLiteral("pca"))
        : data(s)
    {
        panel.resize(900, 800);
        panel.show();
        panel.setMethod(method);
        QObject::connect(&panel, &ExplorerPanel::queryRequested, &retrieval,
                         [this](int, qint64 index) { retrieval.setQueryIndex(index); });
        setSynthetic(context, s);
    }
};

} // namespace

class TestExplorer : public QObject
{
    Q_OBJECT

    TempDir m_dir;
    std::string m_data;
    QString m_run;

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("LiftLab"));
        QCoreApplication::setApplicationName(QStringLiteral("LiftLabExplorerTest"));
    }

    // Widgets on synthetic data ---------------------------------------------

    void rectangleSelectionFillsGrid_data()
    {
        QTest::addColumn<QRectF>("fraction"); // of the view
        QTest::newRow("centre") << QRectF(0.3, 0.3, 0.4, 0.4);
        QTest::newRow("left strip") << QRectF(0.05, 0.1, 0.3, 0.85);
        QTest::newRow("bottom half") << QRectF(0.02, 0.5, 0.7, 0.48);
        QTest::newRow("empty corner") << QRectF(0.01, 0.01, 0.03, 0.03); // not (0, 0): QTest reads a null point as the centre
    }

    void rectangleSelectionFillsGrid()
    {
        QFETCH(QRectF, fraction);
        PanelFixture f(clusters(6, 150, 2));
        QSignalSpy finished(&f.panel, &ExplorerPanel::projectionFinished);
        f.context.setEmbedding(100, f.data.embedding);
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 30000);
        EmbeddingView *view = f.panel.view();
        QCOMPARE(view->pointCount(), 900);

        const QRect rect(QPoint(int(fraction.left() * view->width()), int(fraction.top() * view->height())),
                         QPoint(int(fraction.right() * view->width()), int(fraction.bottom() * view->height())));
        const QVector<int> expected = expectedInRect(*view, QRectF(rect.topLeft(), rect.bottomRight()));
        QSignalSpy selected(view, &EmbeddingView::selectionChanged);
        drag(view, rect.topLeft(), rect.bottomRight(), Qt::ShiftModifier);

        QCOMPARE(selected.count(), 1);
        QCOMPARE(selected.first().first().value<QVector<int>>(), expected);
        QCOMPARE(gridIndices(*f.panel.selectionModel()), expected);
        QCOMPARE(f.panel.selectionGrid()->model()->rowCount(), expected.size());
        for (const ThumbnailModel::Item &item : f.panel.selectionModel()->items())
            QCOMPARE(item.label, f.data.labels[size_t(item.index)]);
        if (QTest::currentDataTag() != QByteArray("empty corner"))
            QVERIFY(!expected.isEmpty()); // the row tests something
    }

    void lassoSelectsInsidePolygon()
    {
        PanelFixture f(clusters(5, 120, 2));
        QSignalSpy finished(&f.panel, &ExplorerPanel::projectionFinished);
        f.context.setEmbedding(1, f.data.embedding);
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 30000);
        EmbeddingView *view = f.panel.view();
        // A triangle through the middle of the view.
        const QPoint a(view->width() / 5, view->height() * 4 / 5), b(view->width() / 2, view->height() / 5),
            c(view->width() * 4 / 5, view->height() * 4 / 5);
        QSignalSpy selected(view, &EmbeddingView::selectionChanged);
        QTest::mousePress(view, Qt::LeftButton, Qt::ControlModifier, a);
        for (const QPoint &to : {b, c}) {
            const QPoint from = to == b ? a : b;
            for (int k = 1; k <= 20; ++k) {
                const QPoint at = from + (to - from) * k / 20;
                QMouseEvent move(QEvent::MouseMove, at, view->mapToGlobal(at), Qt::NoButton, Qt::LeftButton,
                                 Qt::ControlModifier);
                QApplication::sendEvent(view, &move);
            }
        }
        QTest::mouseRelease(view, Qt::LeftButton, Qt::ControlModifier, c);
        QCOMPARE(selected.count(), 1);
        const QVector<int> got = selected.first().first().value<QVector<int>>();
        QVERIFY(!got.isEmpty());
        QVERIFY(got.size() < view->pointCount());
        const QPolygonF triangle({QPointF(a), QPointF(b), QPointF(c)});
        for (int i = 0; i < view->pointCount(); ++i) {
            const QPointF p = view->toScreen(view->dataPoint(i));
            // Points clearly inside or outside (the lasso follows the mouse in steps).
            const bool inside = triangle.containsPoint(p, Qt::OddEvenFill);
            QPolygonF grown = triangle, shrunk = triangle;
            const QPointF centre = (QPointF(a) + QPointF(b) + QPointF(c)) / 3;
            for (QPointF &v : grown)
                v = centre + (v - centre) * 1.05;
            for (QPointF &v : shrunk)
                v = centre + (v - centre) * 0.95;
            if (shrunk.containsPoint(p, Qt::OddEvenFill))
                QVERIFY2(got.contains(i), qPrintable(QString::number(i)));
            else if (!grown.containsPoint(p, Qt::OddEvenFill))
                QVERIFY2(!got.contains(i), qPrintable(QString::number(i)));
            Q_UNUSED(inside);
        }
        QCOMPARE(gridIndices(*f.panel.selectionModel()), got);
    }

    void clickSearchesNeighbours_data()
    {
        QTest::addColumn<int>("k");
        QTest::addColumn<bool>("cosine");
        QTest::addColumn<int>("pick");
        QTest::newRow("K=5 Euclidean") << 5 << false << 17;
        QTest::newRow("K=20 cosine") << 20 << true << 333;
        QTest::newRow("K=100 Euclidean") << 100 << false << 501;
    }

    void clickSearchesNeighbours()
    {
        QFETCH(int, k);
        QFETCH(bool, cosine);
        QFETCH(int, pick);
        // 16 dimensions, overlapping classes: neighbours of both kinds.
        Synthetic s = clusters(8, 80, 16, 11);
        for (float &v : s.embedding.values)
            v *= 0.35f;
        PanelFixture f(s);
        f.retrieval.setK(k);
        f.retrieval.setDistanceMetric(cosine ? RetrievalBrowser::Metric::Cosine : RetrievalBrowser::Metric::Euclidean);
        QSignalSpy finished(&f.panel, &ExplorerPanel::projectionFinished);
        f.context.setEmbedding(5, s.embedding);
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 30000);
        EmbeddingView *view = f.panel.view();

        const QPoint at = view->toScreen(view->dataPoint(pick)).toPoint();
        const int expectedQuery = view->pointAt(at);
        QVERIFY(expectedQuery >= 0);
        QSignalSpy activated(view, &EmbeddingView::pointActivated);
        QSignalSpy results(&f.retrieval, &RetrievalBrowser::resultsChanged);
        QTest::mouseClick(view, Qt::LeftButton, {}, at);
        QCOMPARE(activated.count(), 1);
        QCOMPARE(activated.first().first().toInt(), expectedQuery);
        QVERIFY(results.count() >= 1);
        QCOMPARE(f.retrieval.queryIndex(), int64_t(expectedQuery));

        // Brute force, in double, over the normalised or raw rows.
        const int64_t n = s.embedding.rows, dim = s.embedding.cols;
        std::vector<double> rows(s.embedding.values.begin(), s.embedding.values.end());
        if (cosine)
            for (int64_t i = 0; i < n; ++i) {
                double norm = 0;
                for (int64_t d = 0; d < dim; ++d)
                    norm += rows[size_t(i * dim + d)] * rows[size_t(i * dim + d)];
                for (int64_t d = 0; d < dim; ++d)
                    rows[size_t(i * dim + d)] /= std::sqrt(norm);
            }
        std::vector<std::pair<double, int64_t>> all;
        for (int64_t j = 0; j < n; ++j) {
            if (j == expectedQuery)
                continue;
            double sum = 0;
            for (int64_t d = 0; d < dim; ++d) {
                const double diff = rows[size_t(expectedQuery * dim + d)] - rows[size_t(j * dim + d)];
                sum += diff * diff;
            }
            all.push_back({cosine ? sum / 2 : std::sqrt(sum), j});
        }
        std::sort(all.begin(), all.end());

        const std::vector<RetrievalBrowser::Result> &got = f.retrieval.results();
        QCOMPARE(int(got.size()), k);
        QCOMPARE(f.retrieval.model()->rowCount(), k);
        const int64_t queryLabel = s.labels[size_t(expectedQuery)];
        int hits = 0;
        double apSum = 0;
        for (int i = 0; i < k; ++i) {
            QCOMPARE(got[size_t(i)].index, all[size_t(i)].second);
            QVERIFY2(std::abs(got[size_t(i)].distance - all[size_t(i)].first) <= 1e-4 * (1 + all[size_t(i)].first),
                     qPrintable(QStringLiteral("%1 vs %2").arg(got[size_t(i)].distance).arg(all[size_t(i)].first)));
            if (i > 0)
                QVERIFY(got[size_t(i)].distance >= got[size_t(i - 1)].distance);
            const bool same = s.labels[size_t(all[size_t(i)].second)] == queryLabel;
            QCOMPARE(got[size_t(i)].sameClass, same);
            QCOMPARE(f.retrieval.model()->item(i).mark, same ? 1 : -1);
            QCOMPARE(f.retrieval.model()->item(i).rank, i + 1);
            if (same) {
                ++hits;
                apSum += double(hits) / (i + 1);
            }
        }
        const int relevant = int(std::count(s.labels.begin(), s.labels.end(), queryLabel)) - 1;
        QCOMPARE(f.retrieval.precisionAtK(), double(hits) / k);
        QVERIFY(std::abs(f.retrieval.averagePrecision() - apSum / std::min(k, relevant)) < 1e-12);
        QVERIFY(hits > 0);
        QVERIFY(f.retrieval.statsLabel()->text().contains(QStringLiteral("precision@%1").arg(k)));
    }

    void liveFramesArriveDuringTsne()
    {
        PanelFixture f(clusters(6, 200, 10), QStringLiteral("tsne"));
        TsneOptions o;
        o.iterations = 300;
        f.panel.setTsneOptions(o);
        QSignalSpy frames(&f.panel, &ExplorerPanel::frameShown);
        QSignalSpy finished(&f.panel, &ExplorerPanel::projectionFinished);
        int framesBeforeEnd = 0;
        Matrix firstFrame;
        connect(&f.panel, &ExplorerPanel::frameShown, this, [&] {
            if (finished.isEmpty())
                ++framesBeforeEnd;
            if (firstFrame.rows == 0)
                firstFrame = f.panel.view()->coordinates();
        });
        f.context.setEmbedding(10, f.data.embedding);
        QVERIFY(f.panel.isRunning());
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 240000);
        QCOMPARE(finished.first().first().toBool(), false); // not cancelled
        QVERIFY2(framesBeforeEnd >= 2, qPrintable(QString::number(framesBeforeEnd)));
        QCOMPARE(framesBeforeEnd, frames.count());
        // Iterations reported in order, and the points moved between the first frame and the end.
        for (int i = 1; i < frames.count(); ++i)
            QVERIFY(frames.at(i).first().toInt() > frames.at(i - 1).first().toInt());
        QCOMPARE(f.panel.view()->pointCount(), 1200);
        QVERIFY(firstFrame.values != f.panel.view()->coordinates().values);
        QCOMPARE(f.panel.shownMethod(), QStringLiteral("tsne"));
        QVERIFY(!f.panel.isRunning());
        QVERIFY(f.panel.progressLabel()->text().contains(QStringLiteral("1200 points")));
    }

    void cancelStopsTsneAndLeavesViewUsable()
    {
        PanelFixture f(clusters(6, 250, 10), QStringLiteral("tsne"));
        TsneOptions o;
        o.iterations = 10000; // far more than the test waits for
        f.panel.setTsneOptions(o);
        QSignalSpy frames(&f.panel, &ExplorerPanel::frameShown);
        QSignalSpy finished(&f.panel, &ExplorerPanel::projectionFinished);
        f.context.setEmbedding(10, f.data.embedding);
        QTRY_VERIFY_WITH_TIMEOUT(frames.count() >= 2, 240000);
        auto *cancel = f.panel.findChild<QPushButton *>(QStringLiteral("cancelProjectionButton"));
        QVERIFY(cancel && cancel->isEnabled());
        QTest::mouseClick(cancel, Qt::LeftButton);
        // Bounded: t-SNE checks the flag every iteration.
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
        QCOMPARE(finished.first().first().toBool(), true);
        QVERIFY(!f.panel.isRunning());
        QVERIFY(!cancel->isEnabled());
        const int framesAtEnd = frames.count();
        QVERIFY(frames.last().first().toInt() < 10000);
        QTest::qWait(300);
        QCOMPARE(frames.count(), framesAtEnd); // nothing after the end
        QVERIFY(f.panel.progressLabel()->text().contains(QStringLiteral("cancelled")));

        // The view still works: a selection over everything, then a new projection.
        EmbeddingView *view = f.panel.view();
        QCOMPARE(view->pointCount(), 1500);
        view->resetView();
        QSignalSpy selected(view, &EmbeddingView::selectionChanged);
        drag(view, QPoint(1, view->height() - 2), QPoint(view->width() - 2, 1), Qt::ShiftModifier);
        QCOMPARE(selected.count(), 1);
        QCOMPARE(selected.first().first().value<QVector<int>>().size(), 1500);
        f.panel.setMethod(QStringLiteral("pca"));
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 30000);
        QCOMPARE(finished.last().first().toBool(), false);
        QCOMPARE(f.panel.shownMethod(), QStringLiteral("pca"));
    }

    void legendHidesAndIsolates_data()
    {
        QTest::addColumn<QString>("gesture");
        QTest::addColumn<int>("label");
        QTest::addColumn<QList<int>>("visible");
        QTest::newRow("click hides") << "click" << 2 << QList<int>{0, 1, 3, 4};
        QTest::newRow("two clicks show again") << "click click" << 2 << QList<int>{0, 1, 2, 3, 4};
        QTest::newRow("double-click isolates") << "double" << 3 << QList<int>{3};
        QTest::newRow("double-click again shows all") << "double double" << 1 << QList<int>{0, 1, 2, 3, 4};
        QTest::newRow("isolate a hidden class") << "click double" << 4 << QList<int>{4};
    }

    void legendHidesAndIsolates()
    {
        QFETCH(QString, gesture);
        QFETCH(int, label);
        QFETCH(QList<int>, visible);
        const Synthetic s = clusters(5, 100, 2);
        EmbeddingView view;
        view.resize(700, 600);
        view.show();
        view.setData(s.embedding, s.labels, s.classNames); // the data as coordinates
        view.renderedImage();
        QCOMPARE(view.drawnPointCount(), 500);

        const QPoint at = view.legendRect(label).center();
        QVERIFY(!at.isNull());
        for (const QString &g : gesture.split(QLatin1Char(' '))) {
            if (g == QLatin1String("click"))
                QTest::mouseClick(&view, Qt::LeftButton, {}, at);
            else
                doubleClick(&view, at);
        }
        int expectedDrawn = 0;
        for (int c = 0; c < 5; ++c) {
            QCOMPARE(view.isClassVisible(c), visible.contains(c));
            expectedDrawn += visible.contains(c) ? 100 : 0;
        }
        // Drawn: the cache holds exactly the visible classes' points and colours.
        const QImage &image = view.renderedImage();
        QCOMPARE(view.drawnPointCount(), expectedDrawn);
        std::vector<bool> colourSeen(5, false);
        for (int y = 0; y < image.height(); ++y) {
            const auto *line = reinterpret_cast<const QRgb *>(image.constScanLine(y));
            for (int x = 0; x < image.width(); ++x)
                for (int c = 0; c < 5; ++c)
                    if ((line[x] & 0xffffff) == (categorical(c) & 0xffffff))
                        colourSeen[size_t(c)] = true;
        }
        for (int c = 0; c < 5; ++c)
            QCOMPARE(bool(colourSeen[size_t(c)]), visible.contains(c));
        // Selectable: a rectangle over everything picks the visible classes only.
        QSignalSpy selected(&view, &EmbeddingView::selectionChanged);
        drag(&view, QPoint(1, view.height() - 2), QPoint(view.width() - 2, 1), Qt::ShiftModifier);
        QCOMPARE(selected.count(), 1);
        const QVector<int> got = selected.first().first().value<QVector<int>>();
        QCOMPARE(got.size(), expectedDrawn);
        for (int i : got)
            QVERIFY(visible.contains(int(s.labels[size_t(i)])));
        // Hover finds no hidden point.
        for (int i = 0; i < 500; i += 7)
            if (!visible.contains(int(s.labels[size_t(i)]))) {
                const int hit = view.pointAt(view.toScreen(view.dataPoint(i)));
                QVERIFY(hit < 0 || visible.contains(int(s.labels[size_t(hit)])));
            }
    }

    // Stanford Online Products has 11,316 test classes: the legend lists the
    // largest, and the class search highlights the classes it finds (the
    // others grey) and lists them first.
    void classSearchAmongThousandsOfClasses()
    {
        Synthetic s;
        const int classes = 3000;
        std::mt19937 rng(3);
        std::normal_distribution<float> normal;
        for (int c = 0; c < classes; ++c) {
            s.classNames.append(QStringLiteral("product-%1").arg(c));
            for (int k = 0; k <= c % 7; ++k) { // 1 to 7 points a class
                s.labels.push_back(c);
                s.embedding.values.push_back(float(c % 60) + 0.2f * normal(rng));
                s.embedding.values.push_back(float(c / 60) + 0.2f * normal(rng));
            }
        }
        s.embedding.rows = int64_t(s.labels.size());
        s.embedding.cols = 2;
        PanelFixture f(s);
        QSignalSpy finished(&f.panel, &ExplorerPanel::projectionFinished);
        f.context.setEmbedding(100, s.embedding);
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 30000);
        EmbeddingView &view = *f.panel.view();
        QCOMPARE(view.pointCount(), int(s.labels.size()));

        // No search: the legend lists classes of 7 points only, and says how many more there are.
        int listed = 0;
        for (int c = 0; c < classes; ++c)
            if (!view.legendRect(c).isEmpty()) {
                QCOMPARE(c % 7, 6);
                ++listed;
            }
        QVERIFY(listed > 3 && listed < classes / 7);

        // A search: the classes whose name contains the text, the most points first.
        f.panel.classSearch()->setText(QStringLiteral("PRODUCT-123"));
        const std::vector<int64_t> found = view.highlightedClasses();
        QCOMPARE(found, (std::vector<int64_t>{1231, 1238, 1230, 1237, 123, 1236, 1235, 1234, 1233, 1232, 1239}));
        QCOMPARE(f.panel.progressLabel()->text(), QStringLiteral("11 classes, 47 points"));
        // Listed first, in that order, whatever their size.
        for (size_t k = 1; k < found.size(); ++k)
            QVERIFY(view.legendRect(found[k - 1]).top() < view.legendRect(found[k]).top());
        for (int c = 0; c < classes; ++c)
            if (!view.legendRect(c).isEmpty() && !std::count(found.begin(), found.end(), c))
                QVERIFY(view.legendRect(c).top() > view.legendRect(found.back()).top());
        // Drawn: the found classes in their colours, the others grey.
        std::set<QRgb> colours;
        const QImage &image = view.renderedImage();
        for (int y = 0; y < image.height(); ++y) {
            const auto *line = reinterpret_cast<const QRgb *>(image.constScanLine(y));
            colours.insert(line, line + image.width());
        }
        QVERIFY(colours.count(qRgb(214, 214, 214)));
        for (const int64_t c : found)
            QVERIFY2(colours.count(categorical(int(c))), qPrintable(QString::number(c)));
        for (const int c : {0, 6, 999, 2999})
            QVERIFY(!colours.count(categorical(c)));

        // Nothing found, then the search cleared: every class in its colour again.
        f.panel.classSearch()->setText(QStringLiteral("chair"));
        QVERIFY(view.highlightedClasses().empty());
        QVERIFY(f.panel.progressLabel()->text().startsWith(QStringLiteral("No class matches")));
        f.panel.classSearch()->clear();
        QVERIFY(view.highlightedClasses().empty());
        const QImage &all = view.renderedImage();
        bool grey = false;
        for (int y = 0; y < all.height() && !grey; ++y) {
            const auto *line = reinterpret_cast<const QRgb *>(all.constScanLine(y));
            grey = std::find(line, line + all.width(), qRgb(214, 214, 214)) != line + all.width();
        }
        QVERIFY(!grey);
    }

    void hoverUsesTheCacheAndZoomKeepsTheCursorPoint()
    {
        const Synthetic s = clusters(4, 200, 2);
        EmbeddingView view;
        view.resize(640, 480);
        view.show();
        view.setData(s.embedding, s.labels, s.classNames);
        view.setThumbnailProvider([&](int i) { return syntheticImage(s.labels[size_t(i)]); });
        view.renderedImage();
        const int renders = view.renderCount();
        // The fit leaves the legend's column free.
        for (int i = 0; i < view.pointCount(); ++i)
            QVERIFY(view.toScreen(view.dataPoint(i)).x() < view.legendRect(0).left());
        QSignalSpy hovered(&view, &EmbeddingView::hovered);
        const QPointF p = view.toScreen(view.dataPoint(42));
        const int expected = view.pointAt(p);
        QVERIFY(expected >= 0);
        QMouseEvent move(QEvent::MouseMove, p, view.mapToGlobal(p), Qt::NoButton, Qt::NoButton, {});
        QApplication::sendEvent(&view, &move);
        QCOMPARE(view.hoveredPoint(), expected);
        QCOMPARE(hovered.count(), 1);
        QVERIFY(!view.grab().isNull()); // draws the hover card
        QCOMPARE(view.renderCount(), renders); // hovering draws over the cache

        // The wheel zooms around the cursor: the data point under it stays.
        const QPointF cursor(200, 150);
        const QPointF before = view.toData(cursor);
        const double scale = view.scale();
        QWheelEvent wheel(cursor, view.mapToGlobal(cursor), QPoint(), QPoint(0, 240), Qt::NoButton, {},
                          Qt::NoScrollPhase, false);
        QApplication::sendEvent(&view, &wheel);
        QVERIFY(view.scale() > scale * 1.2);
        QVERIFY(QLineF(view.toData(cursor), before).length() < 1e-9 * (1 + QLineF(QPointF(), before).length()) + 1e-9);
        view.renderedImage();
        QCOMPARE(view.renderCount(), renders + 1);

        // A live frame keeps the zoom; asking to fit does not.
        Matrix moved = view.coordinates();
        for (float &v : moved.values)
            v *= 1.5f;
        const double zoomed = view.scale();
        view.setCoordinates(moved);
        QCOMPARE(view.scale(), zoomed);
        view.setCoordinates(moved, true);
        QVERIFY(view.scale() != zoomed);
    }

    void closingTheWindowMidTsneEndsTheWorker()
    {
        MainWindow w;
        w.applyDefaultLayout(QSize(1600, 1000));
        w.show();
        w.findChild<QDockWidget *>(QStringLiteral("explorerDock"))->raise();
        ExplorerPanel *panel = child<ExplorerPanel>(&w, "explorerPanel");
        QTRY_VERIFY(panel->isInSight());
        panel->setMethod(QStringLiteral("tsne"));
        TsneOptions o;
        o.iterations = 10000;
        panel->setTsneOptions(o);
        QSignalSpy frames(panel, &ExplorerPanel::frameShown);
        const Synthetic s = clusters(5, 200, 8);
        setSynthetic(*child<ExplorerContext>(&w, "explorerContext"), s);
        child<ExplorerContext>(&w, "explorerContext")->setEmbedding(1, s.embedding);
        QTRY_VERIFY_WITH_TIMEOUT(frames.count() >= 1, 240000);
        QVERIFY(panel->isRunning());
        QVERIFY(panel->isWorkerThreadRunning());
        QElapsedTimer clock;
        clock.start();
        QVERIFY(w.close()); // cancels and waits
        qInfo("closed in %lld ms", (long long)clock.elapsed());
        QVERIFY2(clock.elapsed() < 2000, qPrintable(QString::number(clock.elapsed())));
        QVERIFY(!panel->isWorkerThreadRunning());
    }

    // A real run ------------------------------------------------------------

    void trainRun()
    {
        m_data = m_dir.file("data");
        liftlab::testing::writeSyntheticIdx(m_data, 10, 30, 12);
        ExperimentConfig c;
        c.dataset = m_data;
        c.split = "seen";
        c.classesPerBatch = 4;
        c.perClass = 4;
        c.iterations = 40;
        c.checkpointEvery = 20;
        c.evalEvery = 20;
        c.threads = 2;
        c.learningRate = 3e-3;
        m_run = QString::fromStdString(m_dir.file("run"));
        std::unique_ptr<Trainer> trainer = Trainer::start(c, m_run.toStdString());
        std::atomic<bool> cancel{false};
        QCOMPARE(int(trainer->run({}, cancel)), int(Trainer::Outcome::Finished));
        QVERIFY(fs::exists(fs::path(m_run.toStdString()) / "embeddings"));
    }

    void realRunStepsProjectionsAndExports()
    {
        if (m_run.isEmpty())
            QSKIP("no run");
        ExplorerContext context;
        ExplorerPanel panel(&context);
        panel.resize(900, 800);
        panel.show();
        panel.setMethod(QStringLiteral("pca"));
        QSignalSpy loaded(&context, &ExplorerContext::runChanged);
        QSignalSpy started(&panel, &ExplorerPanel::projectionStarted);
        QSignalSpy finished(&panel, &ExplorerPanel::projectionFinished);
        context.openRun(m_run);
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 60000);
        QCOMPARE(context.steps(), (std::vector<int64_t>{20, 40}));
        QCOMPARE(context.step(), int64_t(40)); // the newest evaluation first
        QCOMPARE(context.embedding().rows, int64_t(120));
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 30000);
        QCOMPARE(panel.shownStep(), int64_t(40));
        QCOMPARE(panel.view()->pointCount(), 120);
        // Kept in the run directory.
        std::optional<Matrix> saved = context.runData()->projection("pca", 40);
        QVERIFY(saved);
        QCOMPARE(saved->values, panel.view()->coordinates().values);

        // The slider steps back through the evaluations.
        QCOMPARE(panel.stepSlider()->maximum(), 1);
        panel.stepSlider()->setValue(0);
        QCOMPARE(context.step(), int64_t(20));
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 30000);
        QCOMPARE(panel.shownStep(), int64_t(20));
        QVERIFY(context.runData()->projection("pca", 20));
        const int startedBefore = started.count();
        panel.stepSlider()->setValue(1); // computed already: shown at once
        QCOMPARE(panel.shownStep(), int64_t(40));
        QCOMPARE(started.count(), startedBefore);

        // Exports.
        const QString csv = QString::fromStdString(m_dir.file("p.csv"));
        const QString npy = QString::fromStdString(m_dir.file("p.npy"));
        const QString png = QString::fromStdString(m_dir.file("p.png"));
        QVERIFY(panel.exportCsv(csv));
        QFile file(csv);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QList<QByteArray> lines = file.readAll().split('\n');
        QCOMPARE(lines.first(), QByteArray("index,x,y,label,class"));
        QCOMPARE(lines.size(), 120 + 2); // header, rows, empty tail
        QString error;
        QVERIFY2(panel.exportNpy(npy, &error), qPrintable(error));
        const NpyArray array = readNpy(npy.toStdString());
        QCOMPARE(array.shape, (std::vector<int64_t>{120, 2}));
        QCOMPARE(array.toFloats(), panel.view()->coordinates().values);
        QVERIFY(panel.exportPng(png));
        QCOMPARE(QImage(png).size(), panel.view()->size());

        // Another window on the same run loads the saved projection instead of computing it.
        ExplorerContext again;
        ExplorerPanel second(&again);
        second.setMethod(QStringLiteral("pca"));
        QSignalSpy secondStarted(&second, &ExplorerPanel::projectionStarted);
        QSignalSpy secondLoaded(&again, &ExplorerContext::runChanged);
        again.openRun(m_run);
        QTRY_COMPARE_WITH_TIMEOUT(secondLoaded.count(), 1, 60000);
        QCOMPARE(secondStarted.count(), 0);
        QCOMPARE(second.shownStep(), int64_t(40));
        QCOMPARE(second.view()->coordinates().values, saved->values);
    }

    void realRunUmapMovesLiveCancelsAndIsSaved()
    {
        if (m_run.isEmpty())
            QSKIP("no run");
        ExplorerContext context;
        ExplorerPanel panel(&context);
        panel.resize(900, 800);
        panel.show();
        panel.setMethod(QStringLiteral("umap"));
        QVERIFY(panel.findChild<QSpinBox *>(QStringLiteral("umapNeighborsBox"))->isVisible());
        QVERIFY(!panel.findChild<QDoubleSpinBox *>(QStringLiteral("perplexityBox"))->isVisible());
        UmapOptions o;
        o.epochs = 100000; // far more than the test waits for
        panel.setUmapOptions(o);
        QSignalSpy loaded(&context, &ExplorerContext::runChanged);
        QSignalSpy frames(&panel, &ExplorerPanel::frameShown);
        QSignalSpy finished(&panel, &ExplorerPanel::projectionFinished);
        context.openRun(m_run);
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 60000);
        QTRY_VERIFY_WITH_TIMEOUT(frames.count() >= 3, 60000);
        const Matrix early = panel.view()->coordinates();
        const int seen = int(frames.count());
        QTRY_VERIFY_WITH_TIMEOUT(frames.count() >= seen + 3, 60000);
        QVERIFY(panel.view()->coordinates().values != early.values); // the points move
        QVERIFY2(panel.progressLabel()->text().startsWith(QStringLiteral("UMAP epoch")),
                 qPrintable(panel.progressLabel()->text()));
        QTest::mouseClick(panel.findChild<QPushButton *>(QStringLiteral("cancelProjectionButton")), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
        QCOMPARE(finished.first().first().toBool(), true);
        QVERIFY(panel.progressLabel()->text().contains(QStringLiteral("UMAP cancelled at epoch")));
        QVERIFY(!context.runData()->projection("umap", 40)); // a cancelled layout is not kept

        // To the end: kept in the run directory as projections/umap-40.npy.
        o.epochs = 0;
        panel.setUmapOptions(o);
        QTest::mouseClick(panel.findChild<QPushButton *>(QStringLiteral("rerunButton")), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 120000);
        QCOMPARE(finished.last().first().toBool(), false);
        QCOMPARE(panel.shownMethod(), QStringLiteral("umap"));
        const std::optional<Matrix> saved = context.runData()->projection("umap", 40);
        QVERIFY(saved);
        QCOMPARE(saved->values, panel.view()->coordinates().values);
        QVERIFY(std::filesystem::exists(std::filesystem::path(m_run.toStdString()) / "projections" / "umap-40.npy"));
    }

    void realRunRetrievalByFile()
    {
        if (m_run.isEmpty())
            QSKIP("no run");
        ExplorerContext context;
        RetrievalBrowser retrieval(&context);
        QSignalSpy loaded(&context, &ExplorerContext::runChanged);
        context.openRun(m_run);
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 60000);
        // A test image written to disk embeds to (almost) its saved row: it finds itself first.
        const QString path = QString::fromStdString(m_dir.file("query.png"));
        QVERIFY(context.image(Subset::Test, 7).save(path));
        QSignalSpy results(&retrieval, &RetrievalBrowser::resultsChanged);
        retrieval.setK(12);
        retrieval.setQueryFile(path);
        QTRY_VERIFY_WITH_TIMEOUT(!retrieval.results().empty(), 60000);
        QCOMPARE(int(retrieval.results().size()), 12);
        QCOMPARE(retrieval.results().front().index, int64_t(7));
        QVERIFY2(retrieval.results().front().distance < 1e-2f,
                 qPrintable(QString::number(retrieval.results().front().distance)));
        QCOMPARE(retrieval.queryLabel(), int64_t(-1)); // a file has no class
        QVERIFY(std::isnan(retrieval.precisionAtK()));

        // A train image is embedded the same way and keeps its class.
        retrieval.setQueryTrainImage(3);
        QTRY_VERIFY_WITH_TIMEOUT(!retrieval.isEmbedding() && retrieval.queryLabel() >= 0, 60000);
        QCOMPARE(retrieval.queryLabel(), context.label(Subset::Train, 3));
        QCOMPARE(int(retrieval.results().size()), 12);
        QVERIFY(retrieval.precisionAtK() >= 0);

        // Not an image: a message, not a crash.
        QSignalSpy failed(&retrieval, &RetrievalBrowser::failed);
        retrieval.setQueryFile(QString::fromStdString(m_dir.file("no-such.png")));
        QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, 60000);
    }

    void realRunDatasetBrowser()
    {
        if (m_run.isEmpty())
            QSKIP("no run");
        ExplorerContext context;
        DatasetBrowser browser(&context);
        browser.resize(800, 600);
        browser.show();
        QSignalSpy loaded(&context, &ExplorerContext::runChanged);
        context.openRun(m_run);
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 60000);
        QCOMPARE(browser.model()->rowCount(), 300 + 120);
        QVERIFY(browser.model()->thumbnailsMade() < 200); // lazily, for the rows on screen
        QTRY_VERIFY(browser.model()->thumbnailsMade() > 0);

        browser.setSubsetFilter(int(Subset::Test));
        browser.setClassFilter(3);
        QCOMPARE(browser.proxy()->rowCount(), 12);
        for (int r = 0; r < 12; ++r)
            QCOMPARE(browser.proxy()->index(r, 0).data(ThumbnailModel::LabelRole).toLongLong(), qint64(3));
        browser.setClassFilter(-1);
        browser.setSubsetFilter(int(Subset::Train));
        QCOMPARE(browser.proxy()->rowCount(), 300);

        // Distance order: the test set only, nearest first, matching a direct computation.
        browser.sortByDistanceTo(5);
        QCOMPARE(browser.proxy()->rowCount(), 120);
        const Matrix &e = context.embedding();
        std::vector<std::pair<double, int64_t>> expected;
        for (int64_t j = 0; j < e.rows; ++j) {
            double sum = 0;
            for (int64_t d = 0; d < e.cols; ++d)
                sum += std::pow(double(e.row(5)[d]) - e.row(j)[d], 2);
            expected.push_back({std::sqrt(sum), j});
        }
        std::sort(expected.begin(), expected.end());
        for (int r = 0; r < 120; ++r)
            QCOMPARE(browser.proxy()->index(r, 0).data(ThumbnailModel::IndexRole).toLongLong(),
                     qint64(expected[size_t(r)].second));
        QVERIFY(browser.findChild<QLabel *>(QStringLiteral("datasetHint"))->text().contains(QStringLiteral("test set")));
    }

    void trainingHereFeedsTheExplorer()
    {
        if (m_data.empty())
            QSKIP("no data");
        qputenv("LIFTLAB_WORKSPACE", QByteArray::fromStdString(m_dir.file("workspace")));
        MainWindow w;
        w.applyDefaultLayout(QSize(1600, 1000));
        w.show();
        child<ExplorerPanel>(&w, "explorerPanel")->setMethod(QStringLiteral("pca"));
        ExperimentConfig c = w.experimentPanel()->config();
        c.dataset = m_data;
        c.split = "seen";
        c.classesPerBatch = 4;
        c.perClass = 4;
        c.iterations = 60;
        c.evalEvery = 20;
        c.checkpointEvery = 20;
        c.threads = 2;
        c.learningRate = 3e-3;
        w.experimentPanel()->setConfig(c);
        QSignalSpy ended(&w, &MainWindow::runEnded);
        QSignalSpy evals(w.session(), &TrainingSession::evalReady);
        w.findChild<QDockWidget *>(QStringLiteral("explorerDock"))->raise(); // projections only when in sight
        w.startTraining();
        QTRY_COMPARE_WITH_TIMEOUT(ended.count(), 1, 240000);
        QCOMPARE(evals.count(), 3);
        // Each evaluation reached the explorer: the live run, all its steps, the newest shown.
        QTRY_COMPARE_WITH_TIMEOUT(child<ExplorerContext>(&w, "explorerContext")->steps(), (std::vector<int64_t>{20, 40, 60}), 60000);
        QCOMPARE(QFileInfo(child<ExplorerContext>(&w, "explorerContext")->runPath()).absoluteFilePath(),
                 QFileInfo(w.session()->runPath()).absoluteFilePath());
        QTRY_COMPARE_WITH_TIMEOUT(child<ExplorerPanel>(&w, "explorerPanel")->shownStep(), int64_t(60), 60000);
        QCOMPARE(child<ExplorerPanel>(&w, "explorerPanel")->view()->pointCount(), 120);
    }

    void mainWindowOpensRunInExplorer()
    {
        if (m_run.isEmpty())
            QSKIP("no run");
        MainWindow w;
        w.applyDefaultLayout(QSize(1600, 1000));
        w.show();
        child<ExplorerPanel>(&w, "explorerPanel")->setMethod(QStringLiteral("pca"));
        QSignalSpy loaded(child<ExplorerContext>(&w, "explorerContext"), &ExplorerContext::runChanged);
        QSignalSpy started(child<ExplorerPanel>(&w, "explorerPanel"), &ExplorerPanel::projectionStarted);
        w.findChild<QDockWidget *>(QStringLiteral("heatmapDock"))->raise(); // the default tab
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QTRY_VERIFY(!child<ExplorerPanel>(&w, "explorerPanel")->isInSight()); // once the dock layout is applied
        QVERIFY(w.openRun(m_run));
        QTRY_VERIFY_WITH_TIMEOUT(!loaded.isEmpty() && child<ExplorerContext>(&w, "explorerContext")->hasEmbedding(), 60000);
        // Behind the heatmap's tab the explorer waits (a t-SNE would only slow training) ...
        child<ExplorerPanel>(&w, "explorerPanel")->setMethod(QStringLiteral("tsne")); // none saved for this run
        QVERIFY(!child<ExplorerPanel>(&w, "explorerPanel")->isInSight());
        QCOMPARE(started.count(), 0);
        // ... and projects once its tab is raised.
        w.findChild<QDockWidget *>(QStringLiteral("explorerDock"))->raise();
        QTRY_VERIFY(child<ExplorerPanel>(&w, "explorerPanel")->isInSight());
        QCOMPARE(started.count(), 1);
        QTRY_COMPARE_WITH_TIMEOUT(child<ExplorerPanel>(&w, "explorerPanel")->shownMethod(), QStringLiteral("tsne"), 120000);
        QCOMPARE(child<ExplorerPanel>(&w, "explorerPanel")->view()->pointCount(), 120);
        for (const char *name : {"explorerDock", "retrievalDock", "datasetDock"})
            QVERIFY(w.findChild<QDockWidget *>(QLatin1String(name)));
        // A point activated in the view becomes the retrieval query, ringed in the view.
        Q_EMIT child<ExplorerPanel>(&w, "explorerPanel")->view()->pointActivated(9);
        QCOMPARE(child<RetrievalBrowser>(&w, "retrievalBrowser")->queryIndex(), int64_t(9));
        QCOMPARE(int(child<RetrievalBrowser>(&w, "retrievalBrowser")->results().size()), child<RetrievalBrowser>(&w, "retrievalBrowser")->k());
        QVERIFY(w.findChild<QDockWidget *>(QStringLiteral("retrievalDock"))->isVisible());
        QCOMPARE(child<DatasetBrowser>(&w, "datasetBrowser")->model()->rowCount(), 420);
        // The query chosen in Retrieval is the dataset's "selected" image.
        QCOMPARE(child<DatasetBrowser>(&w, "datasetBrowser")->chosenTestImage(), int64_t(9));
        child<QPushButton>(&w, "distanceButton")->click();
        QCOMPARE(child<DatasetBrowser>(&w, "datasetBrowser")->reference(), int64_t(9));
        QVERIFY(w.close());
    }
};

QTEST_MAIN(TestExplorer)
#include "test_explorer.moc"
