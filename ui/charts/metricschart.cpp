#include "charts/metricschart.h"

#include "charts/chartview.h"
#include "charts/colormap.h"
#include "widgets/flowlayout.h"

#include <QChart>
#include <QComboBox>
#include <QFile>
#include <QHBoxLayout>
#include <QLabel>
#include <QLegendMarker>
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
    const char *name; // short: six of them share the legend's row
    const char *csvName;
    double Metrics::*value;
    QRgb colour; // when one run is drawn
};

const MetricColumn kColumns[MetricsChart::MetricCount] = {
    {"R@1", "recall_at_1", &Metrics::recallAt1, 0x1f4e9c},
    {"R@2", "recall_at_2", &Metrics::recallAt2, 0x3f7fd0},
    {"R@4", "recall_at_4", &Metrics::recallAt4, 0x76a8e6},
    {"R@8", "recall_at_8", &Metrics::recallAt8, 0xadcbf2},
    {"MAP@R", "map_at_r", &Metrics::mapAtR, 0xd9661f},
    {"NMI", "nmi", &Metrics::nmi, 0x2f9e57},
};

constexpr qreal kMarkerSize = 7; // one evaluation alone must be seen

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
    m_axisY->setTitleText(tr("test set"));
    m_axisY->setRange(0, 1);
    m_axisY->setTickCount(6);
    m_chart->addAxis(m_axisX, Qt::AlignBottom);
    m_chart->addAxis(m_axisY, Qt::AlignLeft);
    m_view = new ChartView(m_chart, this);
    m_view->setObjectName(QStringLiteral("metricsChartView"));
    m_view->setPlaceholderText(tr("Recall@K, MAP@R and NMI on the test set appear here at each evaluation (every "
                                  "\"Evaluate every\" steps, and at the end)."));
    connect(m_view, &ChartView::zoomedByUser, this, [this] {
        m_zoomed = true;
        setNiceTicks(m_axisX);
    });
    connect(m_view, &ChartView::hovered, this, &MetricsChart::showTooltip);
    connect(m_view, &ChartView::hoverLeft, this, [] { QToolTip::hideText(); });

    m_kBox = new QComboBox;
    m_kBox->setObjectName(QStringLiteral("recallKBox"));
    m_kBox->addItem(tr("All metrics"), 0);
    for (const int k : {1, 2, 4, 8})
        m_kBox->addItem(tr("Recall@%1 and MAP@R").arg(k), k);
    m_kBox->setToolTip(tr("The metrics drawn; several runs are easier to compare with fewer"));
    connect(m_kBox, &QComboBox::currentIndexChanged, this, [this] { setRecallK(m_kBox->currentData().toInt()); });
    auto *reset = new QPushButton(tr("Reset zoom"));
    reset->setToolTip(tr("Drag a rectangle on the chart to zoom in; right click zooms out"));
    connect(reset, &QPushButton::clicked, this, &MetricsChart::resetZoom);
    auto *title = new QLabel(tr("On the test set"));
    title->setToolTip(tr("Each test image queries the rest of the test set"));
    auto *choice = new QHBoxLayout;
    choice->addWidget(title);
    choice->addWidget(m_kBox);
    auto *controls = new FlowLayout;
    controls->addLayout(choice);
    controls->addWidget(reset);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(controls);
    layout->addWidget(m_view, 1);
    setRuns({QString()});
}

void MetricsChart::setRuns(const QStringList &labels)
{
    m_chart->removeAllSeries(); // and deletes them
    m_runs.clear();
    const bool several = labels.size() > 1;
    for (int i = 0; i < labels.size(); ++i) {
        Run run;
        run.label = labels[i];
        for (int m = 0; m < MetricCount; ++m) {
            auto *series = new QLineSeries;
            const QString metric = QString::fromLatin1(kColumns[m].name);
            QPen pen(QColor(kColumns[m].colour), 2);
            if (several) {
                // The run's colour; the metric by line style, and the larger
                // K the fainter.
                QColor colour = runColour(i);
                if (m <= Recall8)
                    colour.setAlpha(255 - 45 * m);
                pen = QPen(colour, 2, m == MapAtR ? Qt::DashLine : m == Nmi ? Qt::DotLine : Qt::SolidLine);
            }
            series->setName(labels[i].isEmpty() ? metric : QStringLiteral("%1 %2").arg(labels[i], metric));
            series->setPen(pen);
            series->setPointsVisible(true);
            series->setMarkerSize(kMarkerSize);
            m_chart->addSeries(series);
            series->attachAxis(m_axisX);
            series->attachAxis(m_axisY);
            run.series[size_t(m)] = series;
        }
        m_runs.push_back(std::move(run));
    }
    m_zoomed = false;
    setRecallK(several ? 1 : 0);
    updateAxes();
}

