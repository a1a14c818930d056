#include "charts/losschart.h"

#include "charts/chartview.h"
#include "charts/colormap.h"
#include "charts/downsample.h"
#include "widgets/flowlayout.h"

#include <QChart>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QHBoxLayout>
#include <QLabel>
#include <QLegendMarker>
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

// Index of the entry of `x` (non-decreasing, not empty) nearest to `value`.
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
    m_axisX = new QValueAxis;
    m_axisX->setTitleText(tr("step"));
    m_axisX->setLabelFormat(QStringLiteral("%g"));
    m_axisY = new QValueAxis;
    m_axisY->setLabelFormat(QStringLiteral("%.3g"));
    m_axisLogY = new QLogValueAxis(this);
    m_axisLogY->setLabelFormat(QStringLiteral("%g"));
    m_axisLogY->setMinorTickCount(-1);
    m_chart->addAxis(m_axisX, Qt::AlignBottom);
    m_chart->addAxis(m_axisY, Qt::AlignLeft);
    m_axisX->setRange(0, 1);
    m_axisY->setRange(0, 1);

    m_view = new ChartView(m_chart, this);
    m_view->setObjectName(QStringLiteral("lossChartView"));
    m_view->setPlaceholderText(tr("The training loss of each step appears here: press Start (Ctrl+R), or open a "
                                  "run from the Runs list."));
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

    m_rawBox = new QCheckBox(tr("Raw"));
    m_rawBox->setObjectName(QStringLiteral("rawLossBox"));
    m_rawBox->setToolTip(tr("Draw each step's loss faintly behind the moving average"));
    connect(m_rawBox, &QCheckBox::toggled, this, &LossChart::setRawVisible);
    m_normalizeBox = new QCheckBox(tr("Divide by first"));
    m_normalizeBox->setObjectName(QStringLiteral("normalizeLossBox"));
    m_normalizeBox->setToolTip(tr("Losses have different scales: divided by its value at the first step, each curve "
                                  "starts at 1 and shows how fast it falls"));
    connect(m_normalizeBox, &QCheckBox::toggled, this, &LossChart::setNormalized);
    m_logBox = new QCheckBox(tr("Log"));
    m_logBox->setObjectName(QStringLiteral("logScaleBox"));
    m_logBox->setToolTip(tr("Loss axis on a logarithmic scale"));
    connect(m_logBox, &QCheckBox::toggled, this, &LossChart::setLogScale);
    m_xAxisBox = new QComboBox;
    m_xAxisBox->setObjectName(QStringLiteral("xAxisBox"));
    m_xAxisBox->addItems({tr("by step"), tr("by time")});
    m_xAxisBox->setToolTip(tr("x axis: training step or training time in seconds"));
    connect(m_xAxisBox, &QComboBox::currentIndexChanged, this, [this](int i) { setTimeAxis(i == 1); });
    auto *reset = new QPushButton(tr("Reset zoom"));
    reset->setToolTip(tr("Drag a rectangle on the chart to zoom in; right click zooms out"));
    connect(reset, &QPushButton::clicked, this, &LossChart::resetZoom);

    auto *smoothing = labelled(tr("Smoothing"), m_smoothingSlider);
    smoothing->addWidget(m_smoothingBox);
    auto *controls = new FlowLayout;
    controls->addLayout(smoothing);
    controls->addWidget(m_rawBox);
    controls->addWidget(m_normalizeBox);
    controls->addWidget(m_logBox);
    controls->addWidget(m_xAxisBox);
    controls->addWidget(reset);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(controls);
    layout->addWidget(m_view, 1);

    m_refreshTimer.setSingleShot(true);
    m_refreshTimer.setInterval(kRefreshMs);
    connect(&m_refreshTimer, &QTimer::timeout, this, &LossChart::refresh);
    setSmoothing(m_beta);
    setRuns({QString()});
}

