#pragma once

#include <QString>
#include <QStringList>
#include <QWidget>

#include <vector>

class QChart;

namespace liftlab {

class ChartView;

// Means with their 95% confidence band (Student's t over the samples at each
// x, train/comparison.h: confidenceInterval), one curve per label in the
// run colours: a comparison's curves over its seeds, or a metric against the
// value a sweep varies. Where an x has a single sample there is no band.
class BandChart : public QWidget
{
    Q_OBJECT

public:
    struct Point
    {
        double x = 0;
        std::vector<double> samples;
    };

    explicit BandChart(QWidget *parent = nullptr);

    void setTitle(const QString &title);
    void setAxisTitles(const QString &x, const QString &y);
    // A base-2 logarithmic x axis (embedding sizes, batch sizes).
    void setLogX(bool log);
    // y from 0 to 1 (metrics) rather than fitted to the data.
    void setUnitY(bool unit);
    void setPlaceholderText(const QString &text);
    // Replaces every curve: points[i] are labels[i]'s, in any order.
    void setCurves(const QStringList &labels, const std::vector<std::vector<Point>> &points);

    QChart *chart() const { return m_chart; }
    int curveCount() const { return m_curves; }

private:
    QChart *m_chart = nullptr;
    ChartView *m_view = nullptr;
    QString m_xTitle, m_yTitle;
    bool m_logX = false, m_unitY = false;
    int m_curves = 0;
};

} // namespace liftlab
