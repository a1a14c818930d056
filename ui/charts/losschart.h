#pragma once

#include "train/events.h"
#include "util/movingaverage.h"

#include <QStringList>
#include <QTimer>
#include <QVector>
#include <QWidget>

#include <vector>

class QCheckBox;
class QChart;
class QComboBox;
class QDoubleSpinBox;
class QLineSeries;
class QLogValueAxis;
class QSlider;
class QValueAxis;

namespace liftlab {

class ChartView;

// Training losses, live, of one run or several overlaid: each run's raw
// per-step loss (faint) and its debiased exponential moving average, by step
// or by training time, on a linear or log axis. Losses of different scales
// can be divided by their value at the first step, so each curve starts at 1
// and shows how fast it falls. Every step is kept; what is drawn is reduced
// to about two points per pixel column (min and max), rebuilt a few times a
// second with one replace(), so a 100,000-step run stays as smooth as a
// short one.
class LossChart : public QWidget
{
    Q_OBJECT

public:
    explicit LossChart(QWidget *parent = nullptr); // one run, unnamed

    // One curve per label; clears the data. One run draws its raw loss and
    // undivided values by default, several runs their smoothed curves divided
    // by their first values.
    void setRuns(const QStringList &labels);
    int runCount() const { return int(m_runs.size()); }

    void appendSteps(const QVector<TrainingStep> &steps, int run = 0);
    void setSteps(const std::vector<TrainingStep> &steps, int run = 0); // replaces that run's data
    void clear();                                                       // every run's data

    int stepCount(int run = 0) const { return int(m_runs.at(size_t(run)).loss.size()); }
    double smoothing() const { return m_beta; }
    void setSmoothing(double beta); // 0 (raw) to 0.999
    void setLogScale(bool log);
    void setTimeAxis(bool byTime); // x = training seconds instead of step
    void setNormalized(bool normalized);
    void setRawVisible(bool visible);
    // Draws now rather than at the next timer tick.
    void refresh();
    // Said while no curve has a point: what will appear and how to get it.
    void setPlaceholderText(const QString &text);

    QLineSeries *rawSeries(int run = 0) const { return m_runs.at(size_t(run)).raw; }
    QLineSeries *smoothedSeries(int run = 0) const { return m_runs.at(size_t(run)).smoothed; }

    bool exportPng(const QString &path);
    bool exportCsv(const QString &path) const;

public Q_SLOTS:
    void resetZoom();

private:
    struct Run
    {
        QString label;
        QLineSeries *raw = nullptr;
        QLineSeries *smoothed = nullptr;
        std::vector<int64_t> steps;
        std::vector<double> stepX;   // the step as a double (the x axis by step)
        std::vector<double> seconds; // training seconds, kept increasing across resumes
        std::vector<double> loss;
        std::vector<double> ema; // debiased moving average
        MovingAverage average;   // of the steps so far
        double secondsOffset = 0;
    };
    void appendOne(Run &run, const TrainingStep &step);
    void recomputeSmoothed(Run &run);
    double scale(const Run &run) const; // 1, or 1 / the first loss when normalised
    const std::vector<double> &xValues(const Run &run) const { return m_byTime ? run.seconds : run.stepX; }
    void scheduleRefresh();
    void updateAxes();
    void onUserZoom();
    void showTooltip(const QPointF &value, const QPoint &globalPos);

    std::vector<Run> m_runs;
    double m_beta = 0.9;
    bool m_log = false;
    bool m_byTime = false;
    bool m_normalized = false;
    bool m_rawVisible = true;
    bool m_zoomed = false;
    QRectF m_autoRange; // the x/y ranges last set by us, to tell a user zoom apart

    QChart *m_chart = nullptr;
    ChartView *m_view = nullptr;
    QValueAxis *m_axisX = nullptr;
    QValueAxis *m_axisY = nullptr;
    QLogValueAxis *m_axisLogY = nullptr;
    QSlider *m_smoothingSlider = nullptr;
    QDoubleSpinBox *m_smoothingBox = nullptr;
    QCheckBox *m_rawBox = nullptr;
    QCheckBox *m_logBox = nullptr;
    QCheckBox *m_normalizeBox = nullptr;
    QComboBox *m_xAxisBox = nullptr;
    QTimer m_refreshTimer;
};

} // namespace liftlab