void LossChart::setRuns(const QStringList &labels)
{
    m_chart->removeAllSeries(); // and deletes them
    m_runs.clear();
    const bool several = labels.size() > 1;
    for (int i = 0; i < labels.size(); ++i) {
        Run run;
        run.label = labels[i];
        run.average = MovingAverage(m_beta);
        QColor colour = several ? runColour(i) : QColor(20, 70, 170);
        run.smoothed = new QLineSeries;
        run.smoothed->setName(labels[i].isEmpty() ? tr("smoothed") : labels[i]);
        run.smoothed->setPen(QPen(colour, 2));
        colour.setAlpha(several ? 70 : 110);
        run.raw = new QLineSeries;
        run.raw->setName(labels[i].isEmpty() ? tr("loss") : tr("%1 (raw)").arg(labels[i]));
        run.raw->setPen(QPen(colour, 1));
        // Raw curves beneath the smoothed ones.
        m_chart->addSeries(run.raw);
        m_runs.push_back(std::move(run));
    }
    for (Run &run : m_runs)
        m_chart->addSeries(run.smoothed);
    QAbstractAxis *y = m_log ? static_cast<QAbstractAxis *>(m_axisLogY) : m_axisY;
    for (Run &run : m_runs)
        for (QLineSeries *series : {run.raw, run.smoothed}) {
            series->attachAxis(m_axisX);
            series->attachAxis(y);
            // Several runs: one legend entry each, its smoothed curve.
            if (several && series == run.raw)
                for (QLegendMarker *marker : m_chart->legend()->markers(series))
                    marker->setVisible(false);
        }
    m_normalizeBox->setVisible(several);
    setNormalized(several);
    setRawVisible(!several);
    m_zoomed = false;
    scheduleRefresh();
}

void LossChart::appendSteps(const QVector<TrainingStep> &steps, int run)
{
    Run &r = m_runs.at(size_t(run));
    for (const TrainingStep &s : steps)
        appendOne(r, s);
    scheduleRefresh();
}

void LossChart::setSteps(const std::vector<TrainingStep> &steps, int run)
{
    Run &r = m_runs.at(size_t(run));
    for (std::vector<double> *values : {&r.stepX, &r.seconds, &r.loss, &r.ema})
        values->clear();
    r.steps.clear();
    r.average = MovingAverage(m_beta);
    r.secondsOffset = 0;
    for (const TrainingStep &s : steps)
        appendOne(r, s);
    scheduleRefresh();
}

void LossChart::clear()
{
    for (int i = 0; i < runCount(); ++i)
        setSteps({}, i);
    m_zoomed = false;
}

void LossChart::appendOne(Run &run, const TrainingStep &s)
{
    // A resumed run counts its training time from zero again: keep the
    // time axis increasing.
    if (!run.seconds.empty() && s.elapsedSeconds + run.secondsOffset < run.seconds.back())
        run.secondsOffset = run.seconds.back() - s.elapsedSeconds;
    run.steps.push_back(s.step);
    run.stepX.push_back(double(s.step));
    run.seconds.push_back(s.elapsedSeconds + run.secondsOffset);
    run.loss.push_back(s.loss);
    run.ema.push_back(run.average.add(s.loss));
}

void LossChart::recomputeSmoothed(Run &run)
{
    run.average = MovingAverage(m_beta);
    for (size_t i = 0; i < run.loss.size(); ++i)
        run.ema[i] = run.average.add(run.loss[i]);
}

double LossChart::scale(const Run &run) const
{
    if (m_normalized && !run.loss.empty() && std::isfinite(run.loss.front()) && run.loss.front() != 0)
        return 1 / run.loss.front();
    return 1;
}

