#include "charts/metricschart.h"

#include "charts/chartview.h"

#include <QChart>
#include <QFile>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QPushButton>
#include <QTextStream>
#include <QToolTip>
#include <QValueAxis>
#include <QVBoxLayout>

#include <cmath>

namespace liftlab {

namespace {

struct MetricColumn
{
    const char *name;
    const char *csvName;
    double Metrics::*value;
    QRgb colour;
};

const MetricColumn kColumns[] = {
    {"Recall@1", "recall_at_1", &Metrics::recallAt1, 0x1f4e9c},
    {"Recall@2", "recall_at_2", &Metrics::recallAt2, 0x3f7fd0},
    {"Recall@4", "recall_at_4", &Metrics::recallAt4, 0x76a8e6},
    {"Recall@8", "recall_at_8", &Metrics::recallAt8, 0xadcbf2},
    {"MAP@R", "map_at_r", &Metrics::mapAtR, 0xd9661f},
    {"NMI", "nmi", &Metrics::nmi, 0x2f9e57},
};

} // namespace

MetricsChart::MetricsChart(QWidget *parent)
    : QWidget(parent)
{
    m_chart = new QChart;
    m_chart->setMargins(QMargins(4, 4, 4, 4));
    m_chart->legend()->setAlignment(Qt::AlignTop);
    m_axisX = new QValueAxis;
    m_axisX->setTitleText(tr("step"));
    m_axisX->setLabelFormat(QStringLiteral("%g"));
    m_axisY = new QValueAxis;
    m_axisY->setTitleText(tr("test split"));
    m_axisY->setRange(0, 1);
    m_axisY->setTickCount(6);
    m_chart->addAxis(m_axisX, Qt::AlignBottom);
    m_chart->addAxis(m_axisY, Qt::AlignLeft);
    for (const MetricColumn &c : kColumns) {
        auto *s = new QLineSeries;
        s->setName(QString::fromLatin1(c.name));
        s->setPen(QPen(QColor(c.colour), 2));
        s->setPointsVisible(true);
        m_chart->addSeries(s);
        s->attachAxis(m_axisX);
        s->attachAxis(m_axisY);
        m_series.push_back(s);
    }
    m_view = new ChartView(m_chart, this);
    m_view->setObjectName(QStringLiteral("metricsChartView"));
    connect(m_view, &ChartView::zoomedByUser, this, [this] {
        m_zoomed = true;
        setNiceTicks(m_axisX);
    });
    connect(m_view, &ChartView::hovered, this, &MetricsChart::showTooltip);
    connect(m_view, &ChartView::hoverLeft, this, [] { QToolTip::hideText(); });

    auto *reset = new QPushButton(tr("Reset zoom"));
    connect(reset, &QPushButton::clicked, this, &MetricsChart::resetZoom);
    auto *controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Evaluation on the test split (query: each test image; gallery: the rest)")), 1);
    controls->addWidget(reset);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(controls);
    layout->addWidget(m_view, 1);
    updateAxes();
}

void MetricsChart::appendReport(const EvalReport &report)
{
    m_reports.push_back(report);
    for (size_t i = 0; i < m_series.size(); ++i)
        m_series[i]->append(double(report.step), report.metrics.*kColumns[i].value);
    updateAxes();
}

void MetricsChart::setReports(const std::vector<EvalReport> &reports)
{
    m_reports = reports;
    rebuild();
}

void MetricsChart::clear()
{
    m_reports.clear();
    m_iterations = 0;
    m_zoomed = false;
    rebuild();
}

void MetricsChart::setIterations(int64_t iterations)
{
    m_iterations = iterations;
    updateAxes();
}

void MetricsChart::rebuild()
{
    for (size_t i = 0; i < m_series.size(); ++i) {
        QList<QPointF> points;
        for (const EvalReport &r : m_reports)
            points.append(QPointF(double(r.step), r.metrics.*kColumns[i].value));
        m_series[i]->replace(points);
    }
    updateAxes();
}

void MetricsChart::updateAxes()
{
    if (m_zoomed)
        return;
    double xMax = double(m_iterations);
    if (!m_reports.empty())
        xMax = std::max(xMax, double(m_reports.back().step));
    setNiceRange(m_axisX, 0, std::max(xMax, 1.0));
    m_axisY->setRange(0, 1);
}

void MetricsChart::resetZoom()
{
    m_chart->zoomReset();
    m_zoomed = false;
    updateAxes();
}

void MetricsChart::showTooltip(const QPointF &value, const QPoint &globalPos)
{
    if (m_reports.empty())
        return;
    const EvalReport *nearest = &m_reports.front();
    for (const EvalReport &r : m_reports)
        if (std::abs(double(r.step) - value.x()) < std::abs(double(nearest->step) - value.x()))
            nearest = &r;
    QString text = tr("step %1").arg(nearest->step);
    for (const MetricColumn &c : kColumns)
        text += QStringLiteral("\n%1 %2").arg(QString::fromLatin1(c.name)).arg(nearest->metrics.*c.value, 0, 'f', 4);
    QToolTip::showText(globalPos, text, m_view);
}

bool MetricsChart::exportPng(const QString &path)
{
    return m_view->grab().save(path, "PNG");
}

bool MetricsChart::exportCsv(const QString &path) const
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text))
        return false;
    QTextStream out(&file);
    out << "step";
    for (const MetricColumn &c : kColumns)
        out << ',' << c.csvName;
    out << ",r_precision,f1,seconds\n";
    for (const EvalReport &r : m_reports) {
        out << r.step;
        for (const MetricColumn &c : kColumns)
            out << ',' << QString::number(r.metrics.*c.value, 'g', 9);
        out << ',' << QString::number(r.metrics.rPrecision, 'g', 9) << ',' << QString::number(r.metrics.f1, 'g', 9)
            << ',' << QString::number(r.seconds, 'g', 6) << '\n';
    }
    return file.error() == QFile::NoError;
}

} // namespace liftlab
