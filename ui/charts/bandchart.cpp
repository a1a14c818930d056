#include "charts/bandchart.h"

#include "charts/chartview.h"
#include "charts/colormap.h"
#include "train/comparison.h"

#include <QAreaSeries>
#include <QChart>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QScatterSeries>
#include <QValueAxis>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <limits>

namespace liftlab {

BandChart::BandChart(QWidget *parent)
    : QWidget(parent)
{
    m_chart = new QChart;
    m_chart->legend()->setAlignment(Qt::AlignBottom);
    m_chart->setMargins(QMargins(4, 4, 4, 4));
    m_view = new ChartView(m_chart);
    m_view->setRenderHint(QPainter::Antialiasing);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_view);
    setCurves({}, {});
}

void BandChart::setTitle(const QString &title)
{
    m_chart->setTitle(title);
}

void BandChart::setAxisTitles(const QString &x, const QString &y)
{
    m_xTitle = x;
    m_yTitle = y;
}

void BandChart::setLogX(bool log)
{
    m_logX = log;
}

void BandChart::setUnitY(bool unit)
{
    m_unitY = unit;
}

void BandChart::setPlaceholderText(const QString &text)
{
    m_view->setPlaceholderText(text);
}

void BandChart::setCurves(const QStringList &labels, const std::vector<std::vector<Point>> &points)
{
    m_chart->removeAllSeries();
    for (QAbstractAxis *axis : m_chart->axes()) {
        m_chart->removeAxis(axis); // gives it back
        delete axis;
    }
    QAbstractAxis *axisX = nullptr;
    if (m_logX) {
        auto *log = new QLogValueAxis;
        log->setBase(2);
        log->setLabelFormat(QStringLiteral("%g"));
        axisX = log;
    } else {
        auto *value = new QValueAxis;
        value->setLabelFormat(QStringLiteral("%g"));
        axisX = value;
    }
    auto *axisY = new QValueAxis;
    axisY->setLabelFormat(QStringLiteral("%.2f"));
    axisX->setTitleText(m_xTitle);
    axisY->setTitleText(m_yTitle);
    m_chart->addAxis(axisX, Qt::AlignBottom);
    m_chart->addAxis(axisY, Qt::AlignLeft);

    double xMin = std::numeric_limits<double>::infinity(), xMax = -xMin, yMin = xMin, yMax = -xMin;
    m_curves = 0;
    for (int i = 0; i < labels.size() && size_t(i) < points.size(); ++i) {
        std::vector<Point> sorted = points[size_t(i)];
        std::sort(sorted.begin(), sorted.end(), [](const Point &a, const Point &b) { return a.x < b.x; });
        auto *mean = new QLineSeries;
        auto *upper = new QLineSeries;
        auto *lower = new QLineSeries;
        bool band = false;
        for (const Point &p : sorted) {
            if (p.samples.empty() || (m_logX && !(p.x > 0)))
                continue;
            const Interval interval = confidenceInterval(p.samples);
            const double half = std::isnan(interval.halfWidth) ? 0.0 : interval.halfWidth;
            band = band || p.samples.size() > 1;
            mean->append(p.x, interval.mean);
            upper->append(p.x, interval.mean + half);
            lower->append(p.x, interval.mean - half);
            xMin = std::min(xMin, p.x);
            xMax = std::max(xMax, p.x);
            yMin = std::min(yMin, interval.mean - half);
            yMax = std::max(yMax, interval.mean + half);
        }
        if (mean->count() == 0) {
            delete mean;
            delete upper;
            delete lower;
            continue;
        }
        const QColor colour = runColour(i);
        if (band && mean->count() == 1) { // one x: an error bar, as a band would have no width
            auto *bar = new QLineSeries;
            bar->append(upper->at(0));
            bar->append(lower->at(0));
            bar->setPen(QPen(colour, 2));
            m_chart->addSeries(bar);
            bar->attachAxis(axisX);
            bar->attachAxis(axisY);
            m_chart->legend()->markers(bar).first()->setVisible(false);
            delete upper;
            delete lower;
        } else if (band) {
            auto *area = new QAreaSeries(upper, lower);
            upper->setParent(area); // the area does not own its lines
            lower->setParent(area);
            QColor fill = colour;
            fill.setAlpha(60);
            area->setBrush(fill);
            area->setPen(Qt::NoPen);
            m_chart->addSeries(area);
            area->attachAxis(axisX);
            area->attachAxis(axisY);
            m_chart->legend()->markers(area).first()->setVisible(false);
        } else {
            delete upper;
            delete lower;
        }
        mean->setName(labels[i]);
        mean->setPen(QPen(colour, 2));
        mean->setPointsVisible(mean->count() <= 12); // a sweep's few values, not a curve's steps
        m_chart->addSeries(mean);
        mean->attachAxis(axisX);
        mean->attachAxis(axisY);
        ++m_curves;
    }
    if (m_curves == 0) {
        xMin = m_logX ? 1 : 0;
        xMax = m_logX ? 2 : 1;
        yMin = 0;
        yMax = 1;
    }
    if (xMin == xMax) { // one x (evaluated at the end only): from 0 on
        xMin = m_logX ? xMin / 2 : std::min(0.0, xMin - 1);
        xMax = m_logX ? xMax * 2 : std::max(xMax * 1.25, xMin + 1);
    }
    if (m_logX)
        axisX->setRange(xMin / 1.25, xMax * 1.25);
    else
        setNiceRange(static_cast<QValueAxis *>(axisX), xMin, xMax);
    if (m_unitY) {
        axisY->setRange(0, 1);
        setNiceTicks(axisY);
    } else {
        const double pad = (yMax - yMin) * 0.05 + 1e-9;
        setNiceRange(axisY, yMin - pad, yMax + pad);
    }
}

} // namespace liftlab