void LossChart::setSmoothing(double beta)
{
    beta = std::clamp(beta, 0.0, 0.999);
    {
        const QSignalBlocker blockSlider(m_smoothingSlider), blockBox(m_smoothingBox);
        m_smoothingSlider->setValue(int(std::lround(beta * 1000)));
        m_smoothingBox->setValue(beta);
    }
    if (beta == m_beta)
        return;
    m_beta = beta;
    for (Run &run : m_runs)
        recomputeSmoothed(run);
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
    for (Run &run : m_runs) {
        run.raw->clear();
        run.smoothed->clear();
    }
    QAbstractAxis *from = log ? static_cast<QAbstractAxis *>(m_axisY) : m_axisLogY;
    QAbstractAxis *to = log ? static_cast<QAbstractAxis *>(m_axisLogY) : m_axisY;
    for (Run &run : m_runs)
        for (QLineSeries *s : {run.raw, run.smoothed})
            s->detachAxis(from);
    m_chart->removeAxis(from);
    from->setParent(this); // the chart gave it back
    m_chart->addAxis(to, Qt::AlignLeft);
    for (Run &run : m_runs)
        for (QLineSeries *s : {run.raw, run.smoothed})
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

void LossChart::setNormalized(bool normalized)
{
    {
        const QSignalBlocker block(m_normalizeBox);
        m_normalizeBox->setChecked(normalized);
    }
    m_normalized = normalized;
    const QString title = normalized ? tr("loss / first loss") : tr("loss");
    m_axisY->setTitleText(title);
    m_axisLogY->setTitleText(tr("%1 (log)").arg(title));
    m_zoomed = false;
    refresh();
}

void LossChart::setRawVisible(bool visible)
{
    {
        const QSignalBlocker block(m_rawBox);
        m_rawBox->setChecked(visible);
    }
    m_rawVisible = visible;
    for (Run &run : m_runs)
        run.raw->setVisible(visible);
    if (m_runs.size() == 1) // its legend entry goes with it
        for (QLegendMarker *marker : m_chart->legend()->markers(m_runs.front().raw))
            marker->setVisible(visible);
    m_zoomed = false;
    refresh();
}

void LossChart::setPlaceholderText(const QString &text)
{
    m_view->setPlaceholderText(text);
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
    if (m_zoomed)
        return;
    const double inf = std::numeric_limits<double>::infinity();
    double xMin = inf, xMax = -inf, yMin = inf, yMax = -inf, positiveMin = inf;
    for (const Run &run : m_runs) {
        const std::vector<double> &x = xValues(run);
        if (x.empty())
            continue;
        xMin = std::min(xMin, x.front());
        xMax = std::max(xMax, x.back());
        const double k = scale(run);
        for (const std::vector<double> *values : {&run.loss, &run.ema}) {
            if (values == &run.loss && !m_rawVisible)
                continue;
            for (double v : *values) {
                v *= k;
                if (!std::isfinite(v))
                    continue;
                yMin = std::min(yMin, v);
                yMax = std::max(yMax, v);
                if (v > 0)
                    positiveMin = std::min(positiveMin, v);
            }
        }
    }
    if (!std::isfinite(xMin)) {
        xMin = 0;
        xMax = 1;
    }
    if (!(xMax > xMin))
        xMax = xMin + 1;
    if (!std::isfinite(yMin)) {
        yMin = 0;
        yMax = 1;
    }
    if (m_log) {
        // Whole decades, at least one: a range inside one decade would show
        // a single tick label.
        if (!std::isfinite(positiveMin))
            positiveMin = 1e-3;
        const double low = std::floor(std::log10(positiveMin));
        const double high = std::max(low + 1, std::ceil(std::log10(std::max(yMax, positiveMin))));
        yMin = std::pow(10.0, low);
        yMax = std::pow(10.0, high);
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
    for (Run &run : m_runs) {
        const std::vector<double> &x = xValues(run);
        const double k = scale(run);
        QList<QPointF> raw;
        if (m_rawVisible)
            raw = downsampleMinMax(x, run.loss, m_axisX->min(), m_axisX->max(), buckets);
        QList<QPointF> smooth = downsampleMinMax(x, run.ema, m_axisX->min(), m_axisX->max(), buckets);
        for (QList<QPointF> *points : {&raw, &smooth})
            for (QPointF &p : *points) {
                p.setY(p.y() * k);
                if (m_log) // a log axis cannot show zero: draw it at the axis floor
                    p.setY(std::max(p.y(), m_axisLogY->min()));
            }
        run.raw->replace(raw);
        run.smoothed->replace(smooth);
    }
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
    QStringList lines;
    for (const Run &run : m_runs) {
        const std::vector<double> &x = xValues(run);
        if (x.empty())
            continue;
        const size_t i = nearestIndex(x, value.x());
        if (m_runs.size() == 1) {
            lines << tr("step %1\nloss %2\nsmoothed %3\ntime %4 s")
                         .arg(run.steps[i])
                         .arg(run.loss[i], 0, 'g', 5)
                         .arg(run.ema[i], 0, 'g', 5)
                         .arg(run.seconds[i], 0, 'f', 1);
        } else {
            lines << tr("%1: step %2, smoothed %3").arg(run.label).arg(run.steps[i]).arg(run.ema[i] * scale(run), 0, 'g', 4);
        }
    }
    if (!lines.isEmpty())
        QToolTip::showText(globalPos, lines.join(QLatin1Char('\n')), m_view);
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
    const bool several = m_runs.size() > 1; // then each row names its run
    out << (several ? "run," : "") << "step,seconds,loss,smoothed\n";
    for (const Run &run : m_runs)
        for (size_t i = 0; i < run.steps.size(); ++i) {
            if (several)
                out << csvField(run.label) << ',';
            out << run.steps[i] << ',' << QString::number(run.seconds[i], 'g', 9) << ','
                << QString::number(run.loss[i], 'g', 9) << ',' << QString::number(run.ema[i], 'g', 9) << '\n';
        }
    return file.error() == QFile::NoError;
}

} // namespace liftlab
