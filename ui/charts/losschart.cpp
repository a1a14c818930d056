#include "charts/losschart.h"

#include "charts/chartview.h"
#include "charts/downsample.h"

#include <QChart>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QPushButton>
#include <QSlider>
#include <QTextStream>
#include <QToolTip>
#include <QValueAxis>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <limits>

namespace liftlab {

namespace {

constexpr int kRefreshMs = 200; // 5 redraws a second at most: smooth enough, cheap beside training

// Index of the entry of `x` (non-decreasing) nearest to `value`.
size_t nearestIndex(const std::vector<double> &x, double value)
{
    const auto it = std::lower_bound(x.begin(), x.end(), value);
    if (it == x.end())
        return x.size() - 1;
    if (it != x.begin() && value - *(it - 1) < *it - value)
        return size_t(it - x.begin()) - 1;
    return size_t(it - x.begin());
}

} // namespace

LossChart::LossChart(QWidget *parent)
    : QWidget(parent)
{
    m_chart = new QChart;
    m_chart->setMargins(QMargins(4, 4, 4, 4));
    m_chart->legend()->setAlignment(Qt::AlignTop);
    m_raw = new QLineSeries;
    m_raw->setName(tr("loss"));
    m_raw->setPen(QPen(QColor(120, 160, 220, 150), 1));
    m_smoothed = new QLineSeries;
    m_smoothed->setName(tr("smoothed"));
    m_smoothed->setPen(QPen(QColor(20, 70, 170), 2));
    m_chart->addSeries(m_raw);
    m_chart->addSeries(m_smoothed);
    m_axisX = new QValueAxis;
    m_axisX->setTitleText(tr("step"));
    m_axisX->setLabelFormat(QStringLiteral("%g"));
    m_axisY = new QValueAxis;
    m_axisY->setTitleText(tr("loss"));
    m_axisY->setLabelFormat(QStringLiteral("%.3g"));
    m_axisLogY = new QLogValueAxis(this);
    m_axisLogY->setTitleText(tr("loss (log)"));
    m_axisLogY->setLabelFormat(QStringLiteral("%.2g"));
    m_axisLogY->setMinorTickCount(-1);
    m_chart->addAxis(m_axisX, Qt::AlignBottom);
    m_chart->addAxis(m_axisY, Qt::AlignLeft);
    for (QLineSeries *s : {m_raw, m_smoothed}) {
        s->attachAxis(m_axisX);
        s->attachAxis(m_axisY);
    }
    m_axisX->setRange(0, 1);
    m_axisY->setRange(0, 1);

    m_view = new ChartView(m_chart, this);
    m_view->setObjectName(QStringLiteral("lossChartView"));
    connect(m_view, &ChartView::zoomedByUser, this, &LossChart::onUserZoom);
    connect(m_view, &ChartView::hovered, this, &LossChart::showTooltip);
    connect(m_view, &ChartView::hoverLeft, this, [] { QToolTip::hideText(); });

    m_smoothingSlider = new QSlider(Qt::Horizontal);
    m_smoothingSlider->setObjectName(QStringLiteral("smoothingSlider"));
    m_smoothingSlider->setRange(0, 999);
    m_smoothingSlider->setToolTip(tr("Weight of the past in the moving average (0: raw loss)"));
    m_smoothingBox = new QDoubleSpinBox;
    m_smoothingBox->setObjectName(QStringLiteral("smoothingBox"));
    m_smoothingBox->setRange(0, 0.999);
    m_smoothingBox->setDecimals(3);
    m_smoothingBox->setSingleStep(0.01);
    m_smoothingBox->setToolTip(m_smoothingSlider->toolTip());
    connect(m_smoothingSlider, &QSlider::valueChanged, this, [this](int v) { setSmoothing(v / 1000.0); });
    connect(m_smoothingBox, &QDoubleSpinBox::valueChanged, this, [this](double v) { setSmoothing(v); });

    m_logBox = new QCheckBox(tr("Log scale"));
    m_logBox->setObjectName(QStringLiteral("logScaleBox"));
    connect(m_logBox, &QCheckBox::toggled, this, &LossChart::setLogScale);
    m_xAxisBox = new QComboBox;
    m_xAxisBox->setObjectName(QStringLiteral("xAxisBox"));
    m_xAxisBox->addItems({tr("by step"), tr("by time")});
    m_xAxisBox->setToolTip(tr("x axis: training step or training time in seconds"));
    connect(m_xAxisBox, &QComboBox::currentIndexChanged, this, [this](int i) { setTimeAxis(i == 1); });
    auto *reset = new QPushButton(tr("Reset zoom"));
    reset->setToolTip(tr("Drag a rectangle on the chart to zoom in; right click zooms out"));
    connect(reset, &QPushButton::clicked, this, &LossChart::resetZoom);

    auto *controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Smoothing")));
    controls->addWidget(m_smoothingSlider, 1);
    controls->addWidget(m_smoothingBox);
    controls->addSpacing(8);
    controls->addWidget(m_logBox);
    controls->addWidget(m_xAxisBox);
    controls->addWidget(reset);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(controls);
    layout->addWidget(m_view, 1);

    setSmoothing(m_beta);
    m_refreshTimer.setSingleShot(true);
    m_refreshTimer.setInterval(kRefreshMs);
    connect(&m_refreshTimer, &QTimer::timeout, this, &LossChart::refresh);
}

void LossChart::appendSteps(const QVector<TrainingStep> &steps)
{
    for (const TrainingStep &s : steps)
        appendOne(s);
    scheduleRefresh();
}

void LossChart::setSteps(const std::vector<TrainingStep> &steps)
{
    clear();
    for (const TrainingStep &s : steps)
        appendOne(s);
    scheduleRefresh();
}

void LossChart::clear()
{
    m_steps.clear();
    m_stepX.clear();
    m_seconds.clear();
    m_loss.clear();
    m_ema.clear();
    m_average = MovingAverage(m_beta);
    m_secondsOffset = 0;
    m_zoomed = false;
    scheduleRefresh();
}

void LossChart::appendOne(const TrainingStep &s)
{
    // A resumed run counts its training time from zero again: keep the
    // time axis increasing.
    if (!m_seconds.empty() && s.elapsedSeconds + m_secondsOffset < m_seconds.back())
        m_secondsOffset = m_seconds.back() - s.elapsedSeconds;
    m_steps.push_back(s.step);
    m_stepX.push_back(double(s.step));
    m_seconds.push_back(s.elapsedSeconds + m_secondsOffset);
    m_loss.push_back(s.loss);
    m_ema.push_back(m_average.add(s.loss));
}

void LossChart::recomputeSmoothed()
{
    m_average = MovingAverage(m_beta);
    for (size_t i = 0; i < m_loss.size(); ++i)
        m_ema[i] = m_average.add(m_loss[i]);
}

double LossChart::smoothing() const
{
    return m_beta;
}

void LossChart::setSmoothing(double beta)
{
    beta = std::clamp(beta, 0.0, 0.999);
    {
        const QSignalBlocker blockSlider(m_smoothingSlider), blockBox(m_smoothingBox);
        m_smoothingSlider->setValue(int(std::lround(beta * 1000)));
        m_smoothingBox->setValue(beta);
    }
    if (beta == m_beta && !m_ema.empty())
        return;
    m_beta = beta;
    recomputeSmoothed();
    scheduleRefresh();
}

void LossChart::setLogScale(bool log)
{
    {
        const QSignalBlocker block(m_logBox);
        m_logBox->setChecked(log);
    }
    if (log == m_log)
        return;
    m_log = log;
    // Empty the series first: the log axis must never see a point <= 0.
    m_raw->clear();
    m_smoothed->clear();
    QAbstractAxis *from = log ? static_cast<QAbstractAxis *>(m_axisY) : m_axisLogY;
    QAbstractAxis *to = log ? static_cast<QAbstractAxis *>(m_axisLogY) : m_axisY;
    for (QLineSeries *s : {m_raw, m_smoothed})
        s->detachAxis(from);
    m_chart->removeAxis(from);
    from->setParent(this); // the chart gave it back
    m_chart->addAxis(to, Qt::AlignLeft);
    for (QLineSeries *s : {m_raw, m_smoothed})
        s->attachAxis(to);
    m_zoomed = false;
    refresh();
}

void LossChart::setTimeAxis(bool byTime)
{
    {
        const QSignalBlocker block(m_xAxisBox);
        m_xAxisBox->setCurrentIndex(byTime ? 1 : 0);
    }
    if (byTime == m_byTime)
        return;
    m_byTime = byTime;
    m_axisX->setTitleText(byTime ? tr("training time (s)") : tr("step"));
    m_zoomed = false;
    refresh();
}

void LossChart::resetZoom()
{
    m_chart->zoomReset();
    m_zoomed = false;
    refresh();
}

void LossChart::scheduleRefresh()
{
    if (!m_refreshTimer.isActive())
        m_refreshTimer.start();
}

void LossChart::updateAxes()
{
    const std::vector<double> &x = xValues();
    if (m_zoomed || x.empty())
        return;
    double xMin = x.front(), xMax = x.back();
    if (!(xMax > xMin))
        xMax = xMin + 1;
    double yMin = std::numeric_limits<double>::infinity(), yMax = -yMin;
    double positiveMin = yMin;
    for (const std::vector<double> *values : {&m_loss, &m_ema})
        for (double v : *values) {
            if (!std::isfinite(v))
                continue;
            yMin = std::min(yMin, v);
            yMax = std::max(yMax, v);
            if (v > 0)
                positiveMin = std::min(positiveMin, v);
        }
    if (!std::isfinite(yMin)) {
        yMin = 0;
        yMax = 1;
    }
    if (m_log) {
        if (!std::isfinite(positiveMin))
            positiveMin = 1e-3;
        yMin = positiveMin / 1.2;
        yMax = std::max(yMax, positiveMin) * 1.2;
        m_axisLogY->setRange(yMin, yMax);
    } else {
        const double pad = yMax > yMin ? 0.05 * (yMax - yMin) : 0.5;
        yMin = yMin >= 0 ? std::max(0.0, yMin - pad) : yMin - pad;
        yMax += pad;
        m_axisY->setRange(yMin, yMax);
        m_axisY->applyNiceNumbers();
        yMin = m_axisY->min();
        yMax = m_axisY->max();
    }
    setNiceRange(m_axisX, xMin, xMax);
    m_autoRange = QRectF(QPointF(xMin, yMin), QPointF(xMax, yMax));
}

void LossChart::refresh()
{
    m_refreshTimer.stop();
    updateAxes();
    setNiceTicks(m_axisX); // round ticks (0, 250, 500), also when zoomed
    const int buckets = std::max(50, int(m_chart->plotArea().width()));
    const std::vector<double> &x = xValues();
    QList<QPointF> raw = downsampleMinMax(x, m_loss, m_axisX->min(), m_axisX->max(), buckets);
    QList<QPointF> smooth = downsampleMinMax(x, m_ema, m_axisX->min(), m_axisX->max(), buckets);
    if (m_log) {
        // A log axis cannot show zero: draw it at the axis floor.
        const double floor = m_axisLogY->min();
        for (QList<QPointF> *points : {&raw, &smooth})
            for (QPointF &p : *points)
                p.setY(std::max(p.y(), floor));
    }
    m_raw->replace(raw);
    m_smoothed->replace(smooth);
}

void LossChart::onUserZoom()
{
    const double yMin = m_log ? m_axisLogY->min() : m_axisY->min();
    const double yMax = m_log ? m_axisLogY->max() : m_axisY->max();
    const QRectF now(QPointF(m_axisX->min(), yMin), QPointF(m_axisX->max(), yMax));
    if (now == m_autoRange)
        return;
    m_zoomed = true;
    refresh(); // the visible range changed: reduce the data for it
}

void LossChart::showTooltip(const QPointF &value, const QPoint &globalPos)
{
    const std::vector<double> &x = xValues();
    if (x.empty())
        return;
    const size_t i = nearestIndex(x, value.x());
    QToolTip::showText(globalPos,
                       tr("step %1\nloss %2\nsmoothed %3\ntime %4 s")
                           .arg(m_steps[i])
                           .arg(m_loss[i], 0, 'g', 5)
                           .arg(m_ema[i], 0, 'g', 5)
                           .arg(m_seconds[i], 0, 'f', 1),
                       m_view);
}

bool LossChart::exportPng(const QString &path)
{
    refresh();
    return m_view->grab().save(path, "PNG");
}

bool LossChart::exportCsv(const QString &path) const
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text))
        return false;
    QTextStream out(&file);
    out << "step,seconds,loss,smoothed\n";
    for (size_t i = 0; i < m_steps.size(); ++i)
        out << m_steps[i] << ',' << QString::number(m_seconds[i], 'g', 9) << ',' << QString::number(m_loss[i], 'g', 9)
            << ',' << QString::number(m_ema[i], 'g', 9) << '\n';
    return file.error() == QFile::NoError;
}

} // namespace liftlab
