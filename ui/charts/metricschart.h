#pragma once

#include "train/events.h"

#include <QWidget>

#include <vector>

class QChart;
class QLineSeries;
class QValueAxis;

namespace liftlab {

class ChartView;

// Retrieval and clustering quality at each evaluation of a run: Recall@1, 2,
// 4, 8, MAP@R and NMI against the step, all on [0, 1].
class MetricsChart : public QWidget
{
    Q_OBJECT

public:
    explicit MetricsChart(QWidget *parent = nullptr);

    void appendReport(const EvalReport &report);
    void setReports(const std::vector<EvalReport> &reports);
    void clear();
    // The step axis should reach the end of the run even before it gets there.
    void setIterations(int64_t iterations);

    int reportCount() const { return int(m_reports.size()); }
    const std::vector<EvalReport> &reports() const { return m_reports; }
    QLineSeries *series(int metric) const { return m_series.at(size_t(metric)); }

    bool exportPng(const QString &path);
    bool exportCsv(const QString &path) const;

public Q_SLOTS:
    void resetZoom();

private:
    void rebuild();
    void updateAxes();
    void showTooltip(const QPointF &value, const QPoint &globalPos);

    std::vector<EvalReport> m_reports;
    int64_t m_iterations = 0;
    bool m_zoomed = false;
    QChart *m_chart = nullptr;
    ChartView *m_view = nullptr;
    std::vector<QLineSeries *> m_series;
    QValueAxis *m_axisX = nullptr;
    QValueAxis *m_axisY = nullptr;
};

} // namespace liftlab
