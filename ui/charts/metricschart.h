#pragma once

#include "train/events.h"

#include <QStringList>
#include <QWidget>

#include <array>
#include <vector>

class QChart;
class QComboBox;
class QLineSeries;
class QValueAxis;

namespace liftlab {

class ChartView;

// Retrieval and clustering quality at each evaluation of one run or several
// overlaid: Recall@1, 2, 4, 8, MAP@R and NMI against the step, all on
// [0, 1], each evaluation a visible point. One run shows every metric in its
// own colour; several runs show Recall@K and MAP@R (dashed) in each run's
// colour, K picked above the chart.
class MetricsChart : public QWidget
{
    Q_OBJECT

public:
    enum Metric { Recall1, Recall2, Recall4, Recall8, MapAtR, Nmi, MetricCount };

    explicit MetricsChart(QWidget *parent = nullptr); // one run, unnamed

    // One set of curves per label; clears the data.
    void setRuns(const QStringList &labels);
    int runCount() const { return int(m_runs.size()); }

    void appendReport(const EvalReport &report, int run = 0);
    void setReports(const std::vector<EvalReport> &reports, int run = 0);
    void clear(); // every run's reports
    // The step axis should reach the end of the run even before it gets there.
    void setIterations(int64_t iterations);
    // 0: every metric; 1, 2, 4 or 8: Recall@K and MAP@R.
    void setRecallK(int k);

    int reportCount(int run = 0) const { return int(m_runs.at(size_t(run)).reports.size()); }
    const std::vector<EvalReport> &reports(int run = 0) const { return m_runs.at(size_t(run)).reports; }
    QLineSeries *series(Metric metric, int run = 0) const { return m_runs.at(size_t(run)).series[metric]; }

    bool exportPng(const QString &path);
    bool exportCsv(const QString &path) const;

public Q_SLOTS:
    void resetZoom();

private:
    struct Run
    {
        QString label;
        std::array<QLineSeries *, MetricCount> series{};
        std::vector<EvalReport> reports;
    };
    void rebuild(Run &run);
    void updateVisibility();
    void updateAxes();
    void showTooltip(const QPointF &value, const QPoint &globalPos);

    std::vector<Run> m_runs;
    int m_k = 0;
    int64_t m_iterations = 0;
    bool m_zoomed = false;
    QChart *m_chart = nullptr;
    ChartView *m_view = nullptr;
    QValueAxis *m_axisX = nullptr;
    QValueAxis *m_axisY = nullptr;
    QComboBox *m_kBox = nullptr;
};

} // namespace liftlab
