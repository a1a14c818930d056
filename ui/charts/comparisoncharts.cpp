#include "charts/comparisoncharts.h"

#include "charts/chartview.h"
#include "charts/colormap.h"
#include "charts/downsample.h"
#include "util/movingaverage.h"

#include <QChart>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLegendMarker>
#include <QLineSeries>
#include <QPushButton>
#include <QValueAxis>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <limits>

namespace liftlab {

namespace {

constexpr int kRefreshMs = 200;

QChart *newChart(QValueAxis *x, QValueAxis *y)
{
    auto *chart = new QChart;
    chart->setMargins(QMargins(4, 4, 4, 4));
    chart->legend()->setAlignment(Qt::AlignTop);
    x->setTitleText(QObject::tr("step"));
    x->setLabelFormat(QStringLiteral("%g"));
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    return chart;
}

QLineSeries *addSeries(QChart *chart, const QString &name, const QPen &pen)
{
    auto *series = new QLineSeries;
    series->setName(name);
    series->setPen(pen);
    chart->addSeries(series);
    for (QAbstractAxis *axis : chart->axes())
        series->attachAxis(axis);
    return series;
}

} // namespace

QColor comparisonColour(int run)
{
    return QColor::fromRgb(categorical(run));
}

int comparisonColumns(int runs)
{
    return runs == 4 ? 2 : std::clamp(runs, 2, 3);
}

ComparisonLossChart::ComparisonLossChart(QWidget *parent)
    : QWidget(parent)
{
    m_axisX = new QValueAxis;
    m_axisY = new QValueAxis;
    m_axisY->setLabelFormat(QStringLiteral("%.3g"));
    m_chart = newChart(m_axisX, m_axisY);
    m_view = new ChartView(m_chart, this);
    m_view->setObjectName(QStringLiteral("comparisonLossView"));
    connect(m_view, &ChartView::zoomedByUser, this, [this] {
        m_zoomed = true;
        setNiceTicks(m_axisX);
    });

    m_normalizeBox = new QCheckBox(tr("Divide each by its first value"));
    m_normalizeBox->setObjectName(QStringLiteral("normalizeLossBox"));
    m_normalizeBox->setToolTip(tr("Losses have different scales: divided by its value at the first step, each curve "
                                  "starts at 1 and shows how fast it falls"));
    m_normalizeBox->setChecked(m_normalized);
    connect(m_normalizeBox, &QCheckBox::toggled, this, &ComparisonLossChart::setNormalized);
    m_smoothingBox = new QDoubleSpinBox;
    m_smoothingBox->setObjectName(QStringLiteral("comparisonSmoothingBox"));
    m_smoothingBox->setRange(0, 0.99);
    m_smoothingBox->setDecimals(2);
    m_smoothingBox->setSingleStep(0.05);
    m_smoothingBox->setValue(m_beta);
    m_smoothingBox->setToolTip(tr("Weight of the past in the moving average (0: raw loss)"));
    connect(m_smoothingBox, &QDoubleSpinBox::valueChanged, this, &ComparisonLossChart::setSmoothing);
    auto *reset = new QPushButton(tr("Reset zoom"));
    reset->setToolTip(tr("Drag a rectangle on the chart to zoom in; right click zooms out"));
    connect(reset, &QPushButton::clicked, this, &ComparisonLossChart::resetZoom);

    auto *controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Training loss")));
    controls->addStretch(1);
    controls->addWidget(m_normalizeBox);
    controls->addWidget(new QLabel(tr("Smoothing")));
    controls->addWidget(m_smoothingBox);
    controls->addWidget(reset);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(controls);
    layout->addWidget(m_view, 1);

    m_refreshTimer.setSingleShot(true);
    m_refreshTimer.setInterval(kRefreshMs);
    connect(&m_refreshTimer, &QTimer::timeout, this, &ComparisonLossChart::refresh);
    setNormalized(m_normalized);
}

void ComparisonLossChart::setRuns(const QStringList &labels)
{
    for (Run &run : m_runs) {
        m_chart->removeSeries(run.series); // hands it back: it is ours to delete
        delete run.series;
    }
    m_runs.clear();
    for (int i = 0; i < labels.size(); ++i) {
        Run run;
        run.series = addSeries(m_chart, labels[i], QPen(comparisonColour(i), 2));
        m_runs.push_back(run);
    }
    m_zoomed = false;
    scheduleRefresh();
}

void ComparisonLossChart::appendSteps(int run, const QVector<TrainingStep> &steps)
{
    Run &r = m_runs.at(size_t(run));
    for (const TrainingStep &s : steps) {
        r.step.push_back(double(s.step));
        r.loss.push_back(s.loss);
    }
    scheduleRefresh();
}

void ComparisonLossChart::setSteps(int run, const std::vector<TrainingStep> &steps)
{
    Run &r = m_runs.at(size_t(run));
    r.step.clear();
    r.loss.clear();
    appendSteps(run, QVector<TrainingStep>(steps.begin(), steps.end()));
}

void ComparisonLossChart::setNormalized(bool normalized)
{
    {
        const QSignalBlocker block(m_normalizeBox);
        m_normalizeBox->setChecked(normalized);
    }
    m_normalized = normalized;
    m_axisY->setTitleText(normalized ? tr("loss / first loss") : tr("loss"));
    m_zoomed = false;
    refresh();
}

void ComparisonLossChart::setSmoothing(double beta)
{
    m_beta = std::clamp(beta, 0.0, 0.99);
    {
        const QSignalBlocker block(m_smoothingBox);
        m_smoothingBox->setValue(m_beta);
    }
    refresh();
}

std::vector<double> ComparisonLossChart::curve(const Run &run) const
{
    double scale = 1;
    if (m_normalized && !run.loss.empty() && std::isfinite(run.loss.front()) && run.loss.front() != 0)
        scale = 1 / run.loss.front();
    std::vector<double> out(run.loss.size());
    MovingAverage average(m_beta); // as LossChart's
    for (size_t i = 0; i < run.loss.size(); ++i)
        out[i] = scale * average.add(run.loss[i]);
    return out;
}

void ComparisonLossChart::scheduleRefresh()
{
    if (!m_refreshTimer.isActive())
        m_refreshTimer.start();
}

void ComparisonLossChart::refresh()
{
    m_refreshTimer.stop();
    std::vector<std::vector<double>> curves;
    double xMax = 1, yMin = std::numeric_limits<double>::infinity(), yMax = -yMin;
    for (const Run &run : m_runs) {
        curves.push_back(curve(run));
        if (!run.step.empty())
            xMax = std::max(xMax, run.step.back());
        for (const double v : curves.back())
            if (std::isfinite(v)) {
                yMin = std::min(yMin, v);
                yMax = std::max(yMax, v);
            }
    }
    if (!m_zoomed) {
        if (!std::isfinite(yMin)) {
            yMin = 0;
            yMax = 1;
        }
        const double pad = yMax > yMin ? 0.05 * (yMax - yMin) : 0.5;
        setNiceRange(m_axisX, 0, xMax);
        m_axisY->setRange(yMin >= 0 ? std::max(0.0, yMin - pad) : yMin - pad, yMax + pad);
        m_axisY->applyNiceNumbers();
    }
    const int buckets = std::max(50, int(m_chart->plotArea().width()));
    for (size_t i = 0; i < m_runs.size(); ++i)
        m_runs[i].series->replace(
            downsampleMinMax(m_runs[i].step, curves[i], m_axisX->min(), m_axisX->max(), buckets));
}

void ComparisonLossChart::resetZoom()
{
    m_chart->zoomReset();
    m_zoomed = false;
    refresh();
}

bool ComparisonLossChart::exportPng(const QString &path)
{
    refresh();
    return m_view->grab().save(path, "PNG");
}

ComparisonMetricsChart::ComparisonMetricsChart(QWidget *parent)
    : QWidget(parent)
{
    m_axisX = new QValueAxis;
    m_axisY = new QValueAxis;
    m_axisY->setTitleText(tr("test split"));
    m_axisY->setRange(0, 1);
    m_axisY->setTickCount(6);
    m_chart = newChart(m_axisX, m_axisY);
    m_view = new ChartView(m_chart, this);
    m_view->setObjectName(QStringLiteral("comparisonMetricsView"));
    connect(m_view, &ChartView::zoomedByUser, this, [this] {
        m_zoomed = true;
        setNiceTicks(m_axisX);
    });

    m_kBox = new QComboBox;
    m_kBox->setObjectName(QStringLiteral("recallKBox"));
    for (const int k : {1, 2, 4, 8})
        m_kBox->addItem(tr("Recall@%1").arg(k), k);
    connect(m_kBox, &QComboBox::currentIndexChanged, this, [this] { setRecallK(m_kBox->currentData().toInt()); });
    auto *reset = new QPushButton(tr("Reset zoom"));
    connect(reset, &QPushButton::clicked, this, &ComparisonMetricsChart::resetZoom);
    auto *controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Evaluation on the test split: solid")));
    controls->addWidget(m_kBox);
    controls->addWidget(new QLabel(tr("dashed MAP@R")));
    controls->addStretch(1);
    controls->addWidget(reset);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(controls);
    layout->addWidget(m_view, 1);
    updateAxes();
}

void ComparisonMetricsChart::setRuns(const QStringList &labels)
{
    for (Run &run : m_runs)
        for (QLineSeries *series : {run.recall, run.map}) {
            m_chart->removeSeries(series); // hands it back: it is ours to delete
            delete series;
        }
    m_runs.clear();
    for (int i = 0; i < labels.size(); ++i) {
        Run run;
        QPen pen(comparisonColour(i), 2);
        run.recall = addSeries(m_chart, labels[i], pen);
        run.recall->setPointsVisible(true);
        pen.setStyle(Qt::DashLine);
        run.map = addSeries(m_chart, labels[i] + tr(" MAP@R"), pen);
        run.map->setPointsVisible(true);
        // One legend entry per loss: the line style is explained above the chart.
        for (QLegendMarker *marker : m_chart->legend()->markers(run.map))
            marker->setVisible(false);
        m_runs.push_back(run);
    }
    m_zoomed = false;
    updateAxes();
}

void ComparisonMetricsChart::appendReport(int run, const EvalReport &report)
{
    Run &r = m_runs.at(size_t(run));
    r.reports.push_back(report);
    rebuild(r);
    updateAxes();
}

void ComparisonMetricsChart::setReports(int run, const std::vector<EvalReport> &reports)
{
    Run &r = m_runs.at(size_t(run));
    r.reports = reports;
    rebuild(r);
    updateAxes();
}

void ComparisonMetricsChart::setIterations(int64_t iterations)
{
    m_iterations = iterations;
    updateAxes();
}

void ComparisonMetricsChart::setRecallK(int k)
{
    m_k = k;
    {
        const QSignalBlocker block(m_kBox);
        m_kBox->setCurrentIndex(std::max(0, m_kBox->findData(k)));
    }
    for (Run &run : m_runs)
        rebuild(run);
}

void ComparisonMetricsChart::rebuild(Run &run)
{
    QList<QPointF> recall, map;
    for (const EvalReport &r : run.reports) {
        const Metrics &m = r.metrics;
        const double value = m_k == 8 ? m.recallAt8 : m_k == 4 ? m.recallAt4 : m_k == 2 ? m.recallAt2 : m.recallAt1;
        recall.append(QPointF(double(r.step), value));
        map.append(QPointF(double(r.step), m.mapAtR));
    }
    run.recall->replace(recall);
    run.map->replace(map);
}

void ComparisonMetricsChart::updateAxes()
{
    if (m_zoomed)
        return;
    double xMax = double(m_iterations);
    for (const Run &run : m_runs)
        if (!run.reports.empty())
            xMax = std::max(xMax, double(run.reports.back().step));
    setNiceRange(m_axisX, 0, std::max(xMax, 1.0));
    m_axisY->setRange(0, 1);
}

void ComparisonMetricsChart::resetZoom()
{
    m_chart->zoomReset();
    m_zoomed = false;
    updateAxes();
}

bool ComparisonMetricsChart::exportPng(const QString &path)
{
    return m_view->grab().save(path, "PNG");
}

} // namespace liftlab