void MetricsChart::appendReport(const EvalReport &report, int run)
{
    Run &r = m_runs.at(size_t(run));
    r.reports.push_back(report);
    for (int m = 0; m < MetricCount; ++m)
        r.series[size_t(m)]->append(double(report.step), report.metrics.*kColumns[m].value);
    updateAxes();
}

void MetricsChart::setReports(const std::vector<EvalReport> &reports, int run)
{
    Run &r = m_runs.at(size_t(run));
    r.reports = reports;
    rebuild(r);
    updateAxes();
}

void MetricsChart::clear()
{
    for (Run &run : m_runs) {
        run.reports.clear();
        rebuild(run);
    }
    m_iterations = 0;
    m_zoomed = false;
    updateAxes();
}

void MetricsChart::setIterations(int64_t iterations)
{
    m_iterations = iterations;
    updateAxes();
}

void MetricsChart::setRecallK(int k)
{
    m_k = k;
    {
        const QSignalBlocker block(m_kBox);
        m_kBox->setCurrentIndex(std::max(0, m_kBox->findData(k)));
    }
    updateVisibility();
}

void MetricsChart::rebuild(Run &run)
{
    for (int m = 0; m < MetricCount; ++m) {
        QList<QPointF> points;
        for (const EvalReport &r : run.reports)
            points.append(QPointF(double(r.step), r.metrics.*kColumns[m].value));
        run.series[size_t(m)]->replace(points);
    }
}

void MetricsChart::updateVisibility()
{
    const Metric recall = m_k == 8 ? Recall8 : m_k == 4 ? Recall4 : m_k == 2 ? Recall2 : Recall1;
    const bool several = m_runs.size() > 1;
    for (const Run &run : m_runs)
        for (int m = 0; m < MetricCount; ++m) {
            QLineSeries *series = run.series[size_t(m)];
            series->setVisible(m_k == 0 || m == recall || m == MapAtR);
            // Several runs: one legend entry each, under its first curve; the
            // line styles are explained by the series' names in the tooltip.
            const bool inLegend = series->isVisible() && (!several || m == recall);
            for (QLegendMarker *marker : m_chart->legend()->markers(series)) {
                marker->setVisible(inLegend);
                if (several)
                    marker->setLabel(run.label);
            }
        }
}

void MetricsChart::updateAxes()
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

void MetricsChart::resetZoom()
{
    m_chart->zoomReset();
    m_zoomed = false;
    updateAxes();
}

void MetricsChart::showTooltip(const QPointF &value, const QPoint &globalPos)
{
    QStringList lines;
    for (const Run &run : m_runs) {
        if (run.reports.empty())
            continue;
        const EvalReport *nearest = &run.reports.front();
        for (const EvalReport &r : run.reports)
            if (std::abs(double(r.step) - value.x()) < std::abs(double(nearest->step) - value.x()))
                nearest = &r;
        QString text = run.label.isEmpty() ? tr("step %1").arg(nearest->step)
                                           : tr("%1, step %2").arg(run.label).arg(nearest->step);
        for (int m = 0; m < MetricCount; ++m)
            if (run.series[size_t(m)]->isVisible())
                text += QStringLiteral("\n%1 %2")
                            .arg(QString::fromLatin1(kColumns[m].name))
                            .arg(nearest->metrics.*kColumns[m].value, 0, 'f', 4);
        lines << text;
    }
    if (!lines.isEmpty())
        QToolTip::showText(globalPos, lines.join(QStringLiteral("\n\n")), m_view);
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
    const bool several = m_runs.size() > 1; // then each row names its run
    out << (several ? "run,step" : "step");
    for (const MetricColumn &c : kColumns)
        out << ',' << c.csvName;
    out << ",r_precision,f1,seconds\n";
    for (const Run &run : m_runs)
        for (const EvalReport &r : run.reports) {
            if (several)
                out << csvField(run.label) << ',';
            out << r.step;
            for (const MetricColumn &c : kColumns)
                out << ',' << QString::number(r.metrics.*c.value, 'g', 9);
            out << ',' << QString::number(r.metrics.rPrecision, 'g', 9) << ',' << QString::number(r.metrics.f1, 'g', 9)
                << ',' << QString::number(r.seconds, 'g', 6) << '\n';
        }
    return file.error() == QFile::NoError;
}

} // namespace liftlab
