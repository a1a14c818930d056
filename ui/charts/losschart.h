#pragma once

#include "train/events.h"
#include "util/movingaverage.h"

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

// The training loss, live: the raw per-step loss and a debiased exponential
// moving average, by step or by training time, on a linear or log axis.
// Every step is kept; what is drawn is reduced to about two points per pixel
// column (min and max), rebuilt a few times a second with one replace(), so
// a 100,000-step run stays as smooth as a short one.
class LossChart : public QWidget
{
    Q_OBJECT

public:
    explicit LossChart(QWidget *parent = nullptr);

    void appendSteps(const QVector<TrainingStep> &steps);
    void setSteps(const std::vector<TrainingStep> &steps); // replaces everything
    void clear();

    int stepCount() const { return int(m_steps.size()); }
    double smoothing() const;
    void setSmoothing(double beta);      // 0 (raw) to 0.999
    void setLogScale(bool log);
    void setTimeAxis(bool byTime);       // x = training seconds instead of step
    // Draws now rather than at the next timer tick.
    void refresh();

    QLineSeries *rawSeries() const { return m_raw; }
    QLineSeries *smoothedSeries() const { return m_smoothed; }

    bool exportPng(const QString &path);
    bool exportCsv(const QString &path) const;

public Q_SLOTS:
    void resetZoom();

private:
    void appendOne(const TrainingStep &step);
    void recomputeSmoothed();
    void scheduleRefresh();
    void updateAxes();
    void onUserZoom();
    void showTooltip(const QPointF &value, const QPoint &globalPos);
    const std::vector<double> &xValues() const { return m_byTime ? m_seconds : m_stepX; }

    // All data, one entry per step.
    std::vector<int64_t> m_steps;
    std::vector<double> m_stepX;   // the step as a double (the x axis by step)
    std::vector<double> m_seconds; // training seconds, kept increasing across resumes
    std::vector<double> m_loss;
    std::vector<double> m_ema;     // debiased moving average
    MovingAverage m_average;       // of the steps so far
    double m_secondsOffset = 0;

    double m_beta = 0.9;
    bool m_log = false;
    bool m_byTime = false;
    bool m_zoomed = false;
    QRectF m_autoRange; // the x/y ranges last set by us, to tell a user zoom apart

    QChart *m_chart = nullptr;
    ChartView *m_view = nullptr;
    QLineSeries *m_raw = nullptr;
    QLineSeries *m_smoothed = nullptr;
    QValueAxis *m_axisX = nullptr;
    QValueAxis *m_axisY = nullptr;
    QLogValueAxis *m_axisLogY = nullptr;
    QSlider *m_smoothingSlider = nullptr;
    QDoubleSpinBox *m_smoothingBox = nullptr;
    QCheckBox *m_logBox = nullptr;
    QComboBox *m_xAxisBox = nullptr;
    QTimer m_refreshTimer;
};

} // namespace liftlab
