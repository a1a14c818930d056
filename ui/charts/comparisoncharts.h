#pragma once

#include "train/events.h"

#include <QStringList>
#include <QTimer>
#include <QVector>
#include <QWidget>

#include <vector>

class QChart;
class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLineSeries;
class QValueAxis;

namespace liftlab {

class ChartView;

// The colour of run i of a comparison, the same in every view.
QColor comparisonColour(int run);
// How many panels a row holds when `runs` views stand side by side: as
// square as the window allows (2 x 2 for four, rows of three for five or six).
int comparisonColumns(int runs);

// The training losses of a comparison overlaid, one colour per loss: each
// a debiased moving average, optionally divided by its value at the first
// step so that losses of different scales share one axis. Long curves are
// reduced to two points per pixel column, as in LossChart.
class ComparisonLossChart : public QWidget
{
    Q_OBJECT

public:
    explicit ComparisonLossChart(QWidget *parent = nullptr);

    // One curve per label; clears the data.
    void setRuns(const QStringList &labels);
    void appendSteps(int run, const QVector<TrainingStep> &steps);
    void setSteps(int run, const std::vector<TrainingStep> &steps);

    int runCount() const { return int(m_runs.size()); }
    int stepCount(int run) const { return int(m_runs.at(size_t(run)).loss.size()); }
    QLineSeries *series(int run) const { return m_runs.at(size_t(run)).series; }
    void setNormalized(bool normalized);
    void setSmoothing(double beta); // 0 (raw) to 0.99
    // Draws now rather than at the next timer tick.
    void refresh();
    bool exportPng(const QString &path);

public Q_SLOTS:
    void resetZoom();

private:
    struct Run
    {
        QLineSeries *series = nullptr;
        std::vector<double> step, loss;
    };
    std::vector<double> curve(const Run &run) const; // smoothed, normalised if asked
    void scheduleRefresh();

    std::vector<Run> m_runs;
    bool m_normalized = true; // losses differ in scale by orders of magnitude
    double m_beta = 0.9;
    bool m_zoomed = false;
    QChart *m_chart = nullptr;
    ChartView *m_view = nullptr;
    QValueAxis *m_axisX = nullptr;
    QValueAxis *m_axisY = nullptr;
    QCheckBox *m_normalizeBox = nullptr;
    QDoubleSpinBox *m_smoothingBox = nullptr;
    QTimer m_refreshTimer;
};

// Recall@K (solid) and MAP@R (dashed) at each evaluation of every run of a
// comparison, one colour per loss, on [0, 1]; K is picked above the chart.
class ComparisonMetricsChart : public QWidget
{
    Q_OBJECT

public:
    explicit ComparisonMetricsChart(QWidget *parent = nullptr);

    void setRuns(const QStringList &labels);
    void appendReport(int run, const EvalReport &report);
    void setReports(int run, const std::vector<EvalReport> &reports);
    // The step axis reaches the end of the runs before they get there.
    void setIterations(int64_t iterations);
    void setRecallK(int k); // 1, 2, 4 or 8

    int reportCount(int run) const { return int(m_runs.at(size_t(run)).reports.size()); }
    QLineSeries *recallSeries(int run) const { return m_runs.at(size_t(run)).recall; }
    QLineSeries *mapSeries(int run) const { return m_runs.at(size_t(run)).map; }
    bool exportPng(const QString &path);

public Q_SLOTS:
    void resetZoom();

private:
    struct Run
    {
        QLineSeries *recall = nullptr;
        QLineSeries *map = nullptr;
        std::vector<EvalReport> reports;
    };
    void rebuild(Run &run);
    void updateAxes();

    std::vector<Run> m_runs;
    int m_k = 1;
    int64_t m_iterations = 0;
    bool m_zoomed = false;
    QChart *m_chart = nullptr;
    ChartView *m_view = nullptr;
    QValueAxis *m_axisX = nullptr;
    QValueAxis *m_axisY = nullptr;
    QComboBox *m_kBox = nullptr;
};

} // namespace liftlab
